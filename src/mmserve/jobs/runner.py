"""The job runner: one background thread per app that runs queued jobs, one at a time.

Jobs are records in the store (store/jobs.py), so they outlive the process: on start the
runner resumes every "interrupted" job (its process stopped or died while running it),
then takes "queued" jobs oldest first. POST /v1/jobs wakes it; otherwise it polls, so jobs
queued by another process (the CLI, a second server) are found too.

Stopping (server shutdown) is cooperative like cancellation: the running job stops at its
next `ctx.progress()`/`ctx.check()` and is left "interrupted", to resume on the next start.
Several servers may share a data directory: each pass of a runner first takes the
directory's job lock (flock on jobs.lock, non-blocking), so only one process runs jobs at
a time and two never claim the same queued job (the store's state check is not a
compare-and-swap). A process that dies releases the lock with it; another server's runner
takes it at its next poll and resumes the dead one's job.
"""

from __future__ import annotations

import fcntl
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmserve.errors import ClientError
from mmserve.jobs.registry import get_job_type, parse_params
from mmserve.store import Job, SearchStore

log = logging.getLogger("mmserve.jobs")
POLL_S = 2.0  # how often an idle runner looks for jobs queued by another process
LOADING_POLL_S = 0.1  # while models load: start queued jobs soon after they are ready
STOP_TIMEOUT_S = 30.0
LOCK_FILE = "jobs.lock"  # in the data directory


class JobStopped(Exception):
    """Raised at a job's checkpoint when it was cancelled or the runner is stopping."""


@dataclass
class JobContext:
    job: Job
    store: SearchStore
    pool: Any  # mmserve.batching.pool.ModelPool, or None where no models are served
    config: Any  # mmserve.config.Config
    resumed: bool = False
    stopping: threading.Event = field(default_factory=threading.Event)
    # (method, url, body) -> (status, JSON body, request id): calls the server's own routes
    # at a lower priority than clients' requests (batches use it); None outside a server
    dispatch: Any = None

    def check(self) -> None:
        """Raise JobStopped if the job was cancelled or the runner is stopping."""
        if self.stopping.is_set():
            raise JobStopped("runner stopping")
        if self.store.jobs.get(self.job.id).cancel_requested:
            raise JobStopped("cancelled")

    def progress(self, done: int, total: int | None = None) -> None:
        """Save progress (durably), then check for cancellation."""
        self.job = self.store.jobs.update(self.job.id, done=done, total=total)
        self.check()


class JobRunner:
    def __init__(
        self,
        store: SearchStore,
        pool: Any,
        config: Any,
        *,
        poll_s: float = POLL_S,
        dispatch: Any = None,
    ):
        self.store = store
        self.pool = pool
        self.config = config
        self.poll_s = poll_s
        self.dispatch = dispatch  # see JobContext.dispatch
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="mmserve-jobs", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop after the running job's next checkpoint (it becomes "interrupted")."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    def run_pending(self) -> int:
        """Run every interrupted, then every queued job, now, in this thread (the loop's
        body; also what the CLI calls). Returns how many ran."""
        ran = 0
        while not self._stopping.is_set():
            job = self._next()
            if job is None:
                return ran
            self.run(job)
            ran += 1
        return ran

    def run(self, job: Job) -> Job:
        resumed = job.state == "interrupted"
        try:
            kind = get_job_type(job.type)
            params = parse_params(kind, job.params)
        except ClientError as e:
            return self.store.jobs.update(job.id, state="failed", error=e.message)
        job = self.store.jobs.update(job.id, state="running", error=None)
        ctx = JobContext(
            job, self.store, self.pool, self.config, resumed, self._stopping, self.dispatch
        )
        log.info("job %s (%s) %s", job.id, job.type, "resumed" if resumed else "started")
        try:
            result = kind.run(ctx, params)
        except JobStopped:
            state = "interrupted" if self._stopping.is_set() else "cancelled"
            return self.store.jobs.update(job.id, state=state)
        except ClientError as e:
            return self.store.jobs.update(job.id, state="failed", error=e.message)
        except Exception:
            log.exception("job %s (%s) failed", job.id, job.type)
            return self.store.jobs.update(
                job.id, state="failed", error="internal error; the server log has the traceback"
            )
        return self.store.jobs.update(job.id, state="succeeded", result=result)

    def _next(self) -> Job | None:
        # The store marks jobs of dead processes when it opens; a process that died later
        # (or whose exit was not yet reaped at our start: a zombie looks alive) is found here.
        self.store.jobs.interrupt_orphans()
        interrupted = self.store.jobs.list(state="interrupted", limit=1)
        if interrupted:
            return interrupted[0]
        queued = self.store.jobs.list(state="queued", limit=10_000)  # newest first
        return queued[-1] if queued else None

    def _models_loading(self) -> bool:
        runners = getattr(self.pool, "runners", {})
        return any(r.state == "loading" for r in runners.values())

    def _loop(self) -> None:
        while not self._stopping.is_set():
            loading = self._models_loading()  # jobs wait: every embedding would be a 503
            try:
                if not loading:
                    with job_lock(Path(self.store.data_dir) / LOCK_FILE) as ours:
                        if ours:  # else another process is running jobs from this store
                            self.run_pending()
            except Exception:  # a store error must not end the thread for good
                log.exception("job runner: looking for jobs failed; retrying")
            self._wake.wait(LOADING_POLL_S if loading else self.poll_s)
            self._wake.clear()


@contextmanager
def job_lock(path: Path) -> Iterator[bool]:
    """Whether this runner holds the data directory's job lock for the block."""
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
