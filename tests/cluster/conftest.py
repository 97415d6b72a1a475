"""A real two-node Ray cluster on this machine, one per test session (tests marked `ray`).
This process joins it as a driver, to read Ray's state and shut Serve down between modules."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator

import pytest

from tests.ray_cluster import two_node_cluster

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'mmserve[ray]'")
with warnings.catch_warnings():
    # Ray 2.60's own modules use pydantic features pydantic deprecates, at import; imported
    # here once, so the suite's warnings-as-errors still hold for everything else.
    warnings.simplefilter("ignore", DeprecationWarning)
    import ray.data  # noqa: F401
    import ray.util.state  # noqa: F401
    from ray import serve  # noqa: F401


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[str]:
    """The address of a fresh two-node cluster; this process is connected to it."""
    started = time.monotonic()
    with two_node_cluster() as address:
        ray.init(address=address, log_to_driver=False, logging_level="WARNING")
        print(f"ray cluster up in {time.monotonic() - started:.1f} s")
        try:
            yield address
        finally:
            ray.shutdown()
