"""`python -m ser_utils.preprocess` (`ser-preprocess`): cut each corpus's clips to its window, with the manifest.
The code is in `ser_utils.prepare.preprocess`; this entry only keeps the command's name."""

import sys

if __name__ == "__main__":
    from ser_utils.prepare.preprocess import main

    sys.exit(main())
