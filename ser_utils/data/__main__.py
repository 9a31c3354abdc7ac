"""`python -m ser_utils.data` (`ser-data`): where each corpus is; `verify`: the RAVDESS checksums.
The code is in `ser_utils.data.sources`."""

import sys

from ser_utils.data.sources import main

sys.exit(main())
