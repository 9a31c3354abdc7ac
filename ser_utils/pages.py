"""The numbers and references the documents show, generated: tables from the CSV files that hold every reported
run, baseline, published figure and benchmark, and the command and API reference from the code itself.

    python -m ser_utils pages            # write every generated part of the documents
    python -m ser_utils pages --check    # exit 1, naming each file, where a document differs from what it renders

A document marks a generated part with a pair of comments, and everything between them is replaced:

    <!-- table: results/runs.csv | columns: protocol; encoder; UA -->  ...  <!-- /generated -->
    <!-- generated: commands -->  ...  <!-- /generated -->

BENCHMARKS.md is generated whole from benchmarks/results/ (tables.csv lists each table's file, title and note).
"""

from __future__ import annotations

import argparse
import csv
import importlib
import inspect
import json
import re
import sys
from pathlib import Path

from ser_utils.config import PROJECT_ROOT
from ser_utils.errors import SettingError, command_line
from ser_utils.files import writing

DOCUMENTS = ("README.md", "docs", "notebooks/05_protocols.ipynb")
BENCHMARK_TABLES = Path("benchmarks/results")
# The repository's files that the docs site holds a rendered copy of, by their pages (docs/ at the top).
DOCS_PAGES = {
    "ARCHITECTURE.md": "architecture.md",
    "BENCHMARKS.md": "benchmarks.md",
    "CHANGELOG.md": "changelog.md",
    "CONTRIBUTING.md": "development.md",
}
MARKED = re.compile(r"(<!-- (table|generated): (.+?) -->\n)(.*?)(<!-- /generated -->)", re.S)
BENCHMARKS_INTRO = (
    "# Benchmarks\n\nEvery row is one run of a script in benchmarks/ on the machine it names, appended by the script "
    "to the CSV file under benchmarks/results/; this page is rendered from those files (`python -m ser_utils "
    "pages`). What each measurement means, and which is fast where: docs/performance.md.\n"
)


def markdown_cells(line: str) -> list[str]:
    """A Markdown table row's cells (an escaped bar stays in its cell)."""
    inner = line.strip().removeprefix("|").removesuffix("|")
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """A CSV file's header and rows."""
    with open(path, newline="") as file:
        rows = list(csv.reader(file))
    return rows[0], rows[1:]


def markdown_table(path: Path, columns: list[str] | None = None) -> str:
    """The CSV file at `path` as a Markdown table, of `columns` only where given (SettingError for one it lacks)."""
    header, rows = read_rows(path)
    chosen = columns or header
    missing = [column for column in chosen if column not in header]
    if missing:
        raise SettingError(f"{path}: no column {', '.join(missing)}; it has {', '.join(header)}")
    picks = [header.index(column) for column in columns] if columns else range(len(header))  # names may repeat
    lines = ["| " + " | ".join(chosen) + " |", "|" + "---|" * len(chosen)]
    lines += ["| " + " | ".join(row[i].replace("|", "\\|") for i in picks) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def command_reference() -> str:
    """Every command's --help, in the order `python -m ser_utils` lists them."""
    commands = importlib.import_module("ser_utils.__main__").COMMANDS  # the entry point: imports every stage

    parts = []
    for name, (target, what) in commands.items():
        module, function = target.split(":")
        parts.append(f"## {name}\n\n{what}.\n\n```text\n{_help(f'ser_utils.{module}', function, name)}```\n")
    return "\n".join(parts)


def _help(module: str, function: str, name: str) -> str:
    import contextlib
    import io
    import os

    out = io.StringIO()
    saved = sys.argv
    columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal: the same width everywhere
    try:
        sys.argv = [f"ser-{name}", "--help"]
        with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
            getattr(importlib.import_module(module), function)(["--help"])
    finally:
        sys.argv = saved
        os.environ.pop("COLUMNS") if columns is None else os.environ.__setitem__("COLUMNS", columns)
    return out.getvalue()


def api_reference() -> str:
    """Each public name (ser_utils.__all__, by module): its signature and the first paragraph of its docstring."""
    import ser_utils

    parts = []
    for module, names in ser_utils._MODULES.items():
        entries = []
        for name in names.split():
            value = getattr(ser_utils, name)
            if not (inspect.isfunction(value) or inspect.isclass(value)):
                continue
            doc = (inspect.getdoc(value) or "").split("\n\n")[0].replace("\n", " ")
            signature = _signature(value)
            entries.append(f"### `{name}{signature}`\n\n{doc}\n")
        if entries:
            parts.append(f"## ser_utils.{module}\n\n" + "\n".join(entries))
    return "\n".join(parts)


def _signature(value) -> str:
    try:
        text = str(inspect.signature(value))
    except (TypeError, ValueError):
        return ""
    text = re.sub(r" at 0x[0-9a-f]+", "", text)
    return text if len(text) <= 160 else "(...)"  # a dataclass of many fields: its fields are documented on it


def generated(spec: str) -> str:
    """The text a `generated:` mark names: the commands' or the API's reference, or a file's contents."""
    if spec == "commands":
        return command_reference()
    if spec == "api":
        return api_reference()
    if spec.startswith("file "):
        name, _, option = spec.removeprefix("file ").partition(" | ")
        text = (PROJECT_ROOT / name.strip()).read_text()
        if option == "without title":  # the including page has its own
            text = text.split("\n", 1)[1].lstrip("\n")
        for target, page in DOCS_PAGES.items():  # a link of the repository's, as the docs site has it
            text = text.replace(f"]({target})", f"]({page})")
        return text.replace("](docs/", "](")
    raise SettingError(f"<!-- generated: {spec} -->: not commands, api or file <path>")


def table(spec: str) -> str:
    """The table a `table:` mark names: `path` or `path | columns: a; b`."""
    path, _, options = spec.partition("|")
    columns = [c.strip() for c in options.partition(":")[2].split(";")] if "columns" in options else None
    return markdown_table(PROJECT_ROOT / path.strip(), columns)


def rendered(text: str) -> str:
    """`text` with each marked part replaced by what it names."""

    def replace(found: re.Match) -> str:
        body = table(found[3]) if found[2] == "table" else generated(found[3])
        return f"{found[1]}{body.rstrip()}\n{found[5]}"

    return MARKED.sub(replace, text)


def benchmarks_page(root: Path = PROJECT_ROOT) -> str:
    """BENCHMARKS.md: each table of `root`/benchmarks/results/tables.csv under its title, its note above it."""
    _, entries = read_rows(root / BENCHMARK_TABLES / "tables.csv")
    parts = [BENCHMARKS_INTRO]
    for file, title, note in entries:
        path = root / BENCHMARK_TABLES / file
        parts.append(f"## {title}\n\n{note + chr(10) + chr(10) if note else ''}{markdown_table(path)}")
    return "\n".join(parts)


def documents() -> list[Path]:
    found = []
    for name in DOCUMENTS:
        path = PROJECT_ROOT / name
        found += sorted(path.rglob("*.md")) if path.is_dir() else [path] if path.exists() else []
    return found


def rendered_notebook(text: str) -> str:
    """A notebook's JSON with the marked parts of its markdown cells rendered (its layout kept: 1-space indent)."""
    notebook = json.loads(text)
    for cell in notebook["cells"]:
        if cell["cell_type"] == "markdown":
            source = rendered("".join(cell["source"]))
            cell["source"] = source.splitlines(keepends=True)
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def pages() -> dict[Path, str]:
    """Every generated document's path and the text it should hold."""
    texts = {PROJECT_ROOT / "BENCHMARKS.md": benchmarks_page()}
    for path in documents():
        text = path.read_text()
        texts[path] = rendered_notebook(text) if path.suffix == ".ipynb" else rendered(text)
    return texts


@command_line("ser-pages")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ser-pages", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 where a document drifted")
    args = parser.parse_args(argv)
    texts = pages()
    drifted = [path for path, text in texts.items() if not path.is_file() or path.read_text() != text]
    if args.check:
        for path in drifted:
            print(f"{path.relative_to(PROJECT_ROOT)}: differs from its data; run python -m ser_utils pages")
        return 1 if drifted else 0
    for path in drifted:
        with writing(path) as tmp:
            tmp.write_text(texts[path])
        print(f"written: {path.relative_to(PROJECT_ROOT)}")
    return 0
