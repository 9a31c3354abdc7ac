"""keep_freed_memory: glibc keeps the memory a training step frees, so that the next step's large blocks stop faulting
in fresh pages; a user's own malloc, or their own settings of it, are left alone."""

import os
import platform
import subprocess
import sys

import pytest
from helpers.commands import run_main

from ser_utils import machine
from ser_utils.evaluate import score
from ser_utils.ship import demo, predict

# A child process that frees and takes back a 64 MB block 20 times (more than glibc ever serves from its heap by
# default, so by default every one is mapped anew) and prints the page faults that took.
REUSE = """
import ctypes, resource, sys
from ser_utils.machine import freed_memory_kept, keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else False
assert freed_memory_kept() is kept  # what run_info.json records
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
OWN_SETTINGS = [
    ("LD_PRELOAD", "/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4"),
    ("MALLOC_TRIM_THRESHOLD_", "131072"),
    ("MALLOC_MMAP_MAX_", "65536"),
    ("GLIBC_TUNABLES", "glibc.malloc.top_pad=0"),
]


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


def test_the_commands_that_run_a_model_keep_freed_memory(monkeypatch, model_dir, ravdess_16k, tmp_path):
    calls = []
    for module in (predict, score, demo):
        monkeypatch.setattr(module, "keep_freed_memory", lambda module=module: calls.append(module.__name__))
    monkeypatch.setattr(demo, "launch", lambda *args, **kwargs: None)  # no server: what main does before it
    clip, other = (ravdess_16k / "Actor_01" / f"03-01-0{emotion}-01-01-01-01.wav" for emotion in (1, 5))
    scored = (score.main, "--output-dir", tmp_path / "out", "--no-progress", clip, other)  # two emotions to score
    for main, *args in [(predict.main, clip), scored, (demo.main,)]:
        done = run_main(main, "--model", model_dir, *args)
        assert done.returncode == 0, done.stderr[-2000:]
    assert calls == ["ser_utils.ship.predict", "ser_utils.evaluate.score", "ser_utils.ship.demo"]
