"""`python -m ser_utils.compare` (`ser-compare`): two systems on the same test clips, with a paired test.
The code is in `ser_utils.evaluate.compare`; this entry only keeps the command's name."""

import sys

if __name__ == "__main__":
    from ser_utils.evaluate.compare import main

    sys.exit(main())
