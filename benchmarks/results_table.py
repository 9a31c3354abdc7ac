"""BENCHMARKS.md: one Markdown table per benchmark, each run appending a row to its table."""

from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path

from ser_utils.files import writing

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


# The instruction sets that decide CPU speed here, as /proc/cpuinfo names them.
CPU_FEATURES = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8")


def machine_name() -> str:
    """This CPU by its model name and the CPU_FEATURES it has, and its core count."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    model = fields.get("model name", platform.processor() or platform.machine())
    flags = [flag for flag in CPU_FEATURES if flag in fields.get("flags", "").split()]
    return f"CPU {model} ({', '.join(flags) or 'none of ' + ', '.join(CPU_FEATURES)}), {os.cpu_count()} cores"


def cpu_row(*cells) -> str:
    """A table row of today's date, this CPU machine and `cells`."""
    machine = f"CPU {platform.machine()}, {os.cpu_count()} cores"
    return "| " + " | ".join([str(datetime.date.today()), machine, *map(str, cells)]) + " |\n"
