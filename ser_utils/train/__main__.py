"""`python -m ser_utils.train` (`ser-train`): one training run.
The code is in `ser_utils.train.run`."""

import sys

from ser_utils.train.run import main

sys.exit(main())
