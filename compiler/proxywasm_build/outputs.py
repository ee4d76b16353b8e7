"""Where commands write what the user asked for: checked first, written whole, errors as one sentence.

Every command that writes a file or a project the user named (`build -o`, `pull -o`,
`deploy --out`, `init DIR`, `skeleton -o DIR`) goes through here, so an unwritable, missing or
wrong output location is one sentence before any work is done, never a traceback afterwards.
A missing parent directory is an error, not something to create: a typo in `--out` must not
leave a stray directory tree behind.
"""

from __future__ import annotations

import errno
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from proxywasm_build.errors import UserError

_REASONS = {
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "the file system is read-only",
    errno.ENOSPC: "no space is left on the device",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EISDIR: "it is a directory",
    errno.ENOTDIR: "a part of the path is not a directory",
    errno.ENOENT: "that location does not exist or does not take new files",
}


def os_error_reason(err: OSError) -> str:
    """A short lower-case reason for an OSError, without the errno number or the path."""
    return _REASONS.get(err.errno, (err.strerror or str(err)).rstrip(".").lower())


@contextmanager
def writing(path: Path | str, verb: str = "write") -> Iterator[None]:
    """Turn an OSError raised while writing `path` into one sentence naming it."""
    try:
        yield
    except OSError as err:
        raise UserError(f"cannot {verb} {path}: {os_error_reason(err)}.") from None


def _check_parent(path: Path, verb: str) -> Path:
    parent = path.absolute().parent
    shown = path.parent if str(path.parent) != "." else parent
    if not parent.exists():
        raise UserError(f"cannot {verb} {path}: the directory {shown} does not exist.")
    if not parent.is_dir():
        raise UserError(f"cannot {verb} {path}: {shown} is not a directory.")
    # Permission bits do not tell (root, read-only mounts, /proc): try creating a file there.
    with writing(path, verb):
        tempfile.NamedTemporaryFile(dir=parent, prefix=f".{path.name}.probe").close()
    return parent


def check_output_file(path: Path | str) -> Path:
    """Check, before any work, that `path` can be written as a file; return it as a Path.

    Its directory must already exist and take new files, and `path` must not be a directory.
    """
    path = Path(path)
    if path.is_dir():
        raise UserError(f"cannot write {path}: it is a directory; give a file name.")
    _check_parent(path, "write")
    return path


def check_output_directory(directory: Path | str) -> Path:
    """Check, before any work, that `directory` can be created (or filled, when new or empty).

    Creating `directory` itself is the caller's job; its parent must already exist.
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise UserError(f"{directory} exists and is not a directory.")
    if directory.is_dir() and any(directory.iterdir()):
        raise UserError(f"{directory} is not empty; choose a new or empty directory.")
    _check_parent(directory, "create")
    return directory


def output_file_option_check(ctx: object, param: object, value: Path | str | None) -> Path | str | None:
    """A click option callback (`-o`, `--out`): check the file can be written, before any work."""
    if value is not None:
        check_output_file(value)
    return value


def write_output(path: Path | str, data: bytes) -> Path:
    """Write `data` to the user's `path` whole (temporary file and rename), or raise one sentence."""
    from proxywasm_build.cache import atomic_write  # cache uses `writing` from here

    path = check_output_file(path)
    atomic_write(path, data)
    return path
