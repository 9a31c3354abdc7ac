"""`python -m ser_utils.demo` (`ser-demo`): the demo page.
The code is in `ser_utils.ship.demo`; this entry only keeps the command's name."""

import sys

if __name__ == "__main__":
    from ser_utils.ship.demo import main

    sys.exit(main())
