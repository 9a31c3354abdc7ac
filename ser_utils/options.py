"""The command-line options of the profile fields: one --option per field, with its help text, and --overrides
(several fields as one YAML mapping), for ser-train and ser-report."""

from __future__ import annotations

import argparse
import contextlib
import typing
from typing import Any

import yaml

from ser_utils.config import PROFILE_FIELDS, Profile, scalar_type


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
    parser.add_argument("--overrides", type=_fields_mapping, default={}, metavar="YAML",
                        help='profile fields as one mapping, e.g. "{learning_rate: 1.0e-3, freeze_encoder: true}" '
                        "(an option of its own wins)")  # fmt: skip
    hints = typing.get_type_hints(Profile)
    for name, field in PROFILE_FIELDS.items():
        if not field.metadata["option"] or (only is not None and name not in only):
            continue
        flag, kind = "--" + name.replace("_", "-"), scalar_type(hints[name])
        default = "none" if field.default == "" else field.default
        help_text = f"{field.metadata['help']} (default: the profile's, else {default})"
        help_text = help_text.replace("%", "%%")  # argparse %-formats help texts: "20 %" must reach it as "20 %%"
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            choices = field.metadata["choices"]
            parser.add_argument(flag, type=kind, choices=choices, default=None, help=help_text)


def profile_overrides(options: argparse.Namespace) -> dict[str, Any]:
    """The profile fields given on the command line (see add_profile_options): --overrides, then the options."""
    given = {name: value for name, value in vars(options).items() if name in PROFILE_FIELDS and value is not None}
    return {**options.overrides, **given}
