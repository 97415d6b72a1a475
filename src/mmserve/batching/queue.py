"""A bounded FIFO that accepts a request's items all together or not at all."""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class QueueFull(Exception):
    """The queue cannot take all the items; none were added."""


class BatchQueue(Generic[T]):
    """Like queue.Queue, but `put_many` is atomic: a request whose items do not all fit is
    refused whole, so the model never computes half a request that will be answered 429."""

    def __init__(self, maxsize: int):
        self.maxsize = maxsize
        self._items: deque[T] = deque()
        self._not_empty = threading.Condition(threading.Lock())
        self._closed = False

    def put_many(self, items: Sequence[T]) -> None:
        with self._not_empty:
            if len(self._items) + len(items) > self.maxsize:
                raise QueueFull(f"{len(self._items)} of {self.maxsize} places taken")
            self._items.extend(items)
            self._not_empty.notify(len(items))

    def get(self, block: bool = True, timeout: float | None = None) -> T:
        with self._not_empty:
            if not block:
                if not self._items:
                    raise queue.Empty
                return self._items.popleft()
            end = None if timeout is None else time.monotonic() + timeout
            while not self._items:
                if self._closed:
                    raise queue.Empty
                remaining = None if end is None else end - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise queue.Empty
                self._not_empty.wait(remaining)
            return self._items.popleft()

    def close(self) -> None:
        """Wake every blocked getter: from now on an empty queue raises queue.Empty at once."""
        with self._not_empty:
            self._closed = True
            self._not_empty.notify_all()

    def qsize(self) -> int:
        return len(self._items)
