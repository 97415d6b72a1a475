import subprocess
import sys

import pytest

from mmserve.errors import InvalidRequest, NotFound
from mmserve.store import SearchStore


def test_lifecycle(store: SearchStore):
    jobs = store.jobs
    job = jobs.create("ingest", {"collection": "c", "path": "/data"})
    assert job.state == "queued" and job.params == {"collection": "c", "path": "/data"}
    assert (job.done, job.total, job.result, job.error) == (0, None, None, None)
    jobs.update(job.id, state="running", total=10)
    jobs.update(job.id, done=4)
    assert jobs.get(job.id).done == 4 and jobs.get(job.id).total == 10
    done = jobs.update(job.id, state="succeeded", done=10, result={"indexed": 10})
    assert done.state == "succeeded" and done.result == {"indexed": 10}
    assert done.updated_at >= done.created_at
    with pytest.raises(InvalidRequest, match="succeeded; it cannot become 'running'"):
        jobs.update(job.id, state="running")
    with pytest.raises(NotFound):
        jobs.get("nope")


def test_list_filters_and_orders_newest_first(store: SearchStore):
    first = store.jobs.create("ingest")
    second = store.jobs.create("reindex")
    store.jobs.update(second.id, state="running")
    assert [j.id for j in store.jobs.list()] == [second.id, first.id]
    assert [j.id for j in store.jobs.list(state="queued")] == [first.id]
    assert [j.id for j in store.jobs.list(type="reindex")] == [second.id]
    with pytest.raises(InvalidRequest):
        store.jobs.list(state="bogus")


def test_cancel(store: SearchStore):
    queued = store.jobs.create("ingest")
    assert store.jobs.request_cancel(queued.id).state == "cancelled"
    running = store.jobs.create("ingest")
    store.jobs.update(running.id, state="running")
    flagged = store.jobs.request_cancel(running.id)
    assert flagged.state == "running" and flagged.cancel_requested  # the runner stops it
    assert store.jobs.update(running.id, state="cancelled").state == "cancelled"


def test_running_jobs_of_a_dead_process_become_interrupted(data_dir):
    with SearchStore(data_dir) as store:
        mine = store.jobs.create("ingest")
        store.jobs.update(mine.id, state="running")
    # Another process takes a job to "running" and exits without finishing it.
    script = (
        "import sys; from mmserve.store import SearchStore\n"
        "s = SearchStore(sys.argv[1]); j = s.jobs.create('ingest')\n"
        "s.jobs.update(j.id, state='running', done=3); print(j.id); s.close()"
    )
    dead = subprocess.run(
        [sys.executable, "-c", script, str(data_dir)], capture_output=True, text=True, check=True
    ).stdout.strip()
    with SearchStore(data_dir) as store:
        orphan = store.jobs.get(dead)
        assert orphan.state == "interrupted" and orphan.done == 3
        assert store.jobs.get(mine.id).state == "running"  # this process is alive
        resumed = store.jobs.update(dead, state="running")
        assert resumed.state == "running" and resumed.done == 3
        assert store.jobs.request_cancel(mine.id).cancel_requested
