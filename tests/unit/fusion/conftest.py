"""The fusion tests need the `fusion` extra (torch, matplotlib); without it they are skipped
at collection instead of failing the whole suite with an ImportError."""

from __future__ import annotations

import importlib.util

import pytest

if not all(importlib.util.find_spec(m) for m in ("torch", "matplotlib")):
    collect_ignore_glob = ["test_*.py"]
else:
    import torch

    # One thread: the machine's cores are shared, and results must not depend on threading.
    torch.set_num_threads(1)

    @pytest.fixture(scope="session")
    def xor_data():
        from mmserve.fusion.synthetic import make_xor_dataset

        return make_xor_dataset(600, seed=0)

    @pytest.fixture(scope="session")
    def trained(xor_data):
        """One small trained model, shared by the report, export and artifact tests."""
        from mmserve.fusion.train import train
        from tests.unit.fusion.helpers import FAST, small_config

        config = small_config("gated", xor_data.specs, xor_data.target_specs)
        return train(xor_data, config, FAST)
