"""Paths a client names (a media file, a folder to index, a fusion model to register),
resolved inside the folders the server allows: one check for every such field.

A client string reaches the file system only through `confined_path`. Text no path can be
(NUL bytes, lone surrogates, more than PATH_MAX_CHARS or a part longer than NAME_MAX_BYTES)
is refused before any system call, where it would raise ValueError or OSError(ENAMETOOLONG);
'..' and symlinks are allowed as long as the resolved path stays inside a root.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from mmserve.errors import InvalidRequest
from mmserve.media.formats import clip

PATH_MAX_CHARS = 1024  # far below Linux's PATH_MAX (4096 bytes), above any sane client path
NAME_MAX_BYTES = 255  # one path part, in UTF-8: NAME_MAX of Linux file systems


def path_text_problem(raw: str) -> str | None:
    """Why `raw` cannot be a path, or None."""
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


def confined_path(
    raw: str,
    roots: Sequence[Path],
    *,
    field: str,
    outside: str,
    code: str = "path_not_allowed",
) -> Path:
    """`raw` resolved against roots[0] (an absolute `raw` replaces it), which must fall inside
    one of `roots` (already resolved). InvalidRequest naming `field` otherwise: code
    'invalid_path' for text that is no path; `code`, saying `outside` (where the path is and
    what to do), for a path outside the roots."""
    problem = path_text_problem(raw)
    if problem:
        raise InvalidRequest(
            f"{field}: path {clip(raw)} {problem}", param=field, code="invalid_path"
        )
    try:
        resolved = (roots[0] / raw).resolve()  # every symlink followed, every '..' collapsed
    except (OSError, RuntimeError, ValueError) as e:  # symlink loops
        raise InvalidRequest(
            f"{field}: path {clip(raw)} is invalid", param=field, code="invalid_path"
        ) from e
    if not any(resolved.is_relative_to(root) for root in roots):
        raise InvalidRequest(f"{field}: path {clip(raw)} is {outside}", param=field, code=code)
    return resolved
