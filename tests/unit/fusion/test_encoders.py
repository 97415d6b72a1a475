"""Features from registry encoders, cached on disk by content hash: a second run encodes
nothing; a file that does not decode is a bad row with its line number."""

from __future__ import annotations

import numpy as np
from PIL import Image

from mmserve.fusion.dataset import read_table
from mmserve.fusion.encoders import FeatureCache, RegistryEncoder, encode_table


class MeanColour:
    """Stands in for efficientnet-lite0's weights: features(images) -> the mean RGB (n, 3),
    computable by hand."""

    def features(self, images):
        return np.stack([np.asarray(im, np.float32).mean(axis=(0, 1)) for im in images])


def write_data(tmp_path):
    (tmp_path / "img").mkdir()
    Image.new("RGB", (4, 4), (255, 0, 0)).save(tmp_path / "img" / "red.png")
    Image.new("RGB", (4, 4), (0, 0, 255)).save(tmp_path / "img" / "blue.png")
    (tmp_path / "img" / "broken.png").write_bytes(b"\x89PNG not really")
    (tmp_path / "data.csv").write_text(
        "text,image,label\n"
        "red one,img/red.png,a\n"  # 2
        "blue one,img/blue.png,b\n"  # 3
        "red one,img/red.png,a\n"  # 4: same content as line 2: one encoding
        "broken,img/broken.png,b\n"  # 5: does not decode
        "text only,,b\n"  # 6
    )
    return tmp_path / "data.csv"


def encoders():
    return {
        "text": RegistryEncoder("text", "fake:dim=4").load(),  # through the model registry
        "image": RegistryEncoder("image", "mean-colour", model=MeanColour()),
    }


def test_second_run_reads_every_feature_from_the_cache(tmp_path):
    path = write_data(tmp_path)
    cache_dir = tmp_path / "data" / "fusion" / "features"
    first = encoders()
    table = read_table(path, ["label"])
    data, split = encode_table(table, first, FeatureCache(cache_dir))
    assert split is None
    # line 4 repeats line 2: encoded once; the broken image is never encoded
    assert first["text"].calls == 4 and first["image"].calls == 2
    assert [(b.line, b.reason.split(":")[0]) for b in table.report.bad] == [
        (5, "image file 'broken.png'")
    ]
    assert len(data) == 4 and data.specs["text"].encoder == "fake:dim=4"
    image = data.features["image"]
    assert image.present.tolist() == [True, True, True, False]
    np.testing.assert_allclose(image.tokens[0, 0], [255, 0, 0])
    np.testing.assert_allclose(data.features["text"].tokens[0, 0], [7.0] * 4)  # len("red one")
    assert data.targets["label"].tolist() == [0, 1, 0, 1]

    again = encoders()
    cache = FeatureCache(cache_dir)
    data2, _ = encode_table(read_table(path, ["label"]), again, cache)
    assert again["text"].calls == 0 and again["image"].calls == 0
    assert cache.hits == 8  # 5 texts + 3 images looked up; the broken image: not found
    assert cache.misses == 1
    for m in ("text", "image"):
        np.testing.assert_array_equal(data2.features[m].tokens, data.features[m].tokens)
    files = sorted(p.parent.parent.name for p in cache_dir.rglob("*.npy"))
    assert set(files) == {"fake_dim_4", "mean-colour"}


def test_a_changed_file_is_encoded_again(tmp_path):
    path = write_data(tmp_path)
    cache = FeatureCache(tmp_path / "cache")
    encode_table(read_table(path, ["label"]), encoders(), cache)
    Image.new("RGB", (4, 4), (0, 255, 0)).save(tmp_path / "img" / "red.png")  # now green
    fresh = encoders()
    data, _ = encode_table(read_table(path, ["label"]), fresh, FeatureCache(tmp_path / "cache"))
    assert fresh["image"].calls == 1 and fresh["text"].calls == 0
    np.testing.assert_allclose(data.features["image"].tokens[0, 0], [0, 255, 0])


def test_split_column_gives_the_split(tmp_path):
    (tmp_path / "data.csv").write_text(
        "text,label,part\n" + "".join(f"t{i},{'ab'[i % 2]},{p}\n" for i, p in
                                      enumerate(["train"] * 4 + ["val"] * 2 + ["test"] * 2))
    )  # fmt: skip
    table = read_table(tmp_path / "data.csv", ["label"], split_column="part")
    enc = {"text": RegistryEncoder("text", "fake:dim=2").load()}
    _, split = encode_table(table, enc, FeatureCache(tmp_path / "cache"))
    assert split.train.tolist() == [0, 1, 2, 3]
    assert split.val.tolist() == [4, 5] and split.test.tolist() == [6, 7]
