"""BENCHMARKS.md: one Markdown table per benchmark, each run appending a row to its table."""

from __future__ import annotations

import datetime
from pathlib import Path

from ser_utils.files import writing
from ser_utils.machine import cpu_name

PREAMBLE = "# Benchmarks\n\nRows are appended by the scripts in benchmarks/; each row is one run on one machine.\n"


def append_row(path: Path, section: str, header: str, row: str) -> None:
    """Append `row` to the table under the `section` heading of `path`, creating the file, the heading and
    the table `header` (column names and separator line) when missing."""
    text = path.read_text() if path.exists() else PREAMBLE
    if section not in text:
        text = text.rstrip("\n") + f"\n\n{section}\n\n{header.rstrip()}\n"
    start = text.index(section)
    following = text.find("\n## ", start + 1)
    end = len(text) if following == -1 else following
    with writing(path) as tmp:
        tmp.write_text(text[:end].rstrip("\n") + "\n" + row.rstrip("\n") + "\n" + text[end:])


def machine_name() -> str:
    """This CPU by its model name, the instruction sets that decide its speed, and its core count."""
    return f"CPU {cpu_name()}"


def cpu_row(*cells) -> str:
    """A table row of today's date, this CPU machine and `cells`."""
    return "| " + " | ".join([str(datetime.date.today()), machine_name(), *map(str, cells)]) + " |\n"
