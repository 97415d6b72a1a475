import threading
import time

import numpy as np
import pytest

from mmserve.batching import runner as runner_module
from mmserve.batching.runner import ModelRunner, ModelState
from mmserve.config import ModelConfig
from mmserve.errors import Conflict, DeadlineExceeded, ModelFailed, ModelNotReady, Overloaded
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


class FlakyLoad(FakeEmbedder):
    """Fails its first `failures` loads with `error`, then loads."""

    def __init__(self, error: Exception, failures: int):
        super().__init__("flaky")
        self.error, self.failures, self.loads = error, failures, 0

    def load(self) -> None:
        self.loads += 1
        if self.loads <= self.failures:
            raise self.error


def test_a_load_that_fails_on_a_passing_cause_is_retried_until_ready(runners, monkeypatch):
    monkeypatch.setattr("mmserve.batching.runner.LOAD_RETRY_PAUSES_S", (0.01, 0.01))
    model = FlakyLoad(OSError("cache file busy"), failures=2)
    runner = make(runners, model)
    assert (runner.state, runner.error, model.loads) == (ModelState.READY, None, 3)
    assert runner.infer(["ab"], timeout_s=5)[0].tolist() == [2.0] * 8


def test_a_load_failing_on_every_attempt_is_failed_and_names_its_error(runners, monkeypatch):
    monkeypatch.setattr("mmserve.batching.runner.LOAD_RETRY_PAUSES_S", (0.01, 0.01))
    model = FlakyLoad(OSError("disk full"), failures=99)
    runner = make(runners, model)
    assert (runner.state, runner.error, model.loads) == (ModelState.FAILED, "OSError: disk full", 3)


def test_a_load_failing_on_a_lasting_cause_is_not_retried(runners, monkeypatch):
    monkeypatch.setattr("mmserve.batching.runner.LOAD_RETRY_PAUSES_S", (0.01, 0.01))
    model = FlakyLoad(ValueError("weights of the wrong shape"), failures=1)
    runner = make(runners, model)
    assert (runner.state, model.loads) == (ModelState.FAILED, 1)
    assert runner.error == "ValueError: weights of the wrong shape"


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


class ThreadRecorder(FakeEmbedder):
    """Records the name of the thread each forward pass ran on."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.threads: list[str] = []

    def forward(self, batch):
        self.threads.append(threading.current_thread().name)
        return super().forward(batch)


def test_a_request_alone_runs_on_its_own_thread(runners):
    model = ThreadRecorder("fake")
    runner = make(runners, model, workers=1)
    runner.infer(["alone"], timeout_s=5)
    assert model.threads[-1] == threading.current_thread().name


def test_a_request_that_finds_the_workers_busy_is_queued_and_batched(runners):
    model = ThreadRecorder("fake", delay_ms=200)
    runner = make(runners, model, workers=1)
    busy = runner.submit(["occupies the worker"], timeout_s=5)  # submit never runs here
    time.sleep(0.05)
    outputs: list = []
    callers = [
        threading.Thread(target=lambda: outputs.append(runner.infer(["x"], timeout_s=5)))
        for _ in range(3)
    ]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    busy[0].result(timeout=5)
    assert len(outputs) == 3
    served = model.threads[1:]  # after the warm-up, which ran on the loading thread
    assert all(name.startswith("infer-") for name in served)  # never on a caller's
    assert model.batches[-1] == 3  # the three waited in the queue and ran as one batch


def test_no_request_runs_here_when_the_model_waits_to_fill_batches(runners):
    model = ThreadRecorder("fake")
    runner = make(runners, model, workers=1, max_wait_ms=5)
    runner.infer(["alone"], timeout_s=5)
    assert model.threads[-1].startswith("infer-")


def test_a_request_larger_than_a_batch_goes_to_the_workers(runners):
    model = ThreadRecorder("fake")
    runner = make(runners, model, workers=1, max_batch_size=2)
    outputs = runner.infer(["a", "bb", "ccc"], timeout_s=5)
    assert [o[0] for o in outputs] == [1.0, 2.0, 3.0]
    assert model.batches[-2:] == [2, 1]
    assert model.threads[-1].startswith("infer-")


def texts(count: int, words: int) -> list[str]:
    return [" ".join(f"w{i}" for _ in range(words)) + f" n{i}" for i in range(count)]


def test_a_bulk_request_is_split_by_tokens_and_answers_in_order_as_unsplit(runners):
    model = FakeEmbedder("fake")
    runner = make(runners, model, workers=2, max_batch_size=8, max_batch_tokens=40)
    inputs = texts(50, 3) + texts(30, 17)  # 6 and 20 tokens each (the fake adds 2)
    outputs = runner.infer(inputs, timeout_s=10)
    unsplit = model.forward(inputs)
    assert [o.tolist() for o in outputs] == [o.tolist() for o in unsplit]
    served = model.batches[1:-1]  # between the warm-up and the unsplit call above
    assert sum(served) == 80
    assert max(served) <= 8
    assert served.count(2) >= 15, f"20-token texts ran more than 2 to a batch: {served}"


def test_a_request_over_max_batch_tokens_alone_is_bulk_yet_answered(runners):
    runner = make(runners, workers=1, max_batch_size=8, max_batch_tokens=10)
    [output] = runner.infer(["one two three four five six seven eight nine"], timeout_s=5)
    assert output[0] == float(len("one two three four five six seven eight nine"))


def test_a_short_request_overtakes_the_backlog_of_a_bulk_one(runners):
    model = FakeEmbedder("fake", delay_ms=20)
    runner = make(runners, model, workers=1, max_batch_size=4)
    bulk = runner.submit(texts(40, 2), timeout_s=10)  # 10 batches of 4
    [short] = runner.submit(["a short one"], timeout_s=10)
    assert short.result(timeout=10)[0] == float(len("a short one"))
    assert not all(f.done() for f in bulk), "the short request waited for the whole bulk one"
    assert [f.result(timeout=10)[0] for f in bulk] == [float(len(t)) for t in texts(40, 2)]


def test_a_full_bulk_lane_leaves_room_for_short_requests(runners):
    model = FakeEmbedder("fake", delay_ms=50)
    runner = make(runners, model, workers=1, max_batch_size=2, queue_size=8)
    runner.submit(texts(8, 1), timeout_s=10)
    with pytest.raises(Overloaded):
        runner.submit(texts(8, 1), timeout_s=10)
    assert runner.infer(["still served"], timeout_s=10)[0][0] == float(len("still served"))


class Overlap(FakeEmbedder):
    """Records how many forward passes ran at once."""

    def __init__(self):
        super().__init__("fake", delay_ms=30)
        self.lock = threading.Lock()
        self.running = self.most = 0

    def forward(self, batch):
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            return super().forward(batch)
        finally:
            with self.lock:
                self.running -= 1


def test_one_worker_stays_off_bulk_work_while_short_requests_come(runners, monkeypatch):
    monkeypatch.setattr(runner_module, "URGENT_GRACE_S", 3600.0)
    model = Overlap()
    runner = make(runners, model, workers=2, max_batch_size=2)
    runner.queue.last_urgent_put = time.monotonic()  # a short request just came
    runner.infer(texts(12, 1), timeout_s=10)
    assert model.most == 1


def test_a_bulk_request_alone_uses_every_worker(runners, monkeypatch):
    monkeypatch.setattr(runner_module, "URGENT_GRACE_S", 0.0)
    model = Overlap()
    runner = make(runners, model, workers=2, max_batch_size=2)
    runner.infer(texts(12, 1), timeout_s=10)
    assert model.most == 2


def test_a_failed_model_reloads_once_its_cause_is_fixed(runners):
    model = FlakyLoad(ValueError("checkpoint missing"), failures=1)  # not retried at start
    runner = make(runners, model)
    assert runner.state is ModelState.FAILED
    runner.reload()
    deadline = time.monotonic() + 5
    while runner.state is not ModelState.READY and time.monotonic() < deadline:
        time.sleep(0.01)
    assert (runner.state, runner.error, model.loads) == (ModelState.READY, None, 2)
    assert runner.infer(["abc"], timeout_s=5)[0].tolist() == [3.0] * 8


def test_a_loaded_model_is_not_reloaded(runners):
    runner = make(runners)
    with pytest.raises(Conflict) as caught:
        runner.reload()
    assert caught.value.code == "model_not_failed" and "ready" in str(caught.value)
    assert runner.state is ModelState.READY
