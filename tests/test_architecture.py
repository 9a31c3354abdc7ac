"""The package's shape: stages import only earlier stages, modules and functions stay small, and ARCHITECTURE.md
names every module."""

import ast
from pathlib import Path

from ser_utils.config import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "ser_utils"
STAGES = ["errors", "config", "files", "audio", "ravdess", "corpora", "verify", "data", "preprocess", "splits",
          "dataset", "model", "features", "metrics", "runs", "plots", "card", "trainer", "train", "report", "baseline",
          "export", "predict", "evaluate", "demo"]  # fmt: skip
MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 50


def modules() -> dict[str, Path]:
    return {path.stem: path for path in PACKAGE.glob("*.py") if path.stem != "__init__"}


def test_every_module_has_a_stage():
    assert sorted(modules()) == sorted(STAGES)


def test_modules_import_only_earlier_stages():
    backwards = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ser_utils."):
                imported = node.module.split(".")[1]
                if STAGES.index(imported) >= STAGES.index(name):
                    backwards.append(f"{name} imports {imported}")
    assert not backwards


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


def test_architecture_md_names_every_module():
    text = (PROJECT_ROOT / "ARCHITECTURE.md").read_text()
    assert all(f"| `{name}` |" in text for name in STAGES)
