"""First-run artefacts in the user cache, made once and never seen half-written; loaded
runtimes shared by the models that use the same file.

Several models build a file on their first load: the EfficientNet ONNX export, bridge's
label-anchor embeddings, Whisper base's joined model.bin. On a fresh machine the default
models load in parallel threads, and two servers (or a server and `mmserve fusion train`)
may start together on one cache. So every such file goes through `produce_once`:

  1. a lock per path, process-wide (the loader threads of one server);
  2. an fcntl.flock on `<name>.lock` beside the file (other processes on the same cache);
  3. a second look under both locks: whoever waited finds the file made and only reads it;
  4. written through `files.replaced_atomically` (a temporary file beside it, fsync'd, then
     os.replace'd): a reader that takes no lock sees no file or the whole file.

torch.onnx.export keeps module-global state (GLOBALS.in_onnx_export), so two exports at once
in one process break each other even for different files: `TORCH_EXPORT_LOCK` serialises
every export of the process (models and fusion alike).
"""

from __future__ import annotations

import contextlib
import fcntl
import threading
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs

from mmserve.files import replaced_atomically

if TYPE_CHECKING:
    import onnxruntime

TORCH_EXPORT_LOCK = threading.Lock()

_path_locks: dict[str, threading.Lock] = {}
_path_locks_guard = threading.Lock()
_sessions: weakref.WeakValueDictionary[tuple[str, int, int], onnxruntime.InferenceSession] = (
    weakref.WeakValueDictionary()
)


def cache_root() -> Path:
    """mmserve's user cache: $XDG_CACHE_HOME/mmserve (~/.cache/mmserve) on Linux."""
    return Path(platformdirs.user_cache_dir("mmserve"))


def _thread_lock(path: Path) -> threading.Lock:
    key = str(path.absolute())
    with _path_locks_guard:
        return _path_locks.setdefault(key, threading.Lock())


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold `path`'s lock against the other threads of this process and other processes."""
    with _thread_lock(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_name(path.name + ".lock"), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def produce_once(
    path: Path, write: Callable[[Path], None], *, ready: Callable[[Path], bool] = Path.is_file
) -> Path:
    """`path`, made by `write(temporary_path)` unless `ready(path)` already holds. Only one
    writer at a time, across threads and processes; the others wait and then use its file."""
    if ready(path):
        return path  # the common case, after the first start: no lock at all
    with locked(path):
        if ready(path):
            return path
        with replaced_atomically(path, mode=0o644) as temporary:  # 0o644: a shared cache
            write(temporary)
    return path


def produce_again(path: Path, write: Callable[[Path], None]) -> Path:
    """Replace a file found unusable (truncated by a crash of an older version, foreign).
    If another thread or process replaced it meanwhile, its file is kept."""
    try:
        bad = path.stat().st_ino
    except FileNotFoundError:
        bad = None
    return produce_once(path, write, ready=lambda p: p.is_file() and p.stat().st_ino != bad)


def onnx_session(
    path: Path, build: Callable[[Path], onnxruntime.InferenceSession]
) -> onnxruntime.InferenceSession:
    """One onnxruntime session per graph file in this process: models that run the same
    graph (efficientnet-lite0 and bridge's image encoder, minilm and bridge's text encoder)
    share its weights. onnxruntime allows concurrent `run` calls on one session. Kept while
    some model holds it; keyed by the file's inode and mtime, so a replaced file is reread."""
    stat = path.stat()
    key = (str(path.absolute()), stat.st_ino, stat.st_mtime_ns)
    with _thread_lock(path):
        session = _sessions.get(key)
        if session is None:
            session = build(path)
            _sessions[key] = session
        return session
