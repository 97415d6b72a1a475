import threading
import time

import numpy as np
import pytest

from mmserve.batching.runner import ModelRunner, ModelState
from mmserve.config import ModelConfig
from mmserve.errors import DeadlineExceeded, ModelFailed, ModelNotReady, Overloaded
from mmserve.models.fake import FakeEmbedder


def started(model: FakeEmbedder, **settings) -> ModelRunner:
    runner = ModelRunner(model, ModelConfig(id=model.id, **settings))
    runner.start(wait=True)
    return runner


@pytest.fixture
def runners():
    made: list[ModelRunner] = []
    yield made
    for runner in made:
        runner.stop()


def make(runners, model=None, **settings) -> ModelRunner:
    runner = started(model or FakeEmbedder("fake"), **settings)
    runners.append(runner)
    return runner


def test_outputs_are_computed_per_item_in_order(runners):
    runner = make(runners)
    outputs = runner.infer(["a", "abc", "abcde"], timeout_s=5)
    assert [o.tolist() for o in outputs] == [[1.0] * 8, [3.0] * 8, [5.0] * 8]
    assert runner.state is ModelState.READY


def test_concurrent_requests_share_batches(runners):
    model = FakeEmbedder("fake", delay_ms=30)
    runner = make(runners, model, workers=1, max_batch_size=16, max_wait_ms=20)
    results: dict[int, list] = {}

    def call(i: int) -> None:
        results[i] = runner.infer(["x" * i], timeout_s=5)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(1, 13)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {i: r[0][0] for i, r in results.items()} == {i: float(i) for i in range(1, 13)}
    served = model.batches[1:]  # after the warm-up batch
    assert sum(served) == 12
    assert max(served) > 1, f"no batching happened: {served}"
    assert max(served) <= 16


def test_poison_item_fails_only_its_own_request(runners):
    model = FakeEmbedder("fake", delay_ms=20)
    runner = make(runners, model, workers=1, max_wait_ms=50)
    futures = runner.submit(["good", "poison pill", "fine"], timeout_s=5)
    assert futures[0].result(timeout=5)[0] == 4.0
    with pytest.raises(ModelFailed):
        futures[1].result(timeout=5)
    assert futures[2].result(timeout=5)[0] == 4.0
    assert runner.state is ModelState.READY  # the model works; one input did not


def test_batch_failing_on_every_item_degrades_then_recovers(runners):
    runner = make(runners)
    with pytest.raises(ModelFailed):
        runner.infer(["poison"], timeout_s=5)
    assert runner.state is ModelState.DEGRADED
    runner.infer(["healthy again"], timeout_s=5)
    assert runner.state is ModelState.READY


def test_full_queue_refuses_the_whole_request(runners):
    model = FakeEmbedder("fake", delay_ms=300)
    runner = make(runners, model, workers=1, max_batch_size=1, queue_size=3)
    first = runner.submit(["busy"], timeout_s=5)  # taken by the worker
    time.sleep(0.05)
    runner.submit(["a", "b"], timeout_s=5)
    with pytest.raises(Overloaded) as caught:
        runner.submit(["c", "d"], timeout_s=5)
    assert caught.value.headers() == {"Retry-After": "1"}
    assert runner.queue.qsize() == 2  # nothing of the refused request was queued
    first[0].result(timeout=5)


def test_deadline_gives_timeout_and_skips_the_work(runners):
    model = FakeEmbedder("fake", delay_ms=200)
    runner = make(runners, model, workers=1, max_batch_size=1)
    runner.submit(["occupies the worker"], timeout_s=5)
    time.sleep(0.02)
    with pytest.raises(DeadlineExceeded):
        runner.infer(["too late"], timeout_s=0.05)
    time.sleep(0.3)
    assert sum(model.batches) == 2  # warm-up and the first request: "too late" never ran


def test_model_that_fails_to_load_is_failed_and_refuses_work(runners):
    runner = make(runners, FakeEmbedder("broken", fail_load=True))
    assert runner.state is ModelState.FAILED
    assert "fail its load" in runner.status()["error"]
    with pytest.raises(ModelNotReady):
        runner.infer(["x"], timeout_s=1)


def test_metrics_count_outcomes_and_batches(runners):
    runner = make(runners)
    runner.infer(["a", "b"], timeout_s=5)
    with pytest.raises(ModelFailed):
        runner.infer(["poison"], timeout_s=5)
    registry = runner.metrics.registry
    assert (
        registry.get_sample_value(
            "mmserve_model_requests_total", {"model": "fake", "outcome": "ok"}
        )
        == 1
    )
    assert (
        registry.get_sample_value(
            "mmserve_model_requests_total", {"model": "fake", "outcome": "error"}
        )
        == 1
    )
    assert registry.get_sample_value("mmserve_batch_size_sum", {"model": "fake"}) >= 3
    assert registry.get_sample_value("mmserve_queue_depth", {"model": "fake"}) == 0


def test_outputs_have_the_right_type(runners):
    runner = make(runners, FakeEmbedder("fake", dim=3))
    (vector,) = runner.infer(["four"], timeout_s=5)
    assert isinstance(vector, np.ndarray) and vector.dtype == np.float32
