"""A bounded queue of two FIFO lanes that accepts a request's items all together or not at all.

The urgent lane holds requests that fit in one batch, the bulk lane bigger ones (a 2,048-input
embedding call). Each lane has `maxsize` places of its own, so a big request never fills the
places a short one needs, and a worker can take from the urgent lane first: a short request
then waits for at most the batch in progress, not for the big request's whole backlog.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
# While bulk work waits for a worker that may not take it yet, how often to look again
# (runner.URGENT_GRACE_S is 1 s: a tenth of it is soon enough, and wakes the GIL rarely).
BULK_RECHECK_S = 0.1


class QueueFull(Exception):
    """The lane cannot take all the items; none were added."""


class BatchQueue(Generic[T]):
    """Like queue.Queue, but `put_many` is atomic: a request whose items do not all fit is
    refused whole, so the model never computes half a request that will be answered 429."""

    def __init__(self, maxsize: int):
        self.maxsize = maxsize
        self._lanes: dict[bool, deque[T]] = {False: deque(), True: deque()}  # bulk? -> items
        self._changed = threading.Condition(threading.Lock())
        self._closed = False
        self.last_urgent_put = -float("inf")  # time.monotonic() of the last urgent request

    def put_many(self, items: Sequence[T], *, bulk: bool = False) -> None:
        with self._changed:
            lane = self._lanes[bulk]
            if len(lane) + len(items) > self.maxsize:
                kind = "bulk" if bulk else "urgent"
                raise QueueFull(f"{len(lane)} of {self.maxsize} {kind} places taken")
            lane.extend(items)
            if not bulk:
                self.last_urgent_put = time.monotonic()
            # Workers may wait for one lane only (wait_for_lane), so wake them all: they are few.
            self._changed.notify_all()

    def get(
        self,
        block: bool = True,
        timeout: float | None = None,
        *,
        bulk: bool | None = None,
        fits: Callable[[T], bool] | None = None,
    ) -> T:
        """The next item: of the urgent lane first, then the bulk one (`bulk` None), or of the
        one lane named. With `fits`, an item at the head that does not fit is left in place
        and queue.Empty raised, as if the lane were empty: a batch full by cost ends there."""
        with self._changed:
            end = None if timeout is None else time.monotonic() + timeout
            while True:
                lane = self._lane_with_items(bulk)
                if lane is not None:
                    if fits is not None and not fits(lane[0]):
                        raise queue.Empty
                    return lane.popleft()
                if not block or self._closed:
                    raise queue.Empty
                remaining = None if end is None else end - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise queue.Empty
                self._changed.wait(remaining)

    def wait_for_lane(self, timeout: float, may_take_bulk: Callable[[], bool]) -> bool | None:
        """Block until a lane this worker may take from has items: False for the urgent
        lane, True for the bulk one (only while `may_take_bulk()`); None after `timeout` or
        on close. Takes nothing: another worker may empty the lane first."""
        end = time.monotonic() + timeout
        with self._changed:
            while not self._closed:
                if self._lanes[False]:
                    return False
                if self._lanes[True] and may_take_bulk():
                    return True
                remaining = end - time.monotonic()
                if remaining <= 0:
                    return None
                # may_take_bulk can turn true with time alone (urgent traffic stopped): look
                # again soon while bulk work waits, not only when something is put.
                if self._lanes[True]:
                    remaining = min(remaining, BULK_RECHECK_S)
                self._changed.wait(remaining)
        return None

    def lane(self, bulk: bool) -> Lane[T]:
        return Lane(self, bulk)

    def close(self) -> None:
        """Wake every blocked getter: from now on an empty queue raises queue.Empty at once."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def qsize(self) -> int:
        return len(self._lanes[False]) + len(self._lanes[True])

    def _lane_with_items(self, bulk: bool | None) -> deque[T] | None:
        for is_bulk in (False, True) if bulk is None else (bulk,):
            if self._lanes[is_bulk]:
                return self._lanes[is_bulk]
        return None


class Lane(Generic[T]):
    """One lane of a BatchQueue, with the `get` that collect_batch calls."""

    def __init__(self, source: BatchQueue[T], bulk: bool):
        self.source = source
        self.bulk = bulk

    def get(
        self,
        block: bool = True,
        timeout: float | None = None,
        fits: Callable[[T], bool] | None = None,
    ) -> T:
        return self.source.get(block, timeout, bulk=self.bulk, fits=fits)
