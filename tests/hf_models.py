"""Tiny randomly initialised Hugging Face checkpoints the tests build themselves, laid out
exactly as `save_pretrained` writes real ones (config.json, model.safetensors, tokenizer and
processor files), so `hf:/dir` loads them through the same code as a downloaded checkpoint.
Nothing comes from the hub."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

IMAGE_SIZE = 32  # pixels; real CLIP takes 224, BLIP 384
PROJECTION_DIM = 8  # CLIP's joint embedding size (512 for ViT-B/32)
SIGLIP_TEXT_TOKENS = 8  # SigLIP pads every text to its position count (64 for real ones)
WORDS = ["a", "photo", "of", "red", "green", "blue", "cat", "dog", "sky", "the", "sound"]
SPECIAL = ["<pad>", "<unk>", "<s>", "</s>"]
CAPTION_WORD = "cat"  # the tiny BLIP's every caption token
TRANSCRIPT_WORD = "sky"  # the tiny Whisper's every transcript token

# Small enough that all four build, save and load in a few seconds on 2 cores.
TINY_TEXT = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1}
TINY_VISION = {
    "hidden_size": 16,
    "intermediate_size": 32,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "image_size": IMAGE_SIZE,
    "patch_size": 8,
}


def _word_tokenizer(vocab: list[str], *, bos: str | None = "<s>", eos: str = "</s>", **kw: Any):
    """A whitespace word-level tokenizer wrapped as transformers saves fast tokenizers."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    ids = {w: i for i, w in enumerate(vocab)}
    tokenizer = Tokenizer(models.WordLevel(ids, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    template = f"{bos} $A {eos}" if bos else f"$A {eos}"
    specials = [(t, ids[t]) for t in (bos, eos) if t]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=template, special_tokens=specials
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=bos,
        eos_token=eos,
        pad_token="<pad>",
        unk_token="<unk>",
        **kw,
    )


def write_clip(root: Path) -> Path:
    import torch
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel

    vocab = SPECIAL + WORDS
    config = CLIPConfig(
        text_config={
            **TINY_TEXT,
            "num_attention_heads": 2,
            "vocab_size": len(vocab),
            "max_position_embeddings": 16,
            "pad_token_id": 0,
            "bos_token_id": 2,
            "eos_token_id": 3,
        },
        vision_config=TINY_VISION,
        projection_dim=PROJECTION_DIM,
    )
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(root)
    _word_tokenizer(vocab, model_max_length=16).save_pretrained(root)
    CLIPImageProcessorPil(
        size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    ).save_pretrained(root)
    return root


def write_siglip(root: Path) -> Path:
    import torch
    from transformers import SiglipConfig, SiglipImageProcessorPil, SiglipModel

    vocab = SPECIAL + WORDS
    config = SiglipConfig(
        text_config={
            **TINY_TEXT,
            "num_attention_heads": 2,
            "vocab_size": len(vocab),
            "max_position_embeddings": SIGLIP_TEXT_TOKENS,
            "pad_token_id": 0,
            "bos_token_id": 2,  # unused (no start token), but must be inside the vocabulary
            "eos_token_id": 3,
        },
        vision_config=TINY_VISION,
    )
    torch.manual_seed(1)
    SiglipModel(config).save_pretrained(root)
    # SigLIP's tokenizer adds only an end token, as the real (sentencepiece) one does.
    _word_tokenizer(vocab, bos=None, model_max_length=SIGLIP_TEXT_TOKENS).save_pretrained(root)
    SiglipImageProcessorPil(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}).save_pretrained(root)
    return root


def write_blip(root: Path) -> Path:
    import torch
    from transformers import BlipConfig, BlipForConditionalGeneration, BlipImageProcessorPil

    vocab = SPECIAL + WORDS
    config = BlipConfig(
        text_config={
            **TINY_TEXT,
            "num_attention_heads": 2,
            "encoder_hidden_size": TINY_VISION["hidden_size"],
            "vocab_size": len(vocab),
            "max_position_embeddings": 32,
            "pad_token_id": 0,
            "bos_token_id": 2,
            "eos_token_id": 3,
            "sep_token_id": 3,
        },
        vision_config=TINY_VISION,
    )
    torch.manual_seed(2)
    model = BlipForConditionalGeneration(config)
    with torch.no_grad():  # random weights end at once; this one says "cat" until cut off
        model.text_decoder.cls.predictions.decoder.bias[vocab.index(CAPTION_WORD)] = 50.0
    model.save_pretrained(root)
    _word_tokenizer(vocab, model_max_length=32).save_pretrained(root)
    BlipImageProcessorPil(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}).save_pretrained(root)
    return root


WHISPER_SPECIAL = ["<|endoftext|>", "<|startoftranscript|>", "<|transcribe|>", "<|notimestamps|>"]


def write_whisper(root: Path) -> Path:
    import torch
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

    vocab = SPECIAL + WORDS + WHISPER_SPECIAL
    ids = {w: i for i, w in enumerate(vocab)}
    config = WhisperConfig(
        vocab_size=len(vocab),
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_target_positions=32,
        pad_token_id=ids["<|endoftext|>"],
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|endoftext|>"],
        decoder_start_token_id=ids["<|startoftranscript|>"],
        suppress_tokens=[],
        begin_suppress_tokens=[],
    )
    torch.manual_seed(3)
    model = WhisperForConditionalGeneration(config)
    # An English-only checkpoint's generation settings, as whisper-tiny.en ships them.
    generation = model.generation_config
    generation.is_multilingual = False
    generation.no_timestamps_token_id = ids["<|notimestamps|>"]
    # Real checkpoints suppress non-speech symbols this way; this one may only say "sky".
    generation.suppress_tokens = [i for w, i in ids.items() if w != TRANSCRIPT_WORD]
    model.save_pretrained(root)
    tokenizer = _word_tokenizer(vocab, bos=None, eos="<|endoftext|>")
    tokenizer.add_special_tokens({"additional_special_tokens": WHISPER_SPECIAL[1:]})
    tokenizer.save_pretrained(root)
    WhisperFeatureExtractor(feature_size=80).save_pretrained(root)
    return root


def write_unsupported(root: Path) -> Path:
    """A directory whose config names an architecture mmserve does not serve."""
    root.mkdir(parents=True, exist_ok=True)
    config = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}
    (root / "config.json").write_text(json.dumps(config))
    return root


def write_all(root: Path) -> dict[str, Path]:
    return {
        "clip": write_clip(root / "clip"),
        "siglip": write_siglip(root / "siglip"),
        "blip": write_blip(root / "blip"),
        "whisper": write_whisper(root / "whisper"),
        "unsupported": write_unsupported(root / "unsupported"),
    }


_BUILT: dict[str, dict[str, Path]] = {}


def built_once(tmp_path_factory: Any) -> dict[str, Path]:
    """The tiny checkpoints, written once per test session whichever test module asks."""
    if "dirs" not in _BUILT:
        _BUILT["dirs"] = write_all(tmp_path_factory.mktemp("hf-checkpoints"))
    return _BUILT["dirs"]
