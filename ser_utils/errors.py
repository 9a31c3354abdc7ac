"""The errors the project expects, and one policy for every command line.

A known error (bad data, a bad profile, a bad model folder, an output that cannot be written, a run that cannot
start) is a `SerError` whose message names the file and the fix: a command line prints it as one line and exits
with its `exit_code` (2, or 1 where training diverged). Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
import sys


class SerError(Exception):
    """A known error: the message names the file and the fix."""

    exit_code = 2


class NotFoundError(SerError, FileNotFoundError):
    """A named profile, manifest, run or run file does not exist."""


class ProfileError(SerError, ValueError):
    """A profile cannot be used as written: a key, a value or the YAML itself."""


class DatasetError(SerError, ValueError):
    """The dataset folder cannot be used as it is, or cannot be split as asked."""


class AudioError(DatasetError):
    """One audio file cannot be used: `reason` says why; the message also names the file and the fix."""

    def __init__(self, path, reason: str, fix: str = "replace it with a good copy"):
        super().__init__(f"{path}: {reason}; {fix}")
        self.path, self.reason = path, reason


class ModelError(SerError, OSError):
    """A model folder (or Hub id) is missing, or does not hold the model that was asked for."""


class OutputError(SerError, OSError):
    """An output folder or file cannot be written."""


class TrainingError(SerError, RuntimeError):
    """A run cannot start or go on; the message says why and what to do."""


class NonFiniteLossError(TrainingError):
    """The training loss became NaN or infinite."""

    exit_code = 1


def command_line(prefix: str = "error"):
    """Decorate a command line's `main(argv) -> int`: a SerError becomes `<prefix>: <message>` on stderr and its
    exit code; anything else propagates with its traceback."""

    def decorate(main):
        @functools.wraps(main)
        def guarded(argv: list[str] | None = None) -> int:
            try:
                return main(argv)
            except SerError as error:
                print(f"{prefix}: {error}", file=sys.stderr)
                return error.exit_code

        return guarded

    return decorate
