"""`python -m ser_utils.baseline` (`ser-baseline`): the MFCC + SVM baseline under every protocol.
The code is in `ser_utils.evaluate.baseline`; this entry only keeps the command's name."""

import sys

if __name__ == "__main__":
    from ser_utils.evaluate.baseline import main

    sys.exit(main())
