"""Dynamic batching: a bounded queue per model and single-threaded inference workers.

    collect   collect_batch(queue, max_size, max_wait): pure, no I/O framework
    queue     BatchQueue, bounded (a full queue is a 429)
    runner    ModelRunner: one model, its queue and worker threads, its state
    pool      ModelPool: the served models, found by id or capability

May import models/, media/ and the leaf modules (config, errors, metrics, files); never
flask, store/, fusion/, services/ or anything above them.
"""

from mmserve.batching.collect import collect_batch
from mmserve.batching.pool import ModelPool
from mmserve.batching.queue import BatchQueue, QueueFull
from mmserve.batching.runner import ModelRunner, ModelState, WorkItem

__all__ = [
    "BatchQueue",
    "ModelPool",
    "ModelRunner",
    "ModelState",
    "QueueFull",
    "WorkItem",
    "collect_batch",
]
