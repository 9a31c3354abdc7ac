"""The command-line options of the profile fields: one --option per field, with its help text, and --overrides
(several fields as one YAML mapping), for ser-train and ser-report."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import typing
from typing import Any

import yaml

from ser_utils.bounds import BOUNDS, option_type
from ser_utils.config import (
    MODES,
    OLD_MODE_KEYS,
    PROFILE_FIELDS,
    PROTOCOLS,
    VALIDATIONS,
    WHOLE_CAP_S,
    WINDOWS,
    Profile,
    scalar_type,
)
from ser_utils.errors import SettingError, command_line


def _fields_mapping(text: str) -> dict:
    """An argparse type: profile fields as one YAML mapping, as the Makefile writes them."""
    with contextlib.suppress(yaml.YAMLError):
        if isinstance(value := yaml.safe_load(text or "{}"), dict):
            return value
    hint = "; a profile file goes to --profile" if text.endswith((".yaml", ".yml")) else ""
    raise argparse.ArgumentTypeError(f"{text!r} is not a YAML mapping of profile fields{hint}")


def add_profile_options(parser: argparse.ArgumentParser, only=None) -> None:
    """One --option per profile field (--epochs, --learning-rate, --precision, ...; or only the fields named in
    `only`), with the field's help text, and --overrides: any of them as one YAML mapping (what the Makefile and
    the notebooks' `overrides` pass). Options left out stay None, so that the profile's own values are kept."""
    parser.add_argument(
        "--overrides",
        type=_fields_mapping,
        default={},
        metavar="YAML",
        help='profile fields as one mapping, e.g. "{learning_rate: 1.0e-3, mode: frozen}" (an option of its own wins)',
    )
    hints = typing.get_type_hints(Profile)
    for name, field in PROFILE_FIELDS.items():
        if not field.metadata["option"] or (only is not None and name not in only):
            continue
        flag = "--" + name.replace("_", "-")
        kind = scalar_type(hints[name])
        default = "none" if field.default == "" else field.default
        help_text = f"{field.metadata['help']} (default: the profile's, else {default})"
        help_text = help_text.replace("%", "%%")  # argparse %-formats help texts: "20 %" must reach it as "20 %%"
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            parse = BOUNDS[name].option(flag, ranged=False) if name in BOUNDS else kind
            parser.add_argument(flag, type=parse, choices=field.metadata["choices"], default=None, help=help_text)
    for name in OLD_MODE_KEYS if only is None or "mode" in only else ():  # before --mode: read as it, with a note
        parser.add_argument(
            "--" + name.replace("_", "-"), action=argparse.BooleanOptionalAction, help=argparse.SUPPRESS
        )


def add_window_options(parser: argparse.ArgumentParser) -> None:
    """--window and --max-duration-s, spelled as training's profile fields, for the commands that read clips
    without training (ser-preprocess, ser-baseline); --whole SECONDS, the spelling before, is still read."""
    window = PROFILE_FIELDS["window"].metadata["help"]
    cap = PROFILE_FIELDS["max_duration_s"].metadata["help"]
    parser.add_argument("--window", choices=WINDOWS, default="recipe", help=f"{window} (default: recipe)")
    cap_type = option_type("max_duration_s", "--max-duration-s")
    parser.add_argument("--max-duration-s", type=cap_type, help=f"{cap} (default: {WHOLE_CAP_S:g})")
    parser.add_argument("--whole", type=option_type("max_duration_s", "--whole"), help=argparse.SUPPRESS)


def whole_seconds(options: argparse.Namespace) -> float | None:
    """The cap of whole clips the options ask for (None: the recipe's window); --whole read with a one-line note."""
    if options.whole is not None:
        print(
            f"note: --whole {options.whole:g} is read as --window whole --max-duration-s {options.whole:g}",
            file=sys.stderr,
        )
        return options.whole
    if options.max_duration_s is not None and options.window != "whole":
        raise SettingError(f"--max-duration-s {options.max_duration_s:g}: caps whole clips; add --window whole")
    return (options.max_duration_s or WHOLE_CAP_S) if options.window == "whole" else None


def profile_overrides(options: argparse.Namespace) -> dict[str, Any]:
    """The profile fields given on the command line (see add_profile_options): --overrides, then the options."""
    known = {*PROFILE_FIELDS, *OLD_MODE_KEYS}
    given = {name: value for name, value in vars(options).items() if name in known and value is not None}
    return {**options.overrides, **given}


# The make variables that set a profile field, each with its field (ser_utils.bounds holds the numbers' ranges).
MAKE_VARIABLES = {"FOLDS": "n_folds", "SEEDS": "seed", "LR": "learning_rate"}
MAKE_CHOICES = {
    "MODE": MODES,
    "PROTOCOL": tuple(PROTOCOLS),
    "WINDOW": WINDOWS,
    "VALIDATION": VALIDATIONS,
}


def check_make_variables(values: dict[str, str]) -> None:
    """SettingError, naming the make variable, the field and its range, for a value `make` would pass on to a notebook
    that cannot take it: FOLDS=0, SEEDS="1 -2", an unknown MODE, a DATA folder that does not exist."""
    for variable, text in values.items():
        if variable in MAKE_VARIABLES:
            field = MAKE_VARIABLES[variable]
            kind = BOUNDS[field].kind
            words = text.split() if variable == "SEEDS" else ([text] if text else [])
            for word in words:
                try:
                    value = kind(word)
                except ValueError:
                    raise SettingError(f"{variable}={text}: {word!r} is not a number; {field} is one") from None
                BOUNDS[field].check(field, value, f"{variable}={text}")
        elif variable in MAKE_CHOICES and text and text not in MAKE_CHOICES[variable]:
            raise SettingError(f"{variable}={text}: must be one of {', '.join(MAKE_CHOICES[variable])}")
        elif variable == "DATA" and "'" in text:  # make quotes the paths it passes on with '
            raise SettingError(f"DATA={text}: a path with a ' in it cannot be passed on; rename or link the folder")
        elif variable == "DATA" and not os.path.exists(text):  # one folder (with spaces in it), or several
            if missing := [path for path in text.split() if not os.path.exists(path)]:
                raise SettingError(
                    f"DATA={text}: no such folder: {', '.join(missing)}; give a corpus folder, or several "
                    "separated by spaces"
                )


@command_line("make")
def main(argv: list[str] | None = None) -> int:
    """`python -m ser_utils variables NAME=VALUE ...`: check make's variables before a target does any work."""
    items = sys.argv[1:] if argv is None else argv
    if {"-h", "--help"} & set(items):
        print("usage: ser-variables NAME=VALUE ...  (FOLDS, SEEDS, LR, MODE, PROTOCOL, WINDOW, VALIDATION, DATA)")
        print("Check make's variables before a target does any work: one line naming a bad one, and exit status 2.")
        return 0
    check_make_variables(dict(item.partition("=")[::2] for item in items))
    return 0
