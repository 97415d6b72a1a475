"""The 400 for a path a client names (a media file, a folder to index, a fusion model to
register): the rule itself is `mmserve.files.confined` (text that is no path refused before
any system call; '..' and symlinks followed; the result must stay inside a root). This module
only names the field and says what to do, so every such field fails the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mmserve.errors import InvalidRequest
from mmserve.files import UnusablePath, confined
from mmserve.media.formats import clip


def confined_path(
    raw: str,
    roots: Sequence[Path],
    *,
    field: str,
    outside: str,
    code: str = "path_not_allowed",
) -> Path:
    """`raw` resolved by `files.confined` inside `roots` (relative paths: to roots[0]).
    InvalidRequest naming `field` otherwise: code 'invalid_path' for text that is no path;
    `code`, saying `outside` (where the path is and what to do), for a path outside."""
    try:
        resolved = confined(raw, roots)
    except UnusablePath as e:
        raise InvalidRequest(
            f"{field}: path {clip(raw)} {e}", param=field, code="invalid_path"
        ) from None
    if resolved is None:
        raise InvalidRequest(f"{field}: path {clip(raw)} is {outside}", param=field, code=code)
    return resolved
