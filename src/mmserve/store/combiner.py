"""Concurrent calls of one function gathered into one batched call (leader/follower).

    combiner = Combiner(run_batch=search_many, run_one=search_one)
    result = combiner.run(item)   # from any thread

A call that finds nothing running runs its item at once, alone (no added latency, no timer).
A call that arrives while a run is under way queues its item and waits; when the run ends,
the first waiter takes everything queued and runs it as one batch while the others wait
for their rows. So a busy function runs in batches the size of the concurrency, an idle
one one item at a time.

Why (docs/search-store.md, "Concurrent searches"): a usearch index runs one search call at
a time (the Python binding hands a call's queries to search contexts 0..threads-1 with no
lock of their own, and the search breadth is a setting of the whole index), so one search
per request thread ran one after another on one core; one call with many queries and
`threads=` the cores runs them in parallel.

If a batched call raises, each of its items is run again alone, so an error reaches only
the caller whose item caused it. Not reentrant: run_batch must not call run().
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class _Pending(Generic[T, R]):
    """One caller's item, and what it gets back: its result, its error, or a batch to lead."""

    def __init__(self, item: T):
        self.item = item
        self.done = threading.Event()
        self.result: R | None = None
        self.error: BaseException | None = None
        self.lead: list[_Pending[T, R]] | None = None

    def answer(self) -> R:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]  # set when error is None


class Combiner(Generic[T, R]):
    def __init__(
        self,
        run_batch: Callable[[Sequence[T]], Sequence[R]],
        run_one: Callable[[T], R],
    ):
        self._run_batch = run_batch
        self._run_one = run_one
        self._lock = threading.Lock()
        self._running = False
        self._queued: list[_Pending[T, R]] = []

    def run(self, item: T) -> R:
        pending: _Pending[T, R] = _Pending(item)
        with self._lock:
            leads = not self._running
            if leads:
                self._running = True
            else:
                self._queued.append(pending)
        if not leads:
            pending.done.wait()  # answered, or handed a batch to lead
            if pending.lead is None:
                return pending.answer()
        self._lead(pending.lead or [pending])
        return pending.answer()

    def _lead(self, batch: list[_Pending[T, R]]) -> None:
        try:
            self._answer(batch)
        finally:  # whatever happened, the next batch gets a leader and this one its answers
            self._hand_on()
            for pending in batch:
                pending.done.set()

    def _answer(self, batch: list[_Pending[T, R]]) -> None:
        if len(batch) == 1:
            _settle(batch[0], self._run_one)
            return
        try:
            results = self._run_batch([p.item for p in batch])
        except Exception:  # whose item failed is unknown: each runs alone and gets its own
            for pending in batch:
                _settle(pending, self._run_one)
            return
        for pending, result in zip(batch, results, strict=True):
            pending.result = result

    def _hand_on(self) -> None:
        """Give everything queued to its first caller to run, or mark the function idle."""
        with self._lock:
            batch, self._queued = self._queued, []
            self._running = bool(batch)
        if batch:
            batch[0].lead = batch
            batch[0].done.set()


def _settle(pending: _Pending[T, R], run: Callable[[T], R]) -> None:
    try:
        pending.result = run(pending.item)
    except Exception as e:
        pending.error = e
