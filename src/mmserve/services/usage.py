"""Usage per caller and unit: counted in memory, persisted at most every second.

Amounts come from mmserve.media.metering (what the decoders and embedders processed). They are
added to a pending table that a background thread writes to SQLite every `flush_s`
(default 1 s), so counting costs a dictionary update per amount, not a write per request.
A clean stop flushes; a crash (kill -9, power cut) loses at most the last `flush_s` of
counts. Quotas compare stored + pending counts of the caller's current period (a UTC day
or month) with the key's quota before a request runs: a request that starts under the
quota finishes, so a period can end slightly over it.
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mmserve.errors import QuotaExceeded
from mmserve.metrics import labelled
from mmserve.store.usage import UsageStore

log = logging.getLogger("mmserve.usage")


@dataclass(frozen=True)
class Period:
    name: str  # "day" or "month"
    first_day: str  # YYYY-MM-DD, UTC
    last_day: str
    resets_at: float  # unix seconds: when the next period starts

    def public(self) -> dict[str, Any]:
        return {
            "period": self.name,
            "start": self.first_day,
            "end": self.last_day,
            "resets_at": _iso(self.resets_at),
        }


def period_of(now: float, name: str) -> Period:
    """The UTC day or month that `now` (unix seconds) falls in."""
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    if name == "day":
        first = last = today
    elif name == "month":
        first = today.replace(day=1)
        last = today.replace(day=calendar.monthrange(today.year, today.month)[1])
    else:
        raise ValueError(f"period must be 'day' or 'month', got {name!r}")
    following = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), dt.UTC)
    return Period(name, first.isoformat(), last.isoformat(), following.timestamp())


class UsageMeter:
    def __init__(
        self,
        store: UsageStore,
        *,
        flush_s: float = 1.0,
        clock: Callable[[], float] = time.time,
        counter: Any = None,  # a prometheus Counter labelled (key, unit)
    ):
        self.store = store
        self.flush_s = flush_s
        self.clock = clock
        self.counter = labelled(counter) if counter is not None else None  # (key, unit)
        self._pending: defaultdict[tuple[str, str, str], float] = defaultdict(float)
        self._writing: Mapping[tuple[str, str, str], float] = {}
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="usage-flush", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the flusher and write what is pending (a clean shutdown loses nothing)."""
        self._stop.set()
        # The app's finalizer runs on whichever thread the garbage collector happens to run
        # in, this flusher included: a thread cannot join itself (it stops at its next wait).
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self.flush()

    def add(self, principal: str, unit: str, amount: float) -> None:
        day = dt.datetime.fromtimestamp(self.clock(), dt.UTC).date().isoformat()
        with self._lock:
            self._pending[(principal, day, unit)] += amount
        if self.counter is not None:
            self.counter(principal, unit).inc(amount)

    def totals(self, principal: str, period: Period) -> dict[str, float]:
        """Stored plus pending amounts of `principal` in `period`."""
        totals = defaultdict(float, self.store.totals(principal, period.first_day, period.last_day))
        with self._lock:
            for source in (self._writing, self._pending):
                for (who, day, unit), amount in source.items():
                    if who == principal and period.first_day <= day <= period.last_day:
                        totals[unit] += amount
        return dict(totals)

    def check_quota(
        self, principal: str, quotas: Mapping[str, float], period_name: str, units: tuple[str, ...]
    ) -> None:
        """Raise QuotaExceeded if any of `units` is used up for this period."""
        limited = [u for u in units if u in quotas]
        if not limited:
            return
        period = period_of(self.clock(), period_name)
        used = self.totals(principal, period)
        for unit in limited:
            if used.get(unit, 0.0) >= quotas[unit]:
                retry = max(1, int(period.resets_at - self.clock()))
                raise QuotaExceeded(
                    f"quota exceeded: {used[unit]:g} of {quotas[unit]:g} {unit} used this "
                    f"{period.name}; it resets at {_iso(period.resets_at)}",
                    param=unit,
                    retry_after_s=retry,
                )

    def flush(self) -> None:
        with self._flush_lock:
            with self._lock:
                if not self._pending:
                    return
                self._writing, self._pending = self._pending, defaultdict(float)
            try:
                self.store.add((*key, amount) for key, amount in self._writing.items())
            except Exception:
                log.exception("writing usage counts failed; they are kept for the next flush")
                with self._lock:
                    for key, amount in self._writing.items():
                        self._pending[key] += amount
            finally:
                with self._lock:
                    self._writing = {}

    def _run(self) -> None:
        while not self._stop.wait(self.flush_s):
            self.flush()


def _iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
