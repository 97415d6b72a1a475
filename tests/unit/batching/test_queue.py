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
