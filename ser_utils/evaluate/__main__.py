"""`python -m ser_utils.evaluate` (`ser-evaluate`): score a trained model on a labelled folder.
The code is in `ser_utils.evaluate.score`."""

import sys

from ser_utils.evaluate.score import main

sys.exit(main())
