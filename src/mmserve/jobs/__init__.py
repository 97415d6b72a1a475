"""Background jobs over the store's job records: a registry of job types and a runner.
See jobs/registry.py for how to add a type.

Jobs do their work through services/ (embedding, the embedding cache) and the layers below;
the CLI runs the same code in-process (`mmserve index`). Never imports flask, api/ or cli/.
"""

from mmserve.jobs.registry import JobType, get_job_type, job_type, job_types, parse_params
from mmserve.jobs.runner import JobContext, JobRunner, JobStopped

__all__ = [
    "JobContext",
    "JobRunner",
    "JobStopped",
    "JobType",
    "get_job_type",
    "job_type",
    "job_types",
    "parse_params",
]
