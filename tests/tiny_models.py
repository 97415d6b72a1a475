"""Tiny models the tests build themselves, standing in for users' own weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "red", "green", "blue", "cat", "dog", "sky"]
DIM = 4


def token_table() -> np.ndarray:
    """Embedding row i is a hand-computable vector: [i, 1, 0, 0] ... as floats."""
    table = np.zeros((len(VOCAB), DIM), dtype=np.float32)
    table[:, 0] = np.arange(len(VOCAB))
    table[:, 1] = 1.0
    return table


def write_tokenizer(path: Path, max_length: int = 8) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(VOCAB)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    # Files in the wild carry truncation and padding; the server must switch both off.
    tokenizer.enable_truncation(max_length)
    tokenizer.enable_padding(length=max_length)
    tokenizer.save(str(path))


def write_onnx_encoder(path: Path) -> None:
    """last_hidden_state = table[input_ids] * attention_mask, shape (batch, tokens, DIM)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        nodes=[
            helper.make_node("Gather", ["table", "input_ids"], ["gathered"]),
            helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
            helper.make_node("Unsqueeze", ["mask_f", "axis"], ["mask_3d"]),
            helper.make_node("Mul", ["gathered", "mask_3d"], ["last_hidden_state"]),
        ],
        name="tiny-encoder",
        inputs=[
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "tokens"]),
        ],
        outputs=[
            helper.make_tensor_value_info(
                "last_hidden_state", TensorProto.FLOAT, ["batch", "tokens", DIM]
            )
        ],
        initializer=[
            numpy_helper.from_array(token_table(), "table"),
            numpy_helper.from_array(np.array([2], dtype=np.int64), "axis"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def write_local_model(root: Path, *, max_seq_length: int = 6) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    write_onnx_encoder(root / "model.onnx")
    write_tokenizer(root / "tokenizer.json")
    (root / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": max_seq_length}))
    return root


def expected_embedding(text: str) -> np.ndarray:
    """What mean pooling + L2 norm give for `text` with the tiny encoder, by hand."""
    ids = [2] + [VOCAB.index(w) if w in VOCAB else 1 for w in text.split()] + [3]
    mean = token_table()[ids].mean(axis=0)
    return mean / np.linalg.norm(mean)
