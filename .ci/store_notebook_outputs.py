"""Maintainer step (`make notebook-outputs`): store a default run's outputs in the source notebooks.

nbval (`make test`) re-executes the notebooks and compares the cells marked NBVAL_CHECK_OUTPUT with
these stored outputs. The notebooks are executed as copies in a temporary folder, on the bundled
sample with default parameters, exactly as nbval will run them; only then are their outputs copied
into notebooks/*.ipynb, with papermill's bookkeeping removed. Names given (`01_eda 02_preprocessing`) limit it
to those notebooks.
"""

import os
import sys
import tempfile
from pathlib import Path

import nbformat
import papermill

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="ser-notebook-outputs-") as tmp:
        os.environ["SER_OUTPUT_DIR"] = tmp
        os.environ.pop("RAVDESS_DIR", None)
        for source in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
            if sys.argv[1:] and source.stem not in sys.argv[1:]:
                continue
            executed = Path(tmp) / source.name
            papermill.execute_notebook(source, executed, cwd=NOTEBOOKS, progress_bar=False)
            notebook = nbformat.read(executed, as_version=4)
            notebook.metadata.pop("papermill", None)
            for cell in notebook.cells:
                cell.metadata.pop("papermill", None)
                cell.metadata.pop("execution", None)
            nbformat.write(notebook, source)
            print("stored outputs in", source.relative_to(NOTEBOOKS.parent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
