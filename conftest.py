"""Test-wide environment, set before any notebook kernel starts (kernels inherit it).

- Runs write under a temporary SER_OUTPUT_DIR, never into figures/ or outputs/ of the checkout.
- RAVDESS_DIR is unset, so notebooks validated by nbval run on the bundled sample their stored outputs came from.
- The Hugging Face Hub is offline: no test touches the network.
"""

import os
import tempfile

import pytest

os.environ["SER_OUTPUT_DIR"] = tempfile.mkdtemp(prefix="ser-test-outputs-")
os.environ.pop("RAVDESS_DIR", None)
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["MPLBACKEND"] = "Agg"
# A pytest-xdist worker (make test) gets its share of the cores for torch and numpy, in its own process, the commands
# it runs and its notebook kernels, rather than each taking them all.
workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if workers > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: without it installed, pytest runs the tests in order
def pytest_xdist_make_scheduler(config, log):
    """make test's workers (pytest -n): each test file runs whole in one worker, so that its module and session
    fixtures are made once; the notebooks all run in one, in order, since 04 and 05 read the run that 03 trains."""
    from xdist.scheduler import LoadScopeScheduling

    class ByFile(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "notebooks" if path.endswith(".ipynb") else path

    return ByFile(config, log)
