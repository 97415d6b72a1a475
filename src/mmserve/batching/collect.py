"""Collecting a batch from a queue: pure logic, no threads of its own, no I/O framework."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from typing import Protocol, TypeVar, cast

T = TypeVar("T")


class Gettable(Protocol[T]):
    def get(self, block: bool = True, timeout: float | None = None) -> T: ...


class FitGettable(Protocol[T]):
    """A source that can leave an item that does not fit at its head (BatchQueue's lanes)."""

    def get(
        self,
        block: bool = True,
        timeout: float | None = None,
        fits: Callable[[T], bool] | None = None,
    ) -> T: ...


def collect_batch(
    source: Gettable[T],
    max_size: int,
    max_wait_s: float,
    *,
    first_timeout_s: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    fits: Callable[[list[T], T], bool] | None = None,
) -> list[T]:
    """Block for a first item, then gather more until `max_size` or `max_wait_s` has passed.

    The wait starts at the first item, so a lone request waits at most `max_wait_s` and a
    busy queue fills a batch at once. Returns [] if no first item came within
    `first_timeout_s` (None waits for ever), which lets a worker check for shutdown.
    With `fits(batch, item)` (a cost bound: tokens, not only items) the batch also ends at
    the first item that would not fit; that item stays queued for the next batch. The first
    item is always taken, so one item costlier than the bound still runs, alone.
    """
    try:
        batch = [source.get(timeout=first_timeout_s)]
    except queue.Empty:
        return []
    deadline = clock() + max_wait_s
    while len(batch) < max_size:
        remaining = deadline - clock()
        try:
            # Items already queued are taken without waiting, even past the deadline.
            wait = remaining if remaining > 0 else None
            if fits is None:
                item = source.get(block=remaining > 0, timeout=wait)
            else:
                fitting = cast(FitGettable[T], source)
                item = fitting.get(remaining > 0, wait, lambda next_item: fits(batch, next_item))
        except queue.Empty:
            break
        batch.append(item)
    return batch
