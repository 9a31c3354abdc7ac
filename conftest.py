"""Test-wide environment, set before any notebook kernel starts (kernels inherit it).

- Runs write under a temporary SER_OUTPUT_DIR, never into figures/ or outputs/ of the checkout.
- RAVDESS_DIR is unset, so notebooks validated by nbval run on the bundled sample their stored outputs came from.
- The Hugging Face Hub is offline: no test touches the network.
"""

import os
import tempfile

os.environ["SER_OUTPUT_DIR"] = tempfile.mkdtemp(prefix="ser-test-outputs-")
os.environ.pop("RAVDESS_DIR", None)
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["MPLBACKEND"] = "Agg"
