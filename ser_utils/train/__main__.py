"""`python -m ser_utils.train` (`ser-train`): one training run.
The code is in `ser_utils.train.command` (the command line) and `ser_utils.train.run`."""

import sys

from ser_utils.train.command import main

sys.exit(main())
