"""`mmserve fusion train --ray`: the data set's features encoded by Ray Data into the feature
cache are the local path's, and the local encoders then encode nothing."""

from __future__ import annotations

import numpy as np
import pytest

from mmserve.config import load_config
from mmserve.fusion.demo import make_demo_data
from mmserve.fusion.encoders import EncoderSet
from mmserve.fusion.pipeline import DataOptions, load_data

pytest.importorskip("ray")

pytestmark = [pytest.mark.ray, pytest.mark.real_weights]

ROWS = 60  # caption + picture + tone, label match/mismatch


@pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")
def test_features_encoded_on_ray_are_the_local_ones(ray_cluster, tmp_path):
    demo = make_demo_data(tmp_path / "demo", rows=ROWS, seed=1, audio=True)
    local = load_data(
        DataOptions(path=demo.csv, targets=("label",), data_dir=tmp_path / "local"),
        encoder_set=EncoderSet(),
    )

    config_file = tmp_path / "mmserve.toml"
    config_file.write_text("[ray]\nnum_cpus = 0.5\ndata_concurrency = 2\n")
    overrides = {"data_dir": tmp_path / "ray", "ray": ray_cluster}
    config = load_config(config_file, env={}, overrides=overrides)
    encoders = EncoderSet()
    on_ray = load_data(
        DataOptions(path=demo.csv, targets=("label",), data_dir=config.data_dir),
        encoder_set=encoders,
        cluster=config,
    )

    # every feature came from the cache Ray filled: the local encoders ran on nothing
    assert on_ray.cache.misses == 0 and on_ray.cache.hits > 0
    assert all(e.calls == 0 for e in encoders._encoders.values())
    assert (
        sorted(on_ray.dataset.features)
        == sorted(local.dataset.features)
        == [
            "audio",
            "image",
            "text",
        ]
    )
    for modality, arrays in local.dataset.features.items():
        remote = on_ray.dataset.features[modality]
        np.testing.assert_allclose(remote.tokens, arrays.tokens, atol=1e-5)
        np.testing.assert_array_equal(remote.present, arrays.present)
    assert local.table.report.as_dict() == on_ray.table.report.as_dict()
