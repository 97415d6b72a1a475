"""Collecting a batch from a queue: pure logic, no threads of its own, no I/O framework."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

T = TypeVar("T")


class Gettable(Protocol[T]):
    def get(self, block: bool = True, timeout: float | None = None) -> T: ...


def collect_batch(
    source: Gettable[T],
    max_size: int,
    max_wait_s: float,
    *,
    first_timeout_s: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> list[T]:
    """Block for a first item, then gather more until `max_size` or `max_wait_s` has passed.

    The wait starts at the first item, so a lone request waits at most `max_wait_s` and a
    busy queue fills a batch at once. Returns [] if no first item came within
    `first_timeout_s` (None waits for ever), which lets a worker check for shutdown.
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
            item = source.get(block=remaining > 0, timeout=remaining if remaining > 0 else None)
        except queue.Empty:
            break
        batch.append(item)
    return batch
