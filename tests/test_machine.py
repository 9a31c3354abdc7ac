"""keep_freed_memory: glibc keeps the memory a training step frees, so that the next step's large blocks stop faulting
in fresh pages; a user's own malloc, or their own settings of it, are left alone."""

import os
import platform
import subprocess
import sys

import pytest

from ser_utils import machine

# A child process that frees and takes back a 64 MB block 20 times (more than glibc ever serves from its heap by
# default, so by default every one is mapped anew) and prints the page faults that took.
REUSE = """
import ctypes, resource, sys
from ser_utils.machine import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else False
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_void_p]
def block():
    address = libc.malloc(64 << 20)
    ctypes.memset(address, 1, 64 << 20)
    libc.free(address)
block()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    block()
print(kept, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""
OWN_SETTINGS = [("LD_PRELOAD", "/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4"), ("MALLOC_TRIM_THRESHOLD_", "131072"),
                ("MALLOC_MMAP_MAX_", "65536"), ("GLIBC_TUNABLES", "glibc.malloc.top_pad=0")]  # fmt: skip


def _reuse(how: str) -> tuple[str, int]:
    env = {name: value for name, value in os.environ.items() if name not in dict(OWN_SETTINGS)}
    out = subprocess.run([sys.executable, "-c", REUSE, how], env=env, capture_output=True, text=True, check=True)
    kept, faults = out.stdout.split()
    return kept, int(faults)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason=f"glibc's malloc only; this is {platform.libc_ver()}")
def test_freed_memory_is_kept_and_taken_again_without_page_faults():
    (_, default), (kept, faults) = _reuse("default"), _reuse("keep")
    assert kept == "True"
    assert default >= 20, f"glibc's default should map each 64 MB block anew: {default} page faults"
    assert faults * 10 <= default, f"{faults} page faults with the memory kept, {default} without"


@pytest.mark.parametrize(("variable", "value"), OWN_SETTINGS)
def test_a_users_own_malloc_settings_are_left_alone(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    assert machine.keep_freed_memory() is False


def test_nothing_changes_off_glibc(monkeypatch):
    monkeypatch.setattr(platform, "libc_ver", lambda: ("", ""))
    assert machine.keep_freed_memory() is False
