import argparse

import pytest
from helpers.commands import run_command

from ser_utils import config
from ser_utils import options as profile_options
from ser_utils.__main__ import COMMANDS
from ser_utils.data.corpora import window_for


def test_window_constants_are_the_recipe():
    assert config.SAMPLE_RATE == 16_000
    assert window_for("ravdess").offset == 9_600 and window_for("ravdess").length == config.NUM_SAMPLES
    assert config.NUM_SAMPLES == 40_000


def test_label_order_and_codes():
    assert config.EMOTIONS == ("Anger", "Calm", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise")
    # The RAVDESS README's emotion codes, 01 to 08, in its own order.
    readme = ["Neutral", "Calm", "Happy", "Sad", "Anger", "Fear", "Disgust", "Surprise"]
    codes = {f"{i:02d}": name for i, name in enumerate(readme, start=1)}
    assert config.EMOTION_CODES == codes
    assert [config.ID2LABEL[i] for i in range(8)] == list(config.EMOTIONS)
    assert all(config.LABEL2ID[config.ID2LABEL[i]] == i for i in range(8))


def test_full_profile_is_the_original_recipe():
    full = config.load_profile("full")
    assert full.model_name_or_path == "facebook/wav2vec2-base"
    assert (full.learning_rate, full.weight_decay, full.batch_size, full.epochs) == (1e-5, 0.01, 16, 20)
    assert (full.protocol, full.test_size, full.seed) == ("random", 0.2, 42)
    assert "speaker-dependent" in full.protocol_label
    assert "pretrained" in full.model_label


def test_smoke_profile_trains_from_scratch():
    smoke = config.load_profile("smoke")
    assert smoke.model_name_or_path is None
    assert smoke.scratch_config["num_hidden_layers"] < 12
    assert "from scratch" in smoke.model_label


def test_profile_overrides_and_errors(tmp_path):
    assert config.load_profile("smoke", epochs=2).epochs == 2
    with pytest.raises(FileNotFoundError, match="no such profile"):
        config.load_profile("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: 3\nlearnin_rate: 0.1\n")
    with pytest.raises(ValueError, match="learnin_rate"):
        config.load_profile(bad)
    custom = tmp_path / "mine.yaml"
    custom.write_text("epochs: 3\nmodel_name_or_path: null\n")
    assert config.load_profile(custom).name == "mine"


def test_every_profile_field_is_an_option_with_its_own_help():
    import argparse

    parser = argparse.ArgumentParser()
    profile_options.add_profile_options(parser)
    shown = [action for action in parser._actions if action.help != argparse.SUPPRESS]  # not the old spellings
    actions = {action.dest: action for action in shown if action.dest not in ("help", "overrides")}
    options = [name for name, field in config.PROFILE_FIELDS.items() if field.metadata["option"]]
    assert sorted(actions) == sorted(options) and "learning_rate" in actions
    helps = [actions[name].help for name in options]
    assert len(set(helps)) == len(helps) and all(
        config.PROFILE_FIELDS[n].metadata["help"].replace("%", "%%") in actions[n].help for n in options
    )
    parsed = parser.parse_args(["--epochs", "3", "--no-compile", "--protocol", "actor_kfold"])
    assert profile_options.profile_overrides(parsed) == {"epochs": 3, "compile": False, "protocol": "actor_kfold"}
    assert config.load_profile("smoke", **profile_options.profile_overrides(parsed)).epochs == 3
    # --overrides: the fields as one mapping (the Makefile's), each field's own option winning over it
    mapping = '{"learning_rate":1e-3,"mode":"frozen","epochs":5}'
    parsed = parser.parse_args(["--overrides", mapping, "--epochs", "3"])
    profile = config.load_profile("smoke", **profile_options.profile_overrides(parsed))
    assert (profile.learning_rate, profile.mode, profile.epochs) == (1e-3, "frozen", 3)
    with pytest.raises(SystemExit):
        parser.parse_args(["--overrides", "[1, 2]"])
    with pytest.raises(
        argparse.ArgumentTypeError, match="'mine.yaml' is not a YAML mapping .*; a profile file goes to --profile"
    ):
        profile_options._fields_mapping("mine.yaml")  # a file's name is a YAML string, not a mapping
    with pytest.raises(config.ProfileError, match="overrides: unknown profile keys .'learning_rte'."):
        config.load_profile("smoke", learning_rte=1e-3)


@pytest.mark.parametrize("command", [*(name for name in COMMANDS if name not in ("data", "variables")), "data verify"])
def test_command_lines_describe_every_option(command):
    import re

    module, *sub = command.split()
    done = run_command("ser_utils", module, *sub, "--help", timeout=120)
    assert done.returncode == 0 and "Traceback" not in done.stderr
    assert done.stdout.startswith(f"usage: ser-{module} ")  # its own name, as its ser-<command> script says it
    described = done.stdout.split("positional arguments:" if "positional arguments:" in done.stdout else "options:")[1]
    lines = described.splitlines()
    entries = [i for i, line in enumerate(lines) if re.match(r"^  [-\w]", line)]
    assert len(entries) >= 2
    for i in entries:  # argparse puts the help beside the entry, or on the next line when the entry is long
        beside = re.match(r"^  \S+(?: [A-Z_{][^ ]*)?(?:, -\S+(?: [A-Z_]+)?)*\s{2,}\S", lines[i])
        below = i + 1 < len(lines) and re.match(r"^\s{10,}\S", lines[i + 1])
        assert beside or below, lines[i]


def test_a_command_run_as_a_program_freezes_its_heap_at_exit_and_one_called_from_python_does_not():
    """The command_line guard: run as a program (no argv given), what is left at exit is collected, then frozen,
    so the interpreter's last collection skips it; called from Python with its arguments (a notebook, a test),
    nothing is frozen, and garbage made later is still collected."""
    import sys

    script = (
        "import atexit, gc, sys\nfrom ser_utils.errors import command_line\nmain = command_line()(lambda argv: 0)\n"
        "main(None if sys.argv[1] == 'program' else [])\natexit._run_exitfuncs()\nprint(gc.get_freeze_count())"
    )
    frozen = {
        how: int(run_command(command=[sys.executable, "-c", script, how], ok=True).stdout)
        for how in ("program", "call")
    }
    assert frozen["program"] > 1000 and frozen["call"] == 0


def test_the_booleans_before_mode_are_read_as_the_mode_they_meant_with_a_note(tmp_path, capsys):
    """freeze_encoder and freeze_feature_encoder (YAML, overrides, options) still load, as `mode`, saying so once."""
    old = tmp_path / "old.yaml"
    old.write_text("freeze_feature_encoder: true\nweighted_layer_sum: true\n")
    profile = config.load_profile(old)
    assert (profile.mode, profile.mode_label) == ("cnn-frozen", "feature encoder frozen + layer sum")
    assert "freeze_feature_encoder: true is read as mode: cnn-frozen" in capsys.readouterr().err
    assert config.load_profile("smoke", freeze_encoder=True, freeze_feature_encoder=True).mode == "frozen"
    assert config.load_profile("smoke", freeze_encoder=False).mode == "fine-tuned"
    parser = argparse.ArgumentParser()
    profile_options.add_profile_options(parser)
    given = profile_options.profile_overrides(parser.parse_args(["--freeze-encoder", "--epochs", "2"]))
    assert config.load_profile("smoke", **given).mode == "frozen"
    with pytest.raises(config.ProfileError, match="freeze_encoder: true means mode frozen, but mode is cnn-frozen"):
        config.load_profile("smoke", freeze_encoder=True, mode="cnn-frozen")
    with pytest.raises(config.ProfileError, match="mode"):
        config.load_profile("smoke", mode="frozn")


def test_window_options_are_spelled_as_training_spells_them_and_whole_is_still_read(capsys):
    """ser-preprocess and ser-baseline take --window whole [--max-duration-s S], as training does; --whole S too."""
    parser = argparse.ArgumentParser()
    profile_options.add_window_options(parser)
    seconds = [profile_options.whole_seconds(parser.parse_args(args)) for args in ([], ["--window", "whole"])]
    assert seconds == [None, config.WHOLE_CAP_S]
    assert profile_options.whole_seconds(parser.parse_args(["--window", "whole", "--max-duration-s", "4"])) == 4
    assert capsys.readouterr().err == ""
    assert profile_options.whole_seconds(parser.parse_args(["--whole", "5"])) == 5
    assert "--whole 5 is read as --window whole --max-duration-s 5" in capsys.readouterr().err
    with pytest.raises(config.SettingError, match="--max-duration-s 4: caps whole clips; add --window whole"):
        profile_options.whole_seconds(parser.parse_args(["--max-duration-s", "4"]))


def test_the_spellings_before_one_entry_point_are_refused_naming_the_new_one():
    """`python -m ser_utils.predict` ran a command before `python -m ser_utils predict`: one line, exit status 2."""
    for old, new in (("predict", "predict"), ("train", "train"), ("options", "variables")):
        done = run_command(f"ser_utils.{old}", "--help")
        assert done.returncode == 2 and done.stdout == "", done.stderr
        assert done.stderr == f"python -m ser_utils.{old} is now: python -m ser_utils {new}" + (
            f" (or ser-{new})\n" if new != "variables" else "\n"
        )
