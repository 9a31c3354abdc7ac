"""Every bound declared once (ser_utils.bounds) and checked at every entry, at both ends: generated values outside
and at the edges of each range, through the profile, every command line, the Python API and make's variables.

The contract for each drawn value: a result, or a one-line refusal naming the setting and its range (exit code 2 on
a command line), never a traceback, and never work started on a value out of range.
"""

import math
import re
import shlex

import pytest
from helpers.commands import run_command, run_main
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ser_utils.bounds import BOUNDS, NAME_BYTES, OPTIMIZERS, Bound, check_config, check_name, option_type
from ser_utils.config import PROFILE_FIELDS, load_profile
from ser_utils.errors import ProfileError, SettingError
from ser_utils.options import check_make_variables

GENERATED = settings(
    max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
NOT_FINITE = [math.nan, math.inf, -math.inf]


def outside(bound: Bound):
    """Values a bound refuses: below its low end, above its high end (or at an excluded end), not finite."""
    options = [st.sampled_from(NOT_FINITE)]
    number = st.integers if bound.kind is int else st.floats
    if bound.low is not None:
        options.append(
            number(max_value=bound.low - (0 if bound.above or bound.kind is float else 1)).filter(
                lambda v: not bound.holds(v)
            )
        )
    if bound.high is not None:
        options.append(
            number(min_value=bound.high + (0 if bound.below or bound.kind is float else 1)).filter(
                lambda v: not bound.holds(v)
            )
        )
    return st.one_of(options)


def inside(bound: Bound):
    """Values a bound takes, its included ends among them."""
    number = st.integers if bound.kind is int else st.floats
    low, high = bound.low, bound.high
    if bound.kind is float:
        drawn = number(min_value=low, max_value=high, exclude_min=bound.above, exclude_max=bound.below)
        drawn = drawn.filter(math.isfinite)
    else:
        drawn = number(min_value=low, max_value=high)
    ends = [end for end, open_end in ((low, bound.above), (high, bound.below)) if end is not None and not open_end]
    return st.one_of(drawn, st.sampled_from([bound.kind(end) for end in ends])) if ends else drawn


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_every_bound_refuses_values_outside_it_and_takes_its_edges(name):
    bound = BOUNDS[name]

    @GENERATED
    @given(value=outside(bound))
    def refused(value):
        with pytest.raises(SettingError) as error:
            bound.check(name, value, "here")
        assert str(error.value).startswith(f"here: {name} must be ") and bound.words() in str(error.value)
        assert "\n" not in str(error.value)

    @GENERATED
    @given(value=inside(bound))
    def taken(value):
        assert bound.check(name, value) == value

    refused()
    taken()


def test_the_words_of_a_range_say_each_end():
    assert BOUNDS["seed"].words() == "0 to 4294967295"
    assert BOUNDS["test_size"].words() == "more than 0 and less than 1"
    assert BOUNDS["learning_rate"].words() == "more than 0 and at most 1"
    assert BOUNDS["threshold"].words() == "from 0.16 to 0.99"


@pytest.mark.parametrize("field", [name for name in PROFILE_FIELDS if name in BOUNDS])
def test_every_numeric_profile_field_is_refused_outside_its_bound_by_file_and_option(field, tmp_path):
    bound = BOUNDS[field]

    @GENERATED
    @given(value=outside(bound))
    def refused(value):
        with pytest.raises(ProfileError, match=f"--{field.replace('_', '-')}: {field} must be"):
            load_profile("smoke", **{field: value})
        path = tmp_path / "p.yaml"
        path.write_text(f"{field}: {value!r}\n".replace("nan", ".nan").replace("inf", ".inf"))
        with pytest.raises(ProfileError, match=re.escape(str(path))):
            load_profile(path)

    refused()


# The command lines' numeric options, each with the setting it stands for, and the arguments that reach the option
# (an option out of range must refuse before the command reads any of them).
OPTIONS = [
    ("ser_utils.ship.predict", "--batch-size", "batch_size", ["x.wav"]),
    ("ser_utils.ship.predict", "--hop", "hop_s", ["--window", "x.wav"]),
    ("ser_utils.ship.predict", "--min-speech", "min_speech_s", ["--segments", "x.wav"]),
    ("ser_utils.ship.predict", "--min-silence", "min_silence_s", ["--segments", "x.wav"]),
    ("ser_utils.ship.predict", "--vad-threshold", "threshold", ["--segments", "x.wav"]),
    ("ser_utils.evaluate.score", "--batch-size", "batch_size", ["--model", "m", "x"]),
    ("ser_utils.evaluate.baseline", "--n-folds", "n_folds", []),
    ("ser_utils.evaluate.baseline", "--whole", "max_duration_s", []),
    ("ser_utils.evaluate.baseline", "--max-duration-s", "max_duration_s", ["--window", "whole"]),
    ("ser_utils.prepare.preprocess", "--whole", "max_duration_s", []),
    ("ser_utils.prepare.preprocess", "--max-duration-s", "max_duration_s", ["--window", "whole"]),
    ("ser_utils.ship.demo", "--port", "port", []),
    ("ser_utils.ship.demo", "--max-upload-mb", "max_upload_mb", []),
    ("ser_utils.evaluate.kfold", "--seeds", "seed", []),
    ("ser_utils.train.command", "--seed", "seed", []),
    ("ser_utils.train.command", "--epochs", "epochs", []),
    ("ser_utils.train.command", "--batch-size", "batch_size", []),
    ("ser_utils.train.command", "--max-duration-s", "max_duration_s", []),
    ("ser_utils.train.command", "--learning-rate", "learning_rate", []),
]


@pytest.mark.parametrize(
    ("module", "flag", "setting", "rest"), OPTIONS, ids=[f"{m[10:]} {f}" for m, f, _, _ in OPTIONS]
)
def test_every_numeric_option_refuses_values_outside_its_bound_in_one_line(module, flag, setting, rest):
    import importlib

    main = importlib.import_module(module).main
    bound = BOUNDS[setting]

    @GENERATED
    @given(value=outside(bound))
    def refused(value):
        text = str(value) if bound.kind is int or not math.isfinite(value) else repr(value)
        done = run_main(main, *rest, f"{flag}={text}")
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert bound.words() in done.stderr and done.stdout == ""

    refused()


def test_the_option_types_name_the_flag_and_range():
    import argparse

    parse = option_type("hop_s", "--hop")
    assert parse("0.5") == 0.5
    for text, said in (
        ("0", "0 is out of range: --hop must be a number from 0.01 to 3600"),
        ("x", "'x' is not a number"),
    ):
        with pytest.raises(argparse.ArgumentTypeError, match=said):
            parse(text)
    with pytest.raises(argparse.ArgumentTypeError, match="'1.5' is not a number: --port must be a whole number 1 to"):
        option_type("port")("1.5")


def test_the_python_api_refuses_what_the_command_line_refuses(model_dir, clip):
    """Predictor.segments, SpeechDetector and predict take no setting ser-predict refuses: each is refused before
    any audio is read (a hop of 0 never finished; a threshold of 0 classified digital silence as speech)."""
    from ser_utils.ship.predict import Predictor, predict_table
    from ser_utils.ship.segments import SpeechDetector

    predictor = Predictor(model_dir, device="cpu")

    @GENERATED
    @given(
        setting=st.sampled_from(["threshold", "min_speech_s", "min_silence_s", "pad_s", "hop_s"]),
        data=st.data(),
    )
    def refused(setting, data):
        value = data.draw(outside(BOUNDS[setting]))
        with pytest.raises(SettingError, match=f"{setting} must be"):
            predictor.segments(clip, **{setting: value})
        if setting != "hop_s":
            with pytest.raises(SettingError, match=f"SpeechDetector: {setting} must be"):
                SpeechDetector(**{setting: value})

    refused()
    for keywords in ({"batch_size": 0}, {"hop_s": 0.0}, {"hop_s": math.nan}):
        with pytest.raises(SettingError, match="predict: "):
            predict_table([clip], predictor=predictor, progress=False, **keywords)


@GENERATED
@given(
    variable=st.sampled_from(["FOLDS", "SEEDS", "LR"]),
    data=st.data(),
)
def test_make_variables_are_checked_with_the_options_ranges(variable, data):
    field = {"FOLDS": "n_folds", "SEEDS": "seed", "LR": "learning_rate"}[variable]
    value = data.draw(outside(BOUNDS[field]))
    text = f"1 {value}" if variable == "SEEDS" else str(value)
    with pytest.raises(SettingError, match=re.escape(f"{variable}={text}: ")):
        check_make_variables({variable: text})
    check_make_variables({"FOLDS": "6", "SEEDS": "1 2 3", "LR": "1e-3", "MODE": "frozen", "DATA": ""})


def test_make_refuses_a_bad_variable_in_one_line_before_any_notebook(tmp_path):
    """FOLDS=0 ended in a NumPy error inside notebook 05; a missing DATA folder in notebook tracebacks."""
    for variables, said in (
        (["FOLDS=0"], "make: FOLDS=0: n_folds must be 3 to 1000, not 0"),
        ([f"DATA={tmp_path / 'nowhere'}"], f"make: DATA={tmp_path / 'nowhere'}: no such folder"),
        (["MODE=frozn"], "make: MODE=frozn: must be one of fine-tuned, cnn-frozen, frozen"),
        (["SEEDS=1 4294967296"], "seed must be 0 to 4294967295, not 4294967296"),
    ):
        done = run_command(command=["make", "-o", ".venv/.installed", "kfold", *variables])
        assert done.returncode == 2 and said in done.stderr, done.stderr
        assert "Traceback" not in done.stderr and "papermill" not in done.stdout + done.stderr


def test_make_passes_a_data_folder_with_a_space_as_one_folder(tmp_path):
    one, other = tmp_path / "my corpus", tmp_path / "other"
    one.mkdir(), other.mkdir()
    for target in ("eda", "baseline", "kfold"):
        done = run_command(command=["make", "-n", "-o", ".venv/.installed", target, f"DATA={one}"], ok=True)
        assert f"--data '{one}'" in done.stdout, target
    # The pipeline hands the notebooks one folder, or several, as their comma-separated data_dir.
    for data, folders in (
        ([str(one)], [one]),
        ([f"{other} {tmp_path}"], [other, tmp_path]),
        ([str(one), str(other)], [one, other]),
    ):
        done = run_command("ser_utils", "kfold", "--print-commands", "--folds", "3", "--data", *data, ok=True)
        commands = [shlex.split(line) for line in done.stdout.splitlines()]
        assert len(commands) == 3 and all(
            command[command.index("data_dir") + 1] == ",".join(map(str, folders)) for command in commands
        ), done.stdout


@GENERATED
@given(name=st.text(min_size=1, max_size=300))
def test_names_are_one_folder_name_or_refused_in_one_line(name):
    """Run and profile names: a newline, a path, a leading dot or over NAME_BYTES bytes is refused, in one line."""
    plain = not ({"/", "\\"} & set(name) or name.startswith(".") or any(ord(c) < 32 or ord(c) == 127 for c in name))
    if plain and len(name.encode()) <= NAME_BYTES:
        assert check_name(name, "run_name") == name
    else:
        with pytest.raises(SettingError) as error:
            check_name(name, "run_name")
        assert "\n" not in str(error.value).replace(repr(name), "")


def test_values_that_reach_a_library_are_checked_against_what_it_takes(tmp_path):
    """A seed above 2**32 - 1 (numpy's), a negative scratch_config size, an unknown optimizer and a 300-character
    run name passed the profile's checks and failed deep inside a library."""
    from ser_utils.train.command import main

    for args, said in (
        (["--seed", str(2**32)], "--seed: seed must be 0 to 4294967295, not 4294967296"),
        (["--optimizer", "adamx"], "--optimizer: optimizer 'adamx' is not one of transformers'"),
        (["--run-name", "r" * 300], "is 300 bytes long: a folder name takes at most 200"),
        (["--run-name", "a\nb"], "is not a plain name"),
    ):
        done = run_main(main, *args)
        assert done.returncode == 2 and said in done.stderr and done.stderr.count("\n") == 1, done.stderr
    profile = tmp_path / "neg.yaml"
    profile.write_text("model_name_or_path: null\nscratch_config: {hidden_size: -4, conv_dim: [32, 0]}\n")
    with pytest.raises(
        ProfileError, match=re.escape(f"{profile}: scratch_config hidden_size must be 1 to 65536, not -4")
    ):
        load_profile(profile)
    for config, said in (
        ({"conv_dim": [32, 0]}, "conv_dim must be 1 to 65536, not 0"),
        ({"hidden_dropout": 1.5}, "hidden_dropout must be from 0 to 1"),
        ({"mask_time_prob": 0}, None),
    ):
        if said is None:
            check_config(config, "p")
            continue
        with pytest.raises(SettingError, match=said):
            check_config(config, "p")


def test_the_optimizer_names_are_transformers_own():
    from transformers.training_args import OptimizerNames

    assert set(OPTIMIZERS) == {name.value for name in OptimizerNames}
