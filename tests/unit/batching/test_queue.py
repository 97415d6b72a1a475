import queue
import threading

import pytest

from mmserve.batching.queue import BatchQueue, QueueFull


def test_put_many_is_all_or_nothing():
    q: BatchQueue[int] = BatchQueue(5)
    q.put_many([1, 2, 3])
    with pytest.raises(QueueFull):
        q.put_many([4, 5, 6])
    assert q.qsize() == 3
    q.put_many([4, 5])
    assert [q.get(block=False) for _ in range(5)] == [1, 2, 3, 4, 5]


def test_get_times_out_on_empty_queue():
    q: BatchQueue[int] = BatchQueue(1)
    with pytest.raises(queue.Empty):
        q.get(timeout=0.01)
    with pytest.raises(queue.Empty):
        q.get(block=False)


def test_blocked_getter_wakes_on_put():
    q: BatchQueue[str] = BatchQueue(2)
    got = []
    reader = threading.Thread(target=lambda: got.append(q.get(timeout=5)))
    reader.start()
    q.put_many(["hello"])
    reader.join(timeout=5)
    assert got == ["hello"]


def test_close_wakes_a_blocked_getter_at_once():
    q: BatchQueue[int] = BatchQueue(2)
    errors = []

    def wait_forever():
        try:
            q.get()
        except queue.Empty as e:
            errors.append(e)

    reader = threading.Thread(target=wait_forever)
    reader.start()
    q.close()
    reader.join(timeout=2)
    assert not reader.is_alive() and len(errors) == 1


def test_urgent_lane_is_served_before_bulk_and_each_keeps_its_order():
    q: BatchQueue[str] = BatchQueue(10)
    q.put_many(["b1", "b2"], bulk=True)
    q.put_many(["u1", "u2"])
    assert [q.get(block=False) for _ in range(4)] == ["u1", "u2", "b1", "b2"]


def test_each_lane_has_its_own_places():
    q: BatchQueue[int] = BatchQueue(3)
    q.put_many([1, 2, 3], bulk=True)
    with pytest.raises(QueueFull, match="bulk"):
        q.put_many([4], bulk=True)
    q.put_many([5, 6, 7])  # a full bulk lane leaves the urgent places free
    assert q.qsize() == 6


def test_an_item_that_does_not_fit_stays_at_the_head():
    q: BatchQueue[int] = BatchQueue(5)
    q.put_many([7, 1])
    with pytest.raises(queue.Empty):
        q.get(block=False, fits=lambda item: item < 5)
    assert q.lane(False).get(block=False) == 7
    with pytest.raises(queue.Empty):
        q.lane(True).get(block=False)  # the bulk lane is empty; the urgent 1 is not taken


def test_wait_for_lane_names_the_lane_a_worker_may_take():
    q: BatchQueue[str] = BatchQueue(5)
    q.put_many(["big"], bulk=True)
    assert q.wait_for_lane(0.01, may_take_bulk=lambda: False) is None
    assert q.wait_for_lane(0.01, may_take_bulk=lambda: True) is True
    q.put_many(["short"])
    assert q.wait_for_lane(0.01, may_take_bulk=lambda: True) is False
    q.close()
    assert q.wait_for_lane(0.01, may_take_bulk=lambda: True) is None
