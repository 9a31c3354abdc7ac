"""Running a command line from a test: as a process (run_command), or its main() in this process (run_main)."""

import os
import subprocess
import sys

from ser_utils.config import PROJECT_ROOT


def run_command(*module_and_args, command=None, env=None, timeout: int = 600, cwd=PROJECT_ROOT, ok: bool = False):
    """The one way tests run a command line: `python -m <module> <args>` (e.g. run_command("ser_utils", "train",
    "--epochs", 1)), or `command` as given (make, bash, a benchmark script, another interpreter). Output is captured
    as text; `env` adds to os.environ, a None value removing that variable. With `ok`, the command must exit 0
    without a traceback (the output's tail is the failure message). Test modules import it from tests/helpers."""
    command = [*map(str, command)] if command else [sys.executable, "-m", *map(str, module_and_args)]
    merged = {key: value for key, value in {**os.environ, **(env or {})}.items() if value is not None}
    done = subprocess.run(command, cwd=cwd, env=merged, capture_output=True, text=True, timeout=timeout)
    if ok:
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def run_main(main, *args, env=None) -> subprocess.CompletedProcess:
    """A command's `main(argv)` run in this process, its output captured, as run_command gives it: for tests whose
    point is what the command decides (refusals, error rows), not the interpreter around it. The command_line guard
    that makes an expected failure one line and an exit code is the same code (argparse's SystemExit gives its
    status); anything else raises here, so the test fails as a traceback would. `env` adds to os.environ for the
    call (a None value removing that variable)."""
    import contextlib
    import io

    saved = {name: os.environ.get(name) for name in env or {}}
    out, err = io.StringIO(), io.StringIO()
    try:
        for name, value in (env or {}).items():
            os.environ.pop(name, None) if value is None else os.environ.__setitem__(name, str(value))
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([*map(str, args)])
            except SystemExit as exit:  # argparse refusing an option: usage and exit status 2, as in a process
                code = exit.code
    finally:
        for name, value in saved.items():
            os.environ.pop(name, None) if value is None else os.environ.__setitem__(name, value)
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def clean(done, code: int) -> str:
    """Assert the exit code and that nothing printed a traceback; return stderr."""
    assert done.returncode == code, (done.returncode, done.stdout[-2000:], done.stderr[-3000:])
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return done.stderr


def train_one_epoch(outputs, name: str, *options) -> dict:
    """`python -m ser_utils train` for one epoch on the CPU (the smoke profile unless `options` name another), its
    run folder `name` under the outputs folder `outputs`; the run's run_info.json."""
    import json
    from pathlib import Path

    command = ["ser_utils", "train", "--epochs", "1", "--device", "cpu", "--no-progress", "--run-name", name]
    run_command(*command, *options, env={"SER_OUTPUT_DIR": str(outputs)}, ok=True, timeout=300)
    return json.loads((Path(outputs) / "runs" / name / "run_info.json").read_text())
