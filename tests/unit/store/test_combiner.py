"""The leader/follower combiner on its own: who runs what, and who gets which answer."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import pytest

from mmserve.store.combiner import Combiner


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.001)


class Held:
    """A combiner whose first lone call blocks until released, so that later calls queue."""

    def __init__(self, batch: Callable[[Sequence[int]], Sequence[int]] | None = None):
        self.batches: list[list[int]] = []
        self.lone: list[int] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.combiner: Combiner[int, int] = Combiner(self._batch, self._one)
        self._batch_fn = batch or (lambda items: [10 * i for i in items])
        self.results: dict[int, object] = {}

    def _one(self, item: int) -> int:
        self.lone.append(item)
        if not self.entered.is_set():
            self.entered.set()
            assert self.release.wait(10)
        if item < 0:
            raise ValueError(f"bad item {item}")
        return 10 * item

    def _batch(self, items: Sequence[int]) -> Sequence[int]:
        self.batches.append(list(items))
        return self._batch_fn(items)

    def call(self, item: int) -> threading.Thread:
        def run() -> None:
            try:
                self.results[item] = self.combiner.run(item)
            except ValueError as e:
                self.results[item] = e

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    def queue_behind_first(self, first: int, rest: list[int]) -> list[threading.Thread]:
        threads = [self.call(first)]
        assert self.entered.wait(10)
        threads += [self.call(item) for item in rest]
        wait_until(lambda: len(self.combiner._queued) == len(rest), "every call has queued")
        self.release.set()
        for thread in threads:
            thread.join(10)
            assert not thread.is_alive()
        return threads


def test_a_lone_call_runs_alone_at_once():
    combiner: Combiner[int, int] = Combiner(lambda items: pytest.fail("batched"), lambda i: i + 1)
    assert [combiner.run(i) for i in range(3)] == [1, 2, 3]


def test_calls_arriving_while_one_runs_are_run_as_one_batch():
    held = Held()
    held.queue_behind_first(1, [2, 3, 4, 5])
    assert held.lone == [1]
    assert [sorted(batch) for batch in held.batches] == [[2, 3, 4, 5]]  # in arrival order
    assert held.results == {1: 10, 2: 20, 3: 30, 4: 40, 5: 50}  # each caller its own row
    assert held.combiner.run(6) == 60 and held.lone[-1] == 6  # idle again: alone


def test_an_error_in_a_batch_reaches_only_its_caller():
    def strict(items: Sequence[int]) -> Sequence[int]:
        if any(i < 0 for i in items):
            raise ValueError("one of the batch is bad")
        return [10 * i for i in items]

    held = Held(strict)
    held.queue_behind_first(1, [2, -3, 4])
    assert len(held.batches) == 1 and sorted(held.lone) == [-3, 1, 2, 4]  # re-run alone
    assert held.results[2] == 20 and held.results[4] == 40 and held.results[1] == 10
    error = held.results[-3]
    assert isinstance(error, ValueError) and "bad item -3" in str(error)


def test_a_leader_that_fails_still_hands_on_the_next_batch():
    held = Held()
    held.queue_behind_first(-1, [2, 3])
    assert isinstance(held.results[-1], ValueError)
    assert held.results[2] == 20 and held.results[3] == 30
    assert held.combiner.run(4) == 40
