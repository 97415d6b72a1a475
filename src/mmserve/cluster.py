"""Joining the Ray cluster `[ray] address` names: the one place mmserve calls ray.init.

Used by the Serve pool (batching/ray_pool.py), the Ray Data indexer (jobs/ray_folder.py) and
fusion feature encoding (fusion/ray_features.py); imported only when Ray is configured.
"""

from __future__ import annotations

import logging
import threading

import ray

from mmserve.config_ray import RayConfig

_lock = threading.Lock()  # two threads of one process must not both call ray.init


def join(ray_config: RayConfig) -> None:
    """Connect this process as a driver, once; a process already connected stays so."""
    with _lock:
        if not ray.is_initialized():
            ray.init(
                address=ray_config.address,
                namespace=ray_config.namespace,
                log_to_driver=False,
                logging_level=logging.WARNING,
            )
