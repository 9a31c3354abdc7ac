"""The package's shape: one subpackage a stage, each module importing only earlier modules, thin command entries,
small modules and functions, and ARCHITECTURE.md naming every module."""

import ast
import re
from pathlib import Path

import tomllib

from ser_utils.config import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "ser_utils"
FOUNDATION = ["errors", "bounds", "config", "options", "files", "machine"]
STAGES = {
    "data": ["audio", "ravdess", "corpora", "verify", "sources"],
    "prepare": ["clips", "preprocess", "audit", "tracks", "protocols"],
    "train": [
        "inputs",
        "whisper",
        "whisper_model",
        "model",
        "frozen",
        "metrics",
        "intervals",
        "groups",
        "calibration",
        "outcomes",
        "checkpoints",
        "run_folders",
        "seen",
        "card",
        "trainer",
        "run",
        "command",
    ],
    "ship": ["export", "recordings", "conv_features", "segments", "predict", "demo"],
    "evaluate": ["plots", "report", "baseline", "score", "compare"],
}
ORDER = FOUNDATION + [f"{stage}.{name}" for stage, names in STAGES.items() for name in names]
# Each command: the module whose main() it runs. Commands that are not a stage run from a thin top-level entry.
COMMANDS = {"data": "data.sources", "preprocess": "prepare.preprocess", "train": "train.command",
            "baseline": "evaluate.baseline", "report": "evaluate.report", "predict": "ship.predict",
            "evaluate": "evaluate.score", "export": "ship.export", "demo": "ship.demo",
            "compare": "evaluate.compare"}  # fmt: skip
# Split modules by meaning, not to meet a number: the caps are far enough out that the formatter's layout fits.
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def modules() -> dict[str, Path]:
    """Every module that holds code, by dotted name under ser_utils (entries and __init__ files left out)."""
    found = {path.stem: path for path in PACKAGE.glob("*.py") if path.stem in FOUNDATION}
    for stage in STAGES:
        found |= {
            f"{stage}.{path.stem}": path for path in (PACKAGE / stage).glob("*.py") if not path.stem.startswith("__")
        }
    return found


def entries() -> dict[str, Path]:
    """The command entries: a stage's __main__, or a top-level module named for the command."""
    return {cmd: PACKAGE / cmd / "__main__.py" if cmd in STAGES else PACKAGE / f"{cmd}.py" for cmd in COMMANDS}


def imported(path: Path) -> list[str]:
    return [node.module.removeprefix("ser_utils.") for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ser_utils.")]  # fmt: skip


def test_the_package_lists_its_stages():
    listed = {path.name.removesuffix(".py") for path in PACKAGE.iterdir() if not path.name.startswith(("__", "."))}
    assert listed == {*FOUNDATION, *STAGES, *COMMANDS}
    assert all((PACKAGE / stage).is_dir() for stage in STAGES)
    assert sorted(modules()) == sorted(ORDER)


def test_modules_import_only_earlier_modules():
    backwards = [f"{name} imports {module}" for name, path in modules().items() for module in imported(path)
                 if ORDER.index(module) >= ORDER.index(name)]  # fmt: skip
    assert not backwards


def test_every_command_has_a_thin_entry_and_a_script():
    for command, module in COMMANDS.items():
        path = entries()[command]
        assert imported(path) == [module], command
        assert len(path.read_text().splitlines()) <= 12, command
    scripts = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {f"ser-{command}": f"ser_utils.{module}:main" for command, module in COMMANDS.items()}


def test_the_public_api_names_only_what_exists_and_stays_put():
    """Every public name resolves, none is a subpackage's or command's name (importing those would replace it on
    the package), and each still resolves to the same object once every module has been imported."""
    import importlib

    import ser_utils

    assert not set(ser_utils.__all__) & {*STAGES, *COMMANDS, *FOUNDATION}
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
    assert {f"{cmd}.__main__" if cmd in STAGES else cmd for cmd in COMMANDS} <= set(drawn)
