"""`python -m ser_utils.export` (`ser-export`): export a model folder to ONNX.
The code is in `ser_utils.ship.export`; this entry only keeps the command's name."""

import sys

if __name__ == "__main__":
    from ser_utils.ship.export import main

    sys.exit(main())
