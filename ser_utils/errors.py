"""The errors the project expects, and one policy for every command line.

A known error (bad data, a bad profile, a bad model folder, an output that cannot be written, a run that cannot
start) is a `SerError` whose message names the file and the fix: a command line prints it as one line and exits
with its `exit_code` (2, or 1 where training diverged). Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import atexit
import errno
import functools
import gc
import importlib
import os
import pickle
import sys


class SerError(Exception):
    """A known error: the message names the file and the fix."""

    exit_code = 2


class NotFoundError(SerError, FileNotFoundError):
    """A named profile, manifest, run or run file does not exist."""


class SettingError(SerError, ValueError):
    """A setting (a profile field, an option, an argument, a name) is outside the values it may take."""


class ProfileError(SettingError):
    """A profile cannot be used as written: a key, a value or the YAML itself."""


class CorpusError(SerError, ValueError):
    """A corpus folder or manifest cannot be used as it is, or cannot be split into parts as asked."""


class AudioError(CorpusError):
    """One audio file cannot be used: `reason` says why; the message also names the file and the fix."""

    def __init__(self, path, reason: str, fix: str = "replace it with a good copy"):
        super().__init__(f"{path}: {reason}; {fix}")
        self.path = path
        self.reason = reason


class ModelError(SerError, OSError):
    """A model folder (or Hub id) is missing, or does not hold the model that was asked for."""


class OutputError(SerError, OSError):
    """An output folder or file cannot be written."""


class RecordError(SerError, ValueError):
    """A file the project wrote and reads back (a run record, a checkpoint, a predictions table) is damaged or was
    edited into something else."""


class TrainingError(SerError, RuntimeError):
    """A run cannot start or go on; the message says why and what to do."""


class NonFiniteLossError(TrainingError):
    """The training loss became NaN or infinite."""

    exit_code = 1


def no_space_left(error: BaseException) -> bool:
    """Whether `error` says the disk (or quota) is full, as an OSError or in a library's own exception."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return "No space left on device" in str(error) or "file write failed" in str(error)


def disk_full(folder) -> OutputError:
    """The one-line error for a full disk while writing into `folder`."""
    return OutputError(
        f"{folder}: no space left on device; free some space there, or set SER_OUTPUT_DIR to a folder on another disk"
    )


# Optional packages and the install line that brings each (the package's own extras, see pyproject.toml).
OPTIONAL_PACKAGES = {
    "onnx": "pip install 'ser-utils[onnx]' (or: pip install onnx)",
    "onnxruntime": "pip install 'ser-utils[onnx]' (or: pip install onnxruntime)",
    "gradio": "pip install 'ser-utils[demo]' (or: pip install gradio)",
}
INTERRUPTED = 130  # the shell's code for a command ended by Ctrl-C


class MissingPackageError(SerError, ImportError):
    """An optional package that a command needs is not installed."""


def require(*modules: str, purpose: str) -> None:
    """Raise MissingPackageError, naming the install command, unless every optional package in `modules` can be
    imported; call it before a command writes anything."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise MissingPackageError(
                f"{purpose} needs {module}, which is not installed; {OPTIONAL_PACKAGES[module]}"
            ) from error


# The libraries whose APIs the project follows, and the versions it supports: pyproject.toml declares the same range
# (a test checks), .ci/lowest.txt holds its floors.
SUPPORTED = {"torch": ">=2.6.0,<3", "transformers": ">=4.57.1,<6", "accelerate": ">=1.3.0,<2", "datasets": ">=3.0.0,<6"}


def check_versions() -> None:
    """Raise MissingPackageError, naming the upgrade, when an installed library is outside SUPPORTED (an older
    transformers that `pip install --no-deps` of the wheel kept, say); call it before a run does any work."""
    from importlib import metadata

    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    for name, supported in SUPPORTED.items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:  # importable without a distribution record: nothing to compare
            continue
        if Version(installed) not in SpecifierSet(supported):
            raise MissingPackageError(
                f"{name} {installed} is installed, but ser-utils supports {name}{supported}: upgrade it with "
                f"pip install '{name}{supported}' (without internet, e.g. on Kaggle: attach a wheel of it)"
            )


def _freeze_heap() -> None:
    """At a command's exit: collect what is garbage now (its finalizers run), then freeze the rest, so that the
    interpreter's last collection skips the objects that importing torch and transformers made (over a second of
    a 2-core CPU at every run's end)."""
    gc.collect()
    gc.freeze()


def command_line(prefix: str = "error"):
    """Decorate a command line's `main(argv) -> int`: a SerError becomes `<prefix>: <message>` on stderr and its
    exit code, and so does a full disk; Ctrl-C ends it with one line and exit code 130 (files are written under
    temporary names, so nothing half-written is left); a pickle that torch refuses to load is one line; a reader
    that closes the pipe early (`| head`) ends the command quietly; anything else propagates with its traceback."""

    def decorate(main):
        @functools.wraps(main)
        def guarded(argv: list[str] | None = None) -> int:
            if argv is None:  # the program itself (a console script, python -m), not a call from Python
                atexit.register(_freeze_heap)  # registered first, so it runs after the libraries' own handlers
            try:
                return main(argv)
            except SerError as error:
                print(f"{prefix}: {error}", file=sys.stderr)
                return error.exit_code
            except KeyboardInterrupt:
                print(
                    f"{prefix}: interrupted; nothing half-written is left and finished files are kept (a "
                    "training run continues from its last checkpoint with --resume)",
                    file=sys.stderr,
                )
                return INTERRUPTED
            except pickle.UnpicklingError as error:
                print(
                    f"{prefix}: a pickled file was refused as unsafe to load ({str(error).splitlines()[0]}); use "
                    "a .safetensors copy, or a file from a source you trust",
                    file=sys.stderr,
                )
                return SerError.exit_code
            except BrokenPipeError:
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
                return 0
            except OSError as error:
                if not no_space_left(error):
                    raise
                folder = os.path.dirname(error.filename) if error.filename else "the output folder"
                print(f"{prefix}: {disk_full(folder)}", file=sys.stderr)
                return OutputError.exit_code

        return guarded

    return decorate
