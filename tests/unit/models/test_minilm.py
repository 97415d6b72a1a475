"""The default text model with its real weights (installed from registry packages)."""

import numpy as np
import pytest

from mmserve.models.registry import create_model

pytestmark = pytest.mark.real_weights


@pytest.fixture(scope="module")
def minilm():
    model = create_model("minilm", "minilm")
    model.load()
    return model


def embed(model, texts):
    return model.forward([model.preprocess(t) for t in texts])


def test_vectors_are_384_d_and_unit_length(minilm):
    vectors = embed(minilm, ["a dog runs on the beach", "quarterly revenue grew"])
    assert vectors.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert minilm.describe() == {"dimensions": 384, "max_tokens": 256}


def test_paraphrases_are_closer_than_unrelated_sentences(minilm):
    query, paraphrase, unrelated = embed(
        minilm,
        [
            "A man is playing a guitar.",
            "Someone strums an acoustic guitar.",
            "The stock market fell sharply today.",
        ],
    )
    # Measured: 0.68 for the paraphrase, -0.05 for the unrelated sentence.
    assert query @ paraphrase > 0.45
    assert query @ unrelated < 0.2


def test_batching_does_not_change_an_embedding(minilm):
    alone = embed(minilm, ["short"])[0]
    in_batch = embed(minilm, ["short", "a much longer sentence that needs padding " * 4])[0]
    assert alone @ in_batch > 0.9999


def test_counts_special_tokens_and_enforces_256(minilm):
    assert len(minilm.preprocess("hello world")) == 4  # [CLS] hello world [SEP]
    with pytest.raises(Exception, match="at most 256"):
        minilm.preprocess("word " * 300)
