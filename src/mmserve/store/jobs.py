"""Job records: persistence only (running jobs is a job runner's business, not the store's).

States and the moves allowed between them:

    queued ──► running ──► succeeded | failed | cancelled
      │          │
      │          └──► interrupted ──► queued | running | cancelled | failed
      └──► cancelled

"interrupted": the process running the job died. On open, the store marks so every
"running" job whose owner process (host, pid and start time, recorded when it went
"running") is gone; a runner resumes it by moving it back to "running" (a folder indexer
uses the ingest-progress table to skip what it already did). Not automatically "queued":
the runner decides whether a half-done job should start over, resume, or be failed.
Jobs owned by a live process, or by another host, are left alone.

Cancellation is cooperative: request_cancel() cancels a queued or interrupted job at
once, and only flags a running one; its runner checks `cancel_requested` between steps.
"""

from __future__ import annotations

import builtins
import json
import os
import secrets
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmserve.errors import InvalidRequest, NotFound
from mmserve.store.db import Database

STATES = ("queued", "running", "succeeded", "failed", "cancelled", "interrupted")
FINAL = ("succeeded", "failed", "cancelled")
MOVES = {
    "queued": ("running", "cancelled"),
    "running": ("succeeded", "failed", "cancelled", "interrupted"),
    "interrupted": ("queued", "running", "cancelled", "failed"),
}
COLUMNS = "id, type, state, done, total, params, result, error, cancel_requested, "
COLUMNS += "created_at, updated_at"
UNSET: Any = object()  # "leave this field as it is" in update()


@dataclass(frozen=True)
class Job:
    id: str
    type: str
    state: str
    done: int  # progress: units finished
    total: int | None  # progress: units in all, None while unknown
    params: dict[str, Any]
    result: Any
    error: str | None
    cancel_requested: bool
    created_at: float
    updated_at: float


class JobStore:
    def __init__(self, db: Database):
        self.db = db

    def create(self, type: str, params: dict[str, Any] | None = None) -> Job:
        job_id = secrets.token_hex(16)
        now = time.time()
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO jobs (id, type, state, params, created_at, updated_at)"
                " VALUES (?, ?, 'queued', ?, ?, ?)",
                (job_id, type, _json(params or {}, "params"), now, now),
            )
        return self.get(job_id)

    def get(self, job_id: str) -> Job:
        with self.db.read() as conn:
            row = conn.execute(f"SELECT {COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise NotFound(f"job {job_id!r} does not exist", param="job_id")
        return _job(row)

    def list(
        self, *, state: str | None = None, type: str | None = None, limit: int = 100
    ) -> builtins.list[Job]:
        """Newest first."""
        if state is not None and state not in STATES:
            raise InvalidRequest(f"state must be one of {', '.join(STATES)}", param="state")
        with self.db.read() as conn:
            rows = conn.execute(
                f"SELECT {COLUMNS} FROM jobs WHERE (?1 IS NULL OR state = ?1)"
                " AND (?2 IS NULL OR type = ?2) ORDER BY created_at DESC, id LIMIT ?3",
                (state, type, limit),
            ).fetchall()
        return [_job(row) for row in rows]

    def update(
        self,
        job_id: str,
        *,
        state: str = UNSET,
        done: int = UNSET,
        total: int | None = UNSET,
        result: Any = UNSET,
        error: str | None = UNSET,
    ) -> Job:
        """Change what is given; a state change must be one of MOVES."""
        changes: dict[str, Any] = {}
        with self.db.write() as conn:
            current = self.get(job_id)
            if state is not UNSET and state != current.state:
                if state not in MOVES.get(current.state, ()):
                    raise InvalidRequest(
                        f"job {job_id} is {current.state}; it cannot become {state!r}",
                        param="state",
                    )
                changes["state"] = state
                changes["owner"] = _this_process() if state == "running" else None
            for name, value in (("done", done), ("total", total), ("error", error)):
                if value is not UNSET:
                    changes[name] = value
            if result is not UNSET:
                changes["result"] = _json(result, "result")
            changes["updated_at"] = time.time()
            assignments = ", ".join(f"{name} = ?" for name in changes)
            conn.execute(f"UPDATE jobs SET {assignments} WHERE id = ?", (*changes.values(), job_id))
        return self.get(job_id)

    def request_cancel(self, job_id: str) -> Job:
        """Cancel a job that is not running; flag a running one for its runner to stop."""
        with self.db.write() as conn:
            job = self.get(job_id)
            if job.state in ("queued", "interrupted"):
                conn.execute(
                    "UPDATE jobs SET state = 'cancelled', cancel_requested = 1, updated_at = ?"
                    " WHERE id = ?",
                    (time.time(), job_id),
                )
            elif job.state == "running":
                conn.execute(
                    "UPDATE jobs SET cancel_requested = 1, updated_at = ? WHERE id = ?",
                    (time.time(), job_id),
                )
        return self.get(job_id)

    def interrupt_orphans(self) -> builtins.list[str]:
        """Mark "interrupted" the running jobs whose process on this host has died."""
        with self.db.write() as conn:
            rows = conn.execute("SELECT id, owner FROM jobs WHERE state = 'running'").fetchall()
            orphans = [job_id for job_id, owner in rows if _owner_is_dead(owner)]
            conn.executemany(
                "UPDATE jobs SET state = 'interrupted', owner = NULL, updated_at = ? WHERE id = ?",
                [(time.time(), job_id) for job_id in orphans],
            )
        return orphans


def _this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{_start_time(os.getpid())}"


def _owner_is_dead(owner: str | None) -> bool:
    if not owner:
        return True
    host, pid, started = owner.rsplit(":", 2)
    if host != socket.gethostname():
        return False  # can't tell from here; another host's store opens will
    # The start time guards against a new process that was given the dead one's pid.
    return _start_time(int(pid)) != started


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot ("" if no such process)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)  # no /proc (not Linux): alive or not is all we can tell
        except ProcessLookupError:
            return ""
        except PermissionError:
            pass
        return "alive"
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, counted after "(comm)"


def _json(value: Any, name: str) -> str:
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise InvalidRequest(f"job {name} must be JSON-serialisable: {e}", param=name) from e


def _job(row: tuple[Any, ...]) -> Job:
    job_id, type_, state, done, total, params, result, error, cancel, created, updated = row
    return Job(
        id=job_id,
        type=type_,
        state=state,
        done=done,
        total=total,
        params=json.loads(params),
        result=None if result is None else json.loads(result),
        error=error,
        cancel_requested=bool(cancel),
        created_at=created,
        updated_at=updated,
    )
