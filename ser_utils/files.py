"""Where the project writes, and how: the outputs and figures folders, and atomic writes.

Every file is written under a temporary name in its own folder and then renamed, so that readers see the old
file or the complete new one, never a half-written one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from pathlib import Path

from ser_utils.config import PROJECT_ROOT
from ser_utils.errors import NotFoundError, OutputError, RecordError, disk_full, no_space_left


def _home() -> Path:
    """The checkout when it is writable, else the working directory (e.g. /kaggle/working)."""
    if (PROJECT_ROOT / "pyproject.toml").is_file() and os.access(PROJECT_ROOT, os.W_OK):
        return PROJECT_ROOT
    return Path.cwd()


def outputs_dir() -> Path:
    """Root for run products: $SER_OUTPUT_DIR when set, else <home>/outputs."""
    override = os.environ.get("SER_OUTPUT_DIR")
    return Path(override) if override else _home() / "outputs"


def figures_dir() -> Path:
    """Where the three report figures go: <home>/figures, or $SER_OUTPUT_DIR/figures when set."""
    override = os.environ.get("SER_OUTPUT_DIR")
    return Path(override) / "figures" if override else _home() / "figures"


OWNED_MARKER = ".ser-utils-output"  # in every folder a command made to write into: its files are the project's


def file_digest(path: str | os.PathLike, algorithm: str = "md5") -> str:
    """The hex digest of a file's bytes, read in blocks (memory stays small for long recordings)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def claim_folder(folder: str | os.PathLike, made_by: tuple[str, ...] = (), what: str = "--out") -> Path:
    """Make sure that `folder` is one this project may write into, and mark it: a new or empty folder, or one it
    wrote before (it holds OWNED_MARKER, or a file named in `made_by` from an earlier version). A folder holding
    anything else is the user's: OutputError, naming it and `what` to change, before anything is written."""
    folder = Path(folder)
    marker = folder / OWNED_MARKER
    if folder.is_dir() and not marker.is_file():
        others = sorted(p.name for p in folder.iterdir())
        if others and not any((folder / name).exists() for name in made_by):
            raise OutputError(
                f"{folder}: holds files this project did not write ({', '.join(others[:3])}"
                f"{', ...' if len(others) > 3 else ''}); it writes only into a new or empty folder, or one it wrote "
                f"before, so that no file of yours is replaced or removed: choose another {what}"
            )
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder}: is a file, not a folder; choose another {what}")
    check_writable(folder)
    if not marker.is_file():
        marker.write_text("Written by ser_utils: its commands replace or remove only files they wrote here.\n")
    return folder


def check_apart(out_dir: str | os.PathLike, folders=(), files=(), what: str = "--out") -> None:
    """Refuse (OutputError) an output folder that is, lies inside or holds one of the `folders` a command reads, or
    holds one of its `files`: writing there could overwrite or remove a user's recordings."""
    out = Path(os.path.realpath(out_dir))
    real = [(path, Path(os.path.realpath(path))) for path in (*folders, *files)]
    clash = [path for path, p in real if p.is_relative_to(out) or (path in folders and out.is_relative_to(p))]
    if clash:
        raise OutputError(
            f"{out_dir}: the output folder overlaps what it reads ({clash[0]}); no command writes among its sources: "
            f"choose another {what}, outside the data folders"
        )


# Temporary files are named .<name>.<pid>.<random>.tmp, so a later run can tell an abandoned one from a live one.
_TEMPORARY = re.compile(r"^\..+\.(?P<pid>\d+)\.[^.]+\.tmp$")


@contextlib.contextmanager
def writing(path: str | os.PathLike):
    """Yield a temporary path beside `path`; when the block succeeds, rename it to `path` in one step.

    A failed or killed writer leaves at most a hidden temporary file, which `remove_abandoned` deletes later.
    A device or pipe (/dev/null, a FIFO) is written in place: renaming a file over it would replace it.
    """
    path = Path(path)
    if path.exists() and not path.is_file() and not path.is_dir():
        yield path
        return
    with space_checked(path.parent):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
        os.close(fd)
        try:
            yield Path(tmp)
            os.chmod(tmp, 0o644)  # mkstemp makes files private; outputs are ordinary files
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)


@contextlib.contextmanager
def space_checked(folder: str | os.PathLike):
    """Turn a full disk while writing into `folder` (an OSError, or a library's error saying so) into one
    OutputError naming the folder."""
    try:
        yield
    except OutputError:
        raise
    except Exception as error:
        if no_space_left(error):
            raise disk_full(folder) from error
        raise


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_abandoned(folder: str | os.PathLike) -> int:
    """Delete temporary files under `folder` left by writers that no longer run; return how many."""
    removed = 0
    for path in Path(folder).rglob(".*.tmp"):
        match = _TEMPORARY.match(path.name)
        if match and not _alive(int(match["pid"])):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def check_output_file(path: str | os.PathLike) -> Path:
    """Raise OutputError (one line, naming the file and the fix) unless `path` can be written: its folder exists
    and takes new files, and it is not a folder itself. Returns the path."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; name a file to write, e.g. {path / 'predictions.csv'}")
    if path.exists() and not path.is_file():  # a device or pipe, such as /dev/null
        if not os.access(path, os.W_OK):
            raise OutputError(f"{path}: cannot be written; write elsewhere")
        return path
    if not path.parent.is_dir():
        raise OutputError(f"{path}: its folder {path.parent} does not exist; create it or write elsewhere")
    try:
        _probe(path.parent)
    except OutputError:
        raise
    except OSError as error:
        raise OutputError(f"{path}: cannot write into {path.parent} ({error.strerror}); write elsewhere") from error
    return path


def check_not_theirs(path: str | os.PathLike, heads: tuple[bytes, ...], command: str) -> None:
    """OutputError, before any work, where `path` is an existing file that `command` did not write (it starts with
    none of `heads`, the starts of that command's outputs): writing there would destroy a file of the user's."""
    path = Path(path)
    if not path.is_file():
        return
    with open(path, "rb") as handle:
        head = handle.read(max(map(len, heads)))
    if not head.startswith(heads):
        raise OutputError(
            f"{path}: exists and is not an earlier {command} output, so it is left as it is; name a "
            "new file, or delete it first"
        )


def check_writable(folder: str | os.PathLike) -> None:
    """Raise OutputError (one line, naming the folder and the fix) unless files can be created in `folder`."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _probe(folder)
    except OSError as error:
        if no_space_left(error):
            raise disk_full(folder) from error
        raise OutputError(
            f"{folder}: cannot write here ({error.strerror}); set SER_OUTPUT_DIR to a writable folder"
        ) from error


def _probe(folder: Path) -> None:
    """Create and delete a file of this process's own in `folder` (two runs checking one folder never collide)."""
    with space_checked(folder):
        fd, name = tempfile.mkstemp(dir=folder, prefix=f".write-test.{os.getpid()}.", suffix=".tmp")
        os.close(fd)
        os.remove(name)


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, waiting: str = "", name: str = ".lock"):
    """Hold an exclusive lock on `folder` (its file `name`) for the block, so that runs writing the same folder
    take turns; when another run holds it, print `waiting` (if given) once and wait. The operating system
    releases the lock when its holder exits, however it ends. Where there is no fcntl (Windows), no lock."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / name, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting:
                print(waiting, flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def walk_files(root: str | os.PathLike, max_depth: int | None = None, skipped: list | None = None) -> list[Path]:
    """Every file under `root` (down to `max_depth` folders below it), sorted by path, following links to folders
    within reason: a link to a folder that holds `root` (a loop, or a link to /) or to a folder already walked is
    not followed, and neither is a folder that cannot be read; each is added to `skipped` as {"path", "reason"}."""
    root = Path(root)
    real_root = os.path.realpath(root)
    walked = {real_root}
    files = []
    pending = [(root, 0)]
    note = (lambda path, reason: skipped.append({"path": str(path), "reason": reason})) if skipped is not None else None
    while pending:
        folder, depth = pending.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError as error:
            if note and folder != root:
                note(folder, f"a folder that cannot be read ({error.strerror}): skipped")
            continue
        for entry in entries:
            path = Path(entry.path)
            if not _is_folder(entry):
                files.append(path)
            elif max_depth is None or depth < max_depth:
                reason = _not_followed(entry, real_root, walked)
                if reason and note:
                    note(path, reason)
                if not reason:
                    walked.add(os.path.realpath(path))
                    pending.append((path, depth + 1))
    return sorted(files)


def _is_folder(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _not_followed(entry: os.DirEntry, real_root: str, walked: set[str]) -> str:
    """Why a folder met while walking is not entered ("" when it is): a link that loops back above the walk's root
    (or to /), or to a folder walked already."""
    if not entry.is_symlink():
        return ""
    target = os.path.realpath(entry.path)
    if target == os.path.dirname(target) or real_root == target or real_root.startswith(target.rstrip(os.sep) + os.sep):
        return f"a link to {target}, a folder that holds this one (a loop): not followed"
    if target in walked:
        return f"a link to {target}, a folder read already: not followed"
    return ""


def read_table(path: str | os.PathLike, columns, fix: str = "train the run again"):
    """A CSV table the project wrote (a pandas DataFrame), with at least `columns`; RecordError, naming the file,
    what is wrong and `fix`, for one that cannot be parsed, is empty or lacks one of them."""
    import pandas as pd  # here: the foundation modules import no pandas

    try:
        table = pd.read_csv(path)
    except FileNotFoundError:
        raise NotFoundError(f"{path}: no such file; {fix}") from None
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as error:  # EmptyDataError: a ValueError
        reason = (str(error).splitlines() or ["empty"])[0]
        raise RecordError(f"{path}: cannot be read as a table ({reason}); it was damaged: {fix}") from error
    if missing := [column for column in columns if column not in table]:
        raise RecordError(
            f"{path}: lacks the column(s) {', '.join(missing)}; it was edited or is not this project's: {fix}"
        )
    return table
