"""make reproduce's order (ser_utils/pipeline.py), with papermill replaced by a stand-in that logs each notebook's
start and end: 03 starts beside 01 and 02, 04 and 05 start once all three have ended, and a failure of any of 01-03
stops it there."""

import subprocess
import sys
import textwrap
from pathlib import Path

from ser_utils.config import PROJECT_ROOT

STAND_IN = textwrap.dedent("""\
    import sys, time
    notebook = next(arg for arg in sys.argv[1:] if arg.endswith(".ipynb")).rsplit("/", 1)[-1][:2]
    with open(LOG, "a") as out:
        out.write(f"start {notebook} {time.monotonic()}\\n")
    time.sleep({"01": 2.2, "02": 2.0}.get(notebook, 1.5))  # longer than the pipeline's gap between two starts
    with open(LOG, "a") as out:
        out.write(f"end {notebook} {time.monotonic()}\\n")
    sys.exit(1 if notebook == FAILING else 0)
""")


def reproduce(tmp_path, failing: str = "") -> tuple[int, dict]:
    """Run make reproduce with the stand-in; its exit status and, by notebook, (start, end) in monotonic seconds."""
    script, log = tmp_path / "papermill.py", tmp_path / "log.txt"
    script.write_text(f"FAILING, LOG = {failing!r}, {str(log)!r}\n" + STAND_IN)
    log.unlink(missing_ok=True)
    # VENV: this interpreter's environment, counted as made (-o) whatever its marker's age
    venv = Path(sys.prefix)
    command = ["make", "-C", str(PROJECT_ROOT), "reproduce", f"PAPERMILL={sys.executable} {script}"]
    command += [f"VENV={venv}", "-o", f"{venv}/.installed"]
    env = {"PATH": "/usr/bin:/bin", "SER_OUTPUT_DIR": str(tmp_path / "outputs"), "HOME": str(tmp_path)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    times: dict[str, list[float]] = {}
    for line in log.read_text().splitlines() if log.exists() else []:
        _, notebook, seconds = line.split()
        times.setdefault(notebook, []).append(float(seconds))
    return done.returncode, times


def test_03_starts_beside_01_and_02_and_04_and_05_after_all_three(tmp_path):
    status, times = reproduce(tmp_path)
    assert status == 0 and sorted(times) == ["01", "02", "03", "04", "05"]
    assert times["03"][0] < min(times["01"][1], times["02"][1])  # started before either had ended
    first_three_done = max(times[notebook][1] for notebook in ("01", "02", "03"))
    assert min(times["04"][0], times["05"][0]) >= first_three_done
    assert times["04"][0] < times["05"][1] and times["05"][0] < times["04"][1]  # 04 and 05 at once


def test_a_failure_of_01_02_or_03_stops_make_reproduce_once_03_has_ended(tmp_path):
    for failing in ("01", "02", "03"):
        status, times = reproduce(tmp_path, failing)
        assert status != 0, failing
        assert sorted(times) == ["01", "02", "03"], failing  # 03 ran to its end; 04 and 05 never started
        assert all(len(start_end) == 2 for start_end in times.values()), failing


def test_notebooks_03_and_05_take_the_protocol_folds_and_fields_make_sets():
    """make reproduce PROTOCOL=cross_corpus trains notebook 03 across corpora (a fold protocol is kfold's alone);
    05 gets FOLDS."""
    from ser_utils.pipeline import _parser, notebook_command

    def overrides(*args, step: str = "finetune") -> str:
        parser = _parser("test")
        parser.set_defaults(run_name=None, resume=False)
        command = notebook_command(parser.parse_args(["--papermill", "papermill", *args]), step)
        return command[command.index("-y") + 1]

    assert overrides("--folds", "4", step="protocols") == 'overrides: {"n_folds":4}'  # make protocols' FOLDS

    assert overrides("--protocol", "cross_corpus", "--test-corpora", "tess") == (
        'overrides: {"test_corpora":"tess","protocol":"cross_corpus"}'
    )
    assert overrides("--protocol", "actor_kfold", "--mode", "frozen", "--lr", "1e-3") == (
        'overrides: {"mode":"frozen","learning_rate":0.001}'
    )
