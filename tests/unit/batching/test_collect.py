import queue
import threading
import time

from mmserve.batching.collect import collect_batch
from mmserve.batching.queue import BatchQueue


def filled(n: int) -> BatchQueue[int]:
    q: BatchQueue[int] = BatchQueue(100)
    q.put_many(list(range(n)))
    return q


def test_takes_at_most_max_size_in_order():
    q = filled(10)
    assert collect_batch(q, max_size=4, max_wait_s=1.0) == [0, 1, 2, 3]
    assert q.qsize() == 6


def test_returns_when_full_without_waiting_for_max_wait():
    q = filled(8)
    started = time.monotonic()
    assert len(collect_batch(q, max_size=8, max_wait_s=5.0)) == 8
    assert time.monotonic() - started < 1.0


def test_lone_item_waits_max_wait_then_goes_alone():
    q = filled(1)
    started = time.monotonic()
    assert collect_batch(q, max_size=8, max_wait_s=0.05) == [0]
    assert time.monotonic() - started >= 0.05


def test_items_arriving_within_max_wait_join_the_batch():
    q = filled(1)
    threading.Timer(0.02, lambda: q.put_many([1, 2])).start()
    assert collect_batch(q, max_size=8, max_wait_s=0.5) == [0, 1, 2]


def test_queued_items_are_taken_even_with_zero_wait():
    q = filled(5)
    assert collect_batch(q, max_size=8, max_wait_s=0.0) == [0, 1, 2, 3, 4]


def test_empty_queue_gives_empty_batch_after_first_timeout():
    q: BatchQueue[int] = BatchQueue(4)
    assert collect_batch(q, max_size=8, max_wait_s=0.0, first_timeout_s=0.01) == []


def test_works_with_a_standard_queue():
    q: queue.Queue[int] = queue.Queue()
    for i in range(3):
        q.put(i)
    assert collect_batch(q, max_size=2, max_wait_s=0.0) == [0, 1]


def test_fake_clock_bounds_the_wait():
    now = [0.0]

    class Source:
        def __init__(self):
            self.calls = 0

        def get(self, block=True, timeout=None):
            self.calls += 1
            if self.calls == 1:
                return "first"
            now[0] += 0.4  # each later item arrives 0.4 s after the previous one
            if not block:
                raise queue.Empty
            return f"item{self.calls}"

    batch = collect_batch(Source(), max_size=10, max_wait_s=1.0, clock=lambda: now[0])
    assert batch == ["first", "item2", "item3", "item4"]


def test_a_cost_bound_ends_the_batch_and_leaves_the_next_item_queued():
    q: BatchQueue[int] = BatchQueue(100)
    q.put_many([3, 4, 5, 1])

    def fits(batch: list[int], item: int) -> bool:
        return sum(batch) + item <= 8

    assert collect_batch(q.lane(False), max_size=10, max_wait_s=0.0, fits=fits) == [3, 4]
    assert collect_batch(q.lane(False), max_size=10, max_wait_s=0.0, fits=fits) == [5, 1]


def test_the_first_item_is_taken_even_over_the_cost_bound():
    q: BatchQueue[int] = BatchQueue(100)
    q.put_many([20, 1])
    batch = collect_batch(q.lane(False), max_size=10, max_wait_s=0.0, fits=lambda b, i: False)
    assert batch == [20]
    assert q.qsize() == 1
