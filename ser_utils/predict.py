"""`python -m ser_utils.predict` (`ser-predict`): classify recordings with a trained model.
The code is in `ser_utils.ship.predict`; this entry only keeps the command's name."""

import sys

if __name__ == "__main__":
    from ser_utils.ship.predict import main

    sys.exit(main())
