"""The machine a run or a benchmark ran on: the CPU by its model and the instruction sets that decide its speed, and
whether it computes bf16 natively (AMX, or AVX-512-BF16); elsewhere bf16 on the CPU is emulated, and slower than
fp32. Read from /proc/cpuinfo (Linux); where there is none, the CPU is named by its architecture only."""

from __future__ import annotations

import functools
import os
import platform
from pathlib import Path

# The instruction sets that decide CPU speed here: /proc/cpuinfo's flag, and the name rows give it.
CPU_FEATURES = {"avx2": "AVX2", "avx512f": "AVX-512", "avx512_bf16": "AVX-512-BF16", "avx512_vnni": "VNNI",
                "amx_bf16": "AMX-BF16", "amx_int8": "AMX-INT8"}  # fmt: skip
NATIVE_BF16 = ("amx_bf16", "avx512_bf16")
INFERENCE_PRECISIONS = ("fp32", "bf16")  # what inference offers (--precision)


@functools.cache
def _cpuinfo() -> dict[str, str]:
    path = Path("/proc/cpuinfo")
    text = path.read_text() if path.is_file() else ""
    fields = (line.split(":", 1) for line in text.split("\n\n")[0].splitlines() if ":" in line)
    return {key.strip(): value.strip() for key, value in fields}


def cpu_flags() -> set[str]:
    """The CPU's instruction-set flags, as /proc/cpuinfo names them (empty where it cannot be read)."""
    return set(_cpuinfo().get("flags", "").split())


def cpu_name() -> str:
    """This CPU by model, the CPU_FEATURES it has, and its core count: e.g. "AMD EPYC 7B13 (AVX2, AVX-512,
    AVX-512-BF16, VNNI), 2 cores"."""
    model = _cpuinfo().get("model name") or platform.processor() or platform.machine()
    features = [name for flag, name in CPU_FEATURES.items() if flag in cpu_flags()]
    listed = ", ".join(features) or "none of " + ", ".join(CPU_FEATURES.values())
    return f"{model} ({listed}), {os.cpu_count()} cores"


def native_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (AMX or AVX-512-BF16)."""
    return any(flag in cpu_flags() for flag in NATIVE_BF16)


def cpu_precision(requested: str) -> tuple[str, str]:
    """The precision a CPU runs for `requested` ("fp32" or "bf16"), and a line saying why when it is not the one
    asked for: bf16 runs only where the CPU has it natively."""
    if requested != "bf16" or native_bf16():
        return requested, ""
    return "fp32", (
        f"bf16 was asked for, but this CPU ({cpu_name()}) has neither AMX nor AVX-512-BF16, so bf16 would be "
        "emulated and slower than fp32: running in fp32"
    )
