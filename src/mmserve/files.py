"""Two file-system rules every layer needs, written once:

    replaced_atomically(path, mode=None)   a temporary path to write; renamed over `path`
    write_atomically(path, data | write)   the same, for bytes or a writer of a binary file
    replaced_dir_atomically(path)          a temporary folder to fill; renamed to `path`
    confined(raw, roots)                   a client's path resolved inside allowed folders

A file replaced atomically is fsync'd before the rename and its folder after, so readers
(other threads, other processes) see the old file or the whole new one, and after a power
loss it is one of those too, never a torn or empty file. Pure standard library: no Flask,
no models.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import BinaryIO


@contextmanager
def replaced_atomically(path: Path, *, mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path` for the caller to write (by path: an exporter, an
    index's save). On a clean exit it is fsync'd, given `mode` (mkstemp makes files private;
    0o644 for caches shared by processes) and renamed over `path`; on an error it is removed.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    temporary = Path(name)
    try:
        yield temporary
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_atomically(
    path: Path, data: bytes | Callable[[BinaryIO], object], *, mode: int | None = None
) -> None:
    """Replace `path` with `data`, or with what `data(file)` writes to a binary file."""
    with replaced_atomically(path, mode=mode) as temporary, open(temporary, "wb") as file:
        if isinstance(data, bytes):
            file.write(data)
        else:
            data(file)


@contextmanager
def replaced_dir_atomically(path: Path) -> Iterator[Path]:
    """Yield a new empty folder beside `path` for the caller to fill. On a clean exit it
    replaces `path` (an existing folder there is removed first) and the parent is fsync'd,
    so a reader never finds a half-written folder at `path`; on an error it is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
    try:
        yield staging
        if path.exists():
            shutil.rmtree(path)
        staging.rename(path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """Make the folder's entries (a rename, a new file) durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


PATH_MAX_CHARS = 1024  # far below Linux's PATH_MAX (4096 bytes), above any sane client path
NAME_MAX_BYTES = 255  # one path part, in UTF-8: NAME_MAX of Linux file systems


def path_text_problem(raw: str) -> str | None:
    """Why `raw` cannot be a path (said after "path 'x' ..."), or None. Checked before any
    system call, where such text raises ValueError or OSError(ENAMETOOLONG)."""
    if not raw:
        return "is empty"
    if "\x00" in raw:
        return "holds a NUL character"
    if len(raw) > PATH_MAX_CHARS:
        return f"is {len(raw):,} characters long; the limit is {PATH_MAX_CHARS}"
    try:
        parts = [part.encode() for part in PurePosixPath(raw).parts]
    except UnicodeEncodeError:
        return "holds a lone surrogate (not valid Unicode)"
    if any(len(part) > NAME_MAX_BYTES for part in parts):
        return f"has a part longer than {NAME_MAX_BYTES} bytes"
    return None


class UnusablePath(ValueError):
    """A client's path that is no path (see path_text_problem) or cannot be resolved (a
    symlink loop); its message says why, to follow "path 'x' "."""


def confined(raw: str | Path, roots: Sequence[Path]) -> Path | None:
    """`raw` resolved against roots[0] (an absolute `raw` replaces it), every symlink followed
    and every '..' collapsed, if the result lies inside one of `roots`; None if it does not.
    The security rule for every path a client names (server-side media files, folders to
    index, fusion data and artefacts); the caller says in its error what to do instead
    (media.paths.confined_path turns both outcomes into the 400 naming the field).
    UnusablePath for text that is no path or a path that does not resolve."""
    problem = path_text_problem(str(raw))
    if problem:
        raise UnusablePath(problem)
    resolved_roots = [Path(root).resolve() for root in roots]
    try:
        path = (resolved_roots[0] / raw).resolve()
    except (OSError, RuntimeError, ValueError) as e:  # symlink loops
        raise UnusablePath(f"is invalid ({type(e).__name__})") from e
    return path if any(path.is_relative_to(root) for root in resolved_roots) else None
