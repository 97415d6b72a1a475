import numpy as np
import pytest

from mmserve.errors import ConfigError, PayloadTooLarge
from mmserve.models.registry import create_model
from tests.tiny_models import expected_embedding, write_local_model


@pytest.fixture
def model(tmp_path):
    model = create_model("tiny", f"local:{write_local_model(tmp_path / 'tiny')}")
    model.load()
    return model


def test_embeddings_match_the_hand_computed_mean_pool(model):
    texts = ["red cat", "blue sky dog green", "unknownword"]
    vectors = model.forward([model.preprocess(t) for t in texts])
    assert vectors.shape == (3, 4)
    for text, vector in zip(texts, vectors, strict=True):
        np.testing.assert_allclose(vector, expected_embedding(text), atol=1e-6)


def test_padding_does_not_change_a_text_embedding(model):
    alone = model.forward([model.preprocess("cat")])[0]
    padded = model.forward([model.preprocess("cat"), model.preprocess("red green blue dog")])[0]
    np.testing.assert_allclose(alone, padded, atol=1e-6)


def test_token_limit_comes_from_the_directory_and_ignores_the_file_truncation(model):
    assert model.describe() == {"dimensions": 4, "max_tokens": 6}
    assert len(model.preprocess("red green blue cat")) == 6  # no padding to 8
    with pytest.raises(PayloadTooLarge, match="7 tokens; model .tiny. takes at most 6"):
        model.preprocess("red green blue cat dog")


def test_directory_problems_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="is not a directory"):
        create_model("x", f"local:{tmp_path / 'missing'}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no .onnx file"):
        create_model("x", f"local:{tmp_path / 'empty'}")
    root = write_local_model(tmp_path / "no-tokenizer")
    (root / "tokenizer.json").unlink()
    with pytest.raises(ConfigError, match="tokenizer.json does not exist"):
        create_model("x", f"local:{root}")
