"""Dynamic batching: a bounded queue per model and single-threaded inference workers."""

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
