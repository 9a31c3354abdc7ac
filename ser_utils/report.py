"""`python -m ser_utils.report` (`ser-report`): results across runs, and the k-fold report.
The code is in `ser_utils.evaluate.report`; this entry only keeps the command's name."""

import sys

if __name__ == "__main__":
    from ser_utils.evaluate.report import main

    sys.exit(main())
