"""The package's shape: one subpackage a stage, each module importing only earlier modules, thin command entries,
small modules and functions, and ARCHITECTURE.md naming every module."""

import ast
import re
from pathlib import Path

import tomllib

from ser_utils.config import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "ser_utils"
FOUNDATION = ["errors", "bounds", "config", "options", "files", "machine"]
LAST = ["pipeline", "pages"]  # the notebooks and k-fold runs as subprocesses; the documents: after every stage
STAGES = {
    "scoring": ["metrics", "intervals", "groups", "calibration"],
    "data": ["audio", "labels", "ravdess", "corpora", "folders", "verify", "sources"],
    "prepare": ["clips", "preprocess", "audit", "tracks", "protocols"],
    "model": ["whisper", "whisper_model", "published", "build", "heads", "card", "folder", "seen", "start"],
    "runs": ["checkpoints", "folders"],
    "train": ["inputs", "frozen", "outcomes", "trainer", "run", "command"],
    "ship": ["export", "recordings", "conv_features", "backends", "segments", "predict", "demo"],
    "evaluate": ["plots", "report", "kfold", "baseline", "score", "compare"],
}
ORDER = FOUNDATION + [f"{stage}.{name}" for stage, names in STAGES.items() for name in names] + LAST
# Split modules by meaning, not to meet a number: the caps are far enough out that the formatter's layout fits.
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
# Where the formatter's layout is left alone: tables of data, laid out as a table reads. Nothing else.
DATA_TABLES = {"config.py": 1, "data/corpora.py": 1}


def modules() -> dict[str, Path]:
    """Every module that holds code, by dotted name under ser_utils (entries and __init__ files left out)."""
    found = {path.stem: path for path in PACKAGE.glob("*.py") if path.stem in FOUNDATION + LAST}
    for stage in STAGES:
        found |= {
            f"{stage}.{path.stem}": path for path in (PACKAGE / stage).glob("*.py") if not path.stem.startswith("__")
        }
    return found


def imported(path: Path) -> list[str]:
    return [
        node.module.removeprefix("ser_utils.")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ser_utils.")
    ]


def commands() -> dict[str, str]:
    """Each command of `python -m ser_utils <command>` and the module whose main() runs it."""
    from ser_utils.__main__ import COMMANDS

    return {command: target for command, (target, _) in COMMANDS.items()}


def test_the_package_lists_its_stages():
    listed = {path.name.removesuffix(".py") for path in PACKAGE.iterdir() if not path.name.startswith(("__", "."))}
    assert listed == {*FOUNDATION, *STAGES, *LAST}
    assert all((PACKAGE / stage).is_dir() for stage in STAGES)
    assert sorted(modules()) == sorted(ORDER)
    assert not list(PACKAGE.glob("*/__main__.py")), "one way in: python -m ser_utils <command>"


def test_shipping_and_evaluating_never_import_training():
    """ship/ and evaluate/ stand on model/, runs/ and scoring/: a trained model is used without the training code."""
    reaching = [
        f"{name} imports {module}"
        for name, path in modules().items()
        if name.startswith(("ship.", "evaluate."))
        for module in imported(path)
        if module.startswith("train.")
    ]
    assert not reaching


def test_scoring_imports_no_torch():
    """Scoring is numpy, scipy and scikit-learn: the baseline and ser-compare score without loading torch."""
    import subprocess
    import sys

    code = (
        "import sys, ser_utils.scoring.metrics, ser_utils.scoring.intervals, ser_utils.scoring.groups, "
        "ser_utils.scoring.calibration, ser_utils.model.folder; print('torch' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


def test_modules_import_only_earlier_modules():
    backwards = [
        f"{name} imports {module}"
        for name, path in modules().items()
        for module in imported(path)
        if ORDER.index(module) >= ORDER.index(name)
    ]
    assert not backwards


def test_every_command_runs_from_the_one_entry_and_its_script():
    scripts = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    wanted = {f"ser-{command}": f"ser_utils.{target}" for command, target in commands().items()}
    assert scripts == {name: target for name, target in wanted.items() if name != "ser-variables"}
    assert all(target.split(":")[0] in ORDER for target in commands().values())


def test_the_notebooks_import_only_the_public_api():
    """The notebooks import what `ser_utils/__init__.py` lists, from `ser_utils` itself, and nothing else of it."""
    import json

    import ser_utils

    for notebook in sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb")):
        code = "\n".join(
            "".join(cell["source"]) for cell in json.loads(notebook.read_text())["cells"] if cell["cell_type"] == "code"
        )
        nodes = [node for node in ast.walk(ast.parse(code)) if isinstance(node, ast.Import | ast.ImportFrom)]
        modules = [node.module for node in nodes if isinstance(node, ast.ImportFrom)]
        modules += [alias.name for node in nodes if isinstance(node, ast.Import) for alias in node.names]
        assert [name for name in modules if name.startswith("ser_utils.")] == [], notebook.name
        names = {
            alias.name
            for node in nodes
            if isinstance(node, ast.ImportFrom) and node.module == "ser_utils"
            for alias in node.names
        }
        assert names and names <= set(ser_utils.__all__), (notebook.name, names - set(ser_utils.__all__))


def test_the_public_api_names_only_what_exists_and_stays_put():
    """Every public name resolves, none is a subpackage's or command's name (importing those would replace it on
    the package), and each still resolves to the same object once every module has been imported."""
    import importlib

    import ser_utils

    assert not set(ser_utils.__all__) & {*STAGES, *FOUNDATION, *LAST}
    first = {name: getattr(ser_utils, name) for name in ser_utils.__all__}
    assert all(value is not None and not isinstance(value, type(ser_utils)) for value in first.values())
    for name in ORDER:
        importlib.import_module(f"ser_utils.{name}")
    assert {name: getattr(ser_utils, name) for name in ser_utils.__all__} == first


def test_modules_and_functions_are_small():
    paths = [*modules().values(), *(PROJECT_ROOT / "benchmarks").glob("*.py")]
    long_modules = [path.name for path in paths if len(path.read_text().splitlines()) > MAX_MODULE_LINES]
    long_functions = [
        f"{path.name}:{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path in paths
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef) and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long_modules and not long_functions, (long_modules, long_functions)


def test_code_is_laid_out_as_the_formatter_writes_it():
    """No `# fmt: skip` but on the data tables, and no packed assignment (`a, b = 1, 2`) saving a line."""
    skips = {str(path.relative_to(PACKAGE)): path.read_text().count("# fmt: skip") for path in PACKAGE.rglob("*.py")}
    assert {name: count for name, count in skips.items() if count} == DATA_TABLES
    packed = [
        f"{path.relative_to(PACKAGE)}:{node.lineno}"
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Assign) and _splits(node)
    ]
    assert not packed


def _splits(node: ast.Assign) -> bool:
    """Whether `a, b = x, y` means the same as `a = x` then `b = y`: no value reads a target assigned before it."""
    targets, values = node.targets[0], node.value
    if not (isinstance(targets, ast.Tuple) and isinstance(values, ast.Tuple)) or len(targets.elts) != len(values.elts):
        return False

    def names(tree) -> set[str]:
        return {name.id for name in ast.walk(tree) if isinstance(name, ast.Name)}

    return not any(names(value) & names(targets.elts[i]) for j, value in enumerate(values.elts) for i in range(j))


def drawn_tree() -> list[str]:
    """The dotted names of the files ARCHITECTURE.md draws under ser_utils/, in the order drawn."""
    text = (PROJECT_ROOT / "ARCHITECTURE.md").read_text()
    drawn, folder = [], ""
    for line in re.search(r"```text\nser_utils/\n(.*?)```", text, re.S)[1].splitlines():
        found = re.match(r"([│ ]*)[├└]── ([\w.]+?)(\.py|/)", line)
        if found and found[3] == "/":
            folder = found[2]
        elif found:
            drawn.append(f"{folder}.{found[2]}" if found[1] else found[2])
            folder = folder if found[1] else ""
    return drawn


def test_architecture_md_draws_every_module_in_order():
    drawn = drawn_tree()
    assert [name for name in drawn if name in ORDER] == ORDER
    assert "__main__" in drawn


def test_the_commit_hook_takes_a_scoped_imperative_subject_and_refuses_others(tmp_path):
    import subprocess

    hook = PROJECT_ROOT / ".githooks" / "commit-msg"
    for message, ok in (
        ("scoring: move the metrics out of train\n\nwhy, measured\n", True),
        ("scoring: moved the metrics\n", False),
        ("move the metrics out of train\n", False),
        ("scoring: " + "x" * 70 + "\n", False),
        ("make: say it\nno blank line\n", False),
    ):
        (tmp_path / "message").write_text(message)
        done = subprocess.run([str(hook), str(tmp_path / "message")], capture_output=True, text=True)
        assert (done.returncode == 0) == ok, (message, done.stderr)


def test_tests_share_helpers_and_never_import_each_other_or_edit_the_path():
    """What tests share is in tests/helpers (and fixtures in conftest.py); sys.path comes from pyproject.toml."""
    found = []
    for path in sorted((PROJECT_ROOT / "tests").rglob("*.py")):
        text = path.read_text()
        nodes = [node for node in ast.walk(ast.parse(text)) if isinstance(node, ast.Import | ast.ImportFrom)]
        names = [node.module or "" for node in nodes if isinstance(node, ast.ImportFrom)]
        names += [alias.name for node in nodes if isinstance(node, ast.Import) for alias in node.names]
        found += [
            f"{path.name} imports {name}" for name in names if name.split(".")[0].startswith(("test_", "conftest"))
        ]
        edits = [
            node
            for node in ast.walk(ast.parse(text))
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and ast.unparse(node.func.value) == "sys.path"
        ]
        found += [f"{path.name} edits sys.path"] * bool(edits)
    assert not found


def test_the_tests_mirror_the_package():
    """tests/<stage>/ for each subpackage, the foundation's and the cross-cutting tests (faults, edges, the wheel,
    the benchmarks, the pipeline) in tests/ itself; tests/helpers holds what they share."""
    folders = {path.name for path in (PROJECT_ROOT / "tests").iterdir() if path.is_dir() and path.name[0] not in "._"}
    assert folders == {*STAGES, "helpers"}
    assert all(list((PROJECT_ROOT / "tests" / stage).glob("test_*.py")) for stage in STAGES)
