"""The benchmark tables: one CSV file per benchmark under benchmarks/results/, each run appending a row to its own;
BENCHMARKS.md is rendered from them (ser_utils.pages), each table under its title with a note above it."""

from __future__ import annotations

import csv
import datetime
import re
import sys
from pathlib import Path

from ser_utils.files import writing
from ser_utils.machine import cpu_name


def append_row(path: Path, section: str, header: str, row: str) -> None:
    """Append `row` (a Markdown table row) to the table titled `section` ("## title") in benchmarks/results/ beside
    `path` (BENCHMARKS.md), creating its CSV file with `header`'s columns and its entry in tables.csv (the note names
    the script that ran) where missing; then render `path` from every table there."""
    from ser_utils.pages import benchmarks_page, markdown_cells

    folder = path.parent / "benchmarks" / "results"
    folder.mkdir(parents=True, exist_ok=True)
    index = folder / "tables.csv"
    title = section.removeprefix("## ").strip()
    entries = list(csv.reader(index.open(newline=""))) if index.is_file() else [["file", "title", "note"]]
    known = {entry[1]: entry[0] for entry in entries[1:]}
    if title not in known:
        known[title] = f"{re.sub(r'[^a-z0-9]+', '-', title.lower()).strip('-')[:60]}.csv"
        entries.append(
            [known[title], title, f"`python benchmarks/{Path(sys.argv[0]).name}`; each row names its machine."]
        )
        _write_rows(index, entries)
    table = folder / known[title]
    rows = list(csv.reader(table.open(newline=""))) if table.is_file() else [markdown_cells(header.splitlines()[0])]
    _write_rows(table, [*rows, markdown_cells(row)])
    with writing(path) as tmp:
        tmp.write_text(benchmarks_page(path.parent))


def _write_rows(path: Path, rows: list[list[str]]) -> None:
    with writing(path) as tmp, open(tmp, "w", newline="") as file:
        csv.writer(file, lineterminator="\n").writerows(rows)


def machine_name() -> str:
    """This CPU by its model name, the instruction sets that decide its speed, and its core count."""
    return f"CPU {cpu_name()}"


def cpu_row(*cells) -> str:
    """A table row of today's date, this CPU machine and `cells`."""
    return "| " + " | ".join([str(datetime.date.today()), machine_name(), *map(str, cells)]) + " |\n"
