"""The machine a run or a benchmark ran on: the CPU by its model and the instruction sets that decide its speed, and
whether it computes bf16 natively (AMX, or AVX-512-BF16); elsewhere bf16 on the CPU is emulated, and slower than
fp32. Read from /proc/cpuinfo (Linux); where there is none, the CPU is named by its architecture only. And how
glibc's malloc serves the large blocks of training and of the commands that run a model (keep_freed_memory)."""

from __future__ import annotations

import ctypes
import functools
import os
import platform
from pathlib import Path

# The instruction sets that decide CPU speed here: /proc/cpuinfo's flag, and the name rows give it.
CPU_FEATURES = {
    "avx2": "AVX2",
    "avx512f": "AVX-512",
    "avx512_bf16": "AVX-512-BF16",
    "avx512_vnni": "VNNI",
    "amx_bf16": "AMX-BF16",
    "amx_int8": "AMX-INT8",
}
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


def amx() -> bool:
    """Whether this CPU has AMX's bf16 tile instructions (Intel Xeon from Sapphire Rapids on)."""
    return "amx_bf16" in cpu_flags()


def cpu_precision(requested: str) -> tuple[str, str]:
    """The precision a CPU runs for `requested` ("fp32" or "bf16"), and a line saying why when it is not the one
    asked for: bf16 runs only where the CPU has it natively."""
    if requested != "bf16" or native_bf16():
        return requested, ""
    return "fp32", (
        f"bf16 was asked for, but this CPU ({cpu_name()}) has neither AMX nor AVX-512-BF16, so bf16 would be "
        "emulated and slower than fp32: running in fp32"
    )


# glibc's mallopt parameters (malloc.h) with the values keep_freed_memory sets, and their names as environment
# variables and as GLIBC_TUNABLES: a user's own setting of any of them wins.
KEPT_MALLOC = {-4: 0, -1: 1 << 30, -2: 64 << 20}  # M_MMAP_MAX, M_TRIM_THRESHOLD, M_TOP_PAD
MALLOC_SETTINGS = ("mmap_max", "mmap_threshold", "trim_threshold", "top_pad")
_kept = [False]  # whether keep_freed_memory took effect in this process


def _own_malloc() -> bool:
    """Whether the user chose their own malloc (LD_PRELOAD) or set the settings that keep_freed_memory makes."""
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    return (
        "malloc" in os.environ.get("LD_PRELOAD", "")
        or any(f"MALLOC_{name.upper()}_" in os.environ for name in MALLOC_SETTINGS)
        or any(f"glibc.malloc.{name}" in tunables for name in MALLOC_SETTINGS)
    )


def keep_freed_memory() -> bool:
    """Let glibc's malloc keep the memory a training step or a forward pass frees for the next one (True where it
    now does). Training (`train`), ser-predict, ser-evaluate and ser-demo call it; a Python user may too.

    By default glibc maps large blocks (tensors of more than 128 KB to 32 MB) on their own and unmaps them when they
    are freed, so each step touches fresh zeroed pages: millions of page faults, most of a CPU run's system time.
    Here no block is mapped on its own, and up to 1 GiB freed at the top of the heap is kept. Arithmetic is unchanged,
    and so are the numbers; the process keeps its peak memory until it exits. Nothing changes off glibc, or where
    the user chose their own malloc or these settings (LD_PRELOAD, MALLOC_*_ variables, GLIBC_TUNABLES)."""
    if platform.libc_ver()[0] != "glibc" or _own_malloc():
        return False
    libc = ctypes.CDLL(None)
    kept = all(libc.mallopt(parameter, value) == 1 for parameter, value in KEPT_MALLOC.items())
    _kept[0] = _kept[0] or kept
    return kept


def freed_memory_kept() -> bool:
    """Whether keep_freed_memory took effect in this process (run_info.json records it)."""
    return _kept[0]
