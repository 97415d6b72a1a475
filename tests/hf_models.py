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


def clip_bpe(words: list[str]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A byte-level BPE vocabulary in CLIP's form: every letter, then merges that build each
    word into one token ("c a", "ca t</w>"); longer words first so their merges win."""
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for letter in sorted(set("".join(words))):
        vocab.setdefault(letter, len(vocab))
        vocab.setdefault(letter + "</w>", len(vocab))
    merges: list[tuple[str, str]] = []
    for word in sorted(words, key=len, reverse=True):
        pieces = [*word[:-1], word[-1] + "</w>"]
        built = pieces[0]
        for piece in pieces[1:]:
            if (built, piece) not in merges:
                merges.append((built, piece))
            built += piece
            vocab.setdefault(built, len(vocab))
    return vocab, merges


def write_clip(root: Path) -> Path:
    import torch
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPTokenizer

    vocab, merges = clip_bpe(WORDS)
    # CLIP's own tokenizer class (lower-cases, byte-level BPE, pads with the end token).
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=16)
    config = CLIPConfig(
        text_config={
            **TINY_TEXT,
            "num_attention_heads": 2,
            "vocab_size": len(vocab),
            "max_position_embeddings": 16,
            "pad_token_id": tokenizer.pad_token_id,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
        },
        vision_config=TINY_VISION,
        projection_dim=PROJECTION_DIM,
    )
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(root)
    tokenizer.save_pretrained(root)
    CLIPImageProcessorPil(
        size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    ).save_pretrained(root)
    return root


def write_siglip(root: Path) -> Path:
    import io

    import sentencepiece
    import torch
    from transformers import SiglipConfig, SiglipImageProcessorPil, SiglipModel, SiglipTokenizer

    # SigLIP's own tokenizer reads a sentencepiece model (spiece.model): train a word-level
    # one on the test words, with SigLIP's ids (pad 0, end 1, unknown 2, no start token).
    spiece = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter([" ".join(WORDS)] * 10),
        model_writer=spiece,
        model_type="word",
        vocab_size=len(WORDS) + 3,
        hard_vocab_limit=False,
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        minloglevel=2,
    )
    root.mkdir(parents=True, exist_ok=True)
    (root / "spiece.model").write_bytes(spiece.getvalue())
    tokenizer = SiglipTokenizer(
        vocab_file=str(root / "spiece.model"), model_max_length=SIGLIP_TEXT_TOKENS
    )
    config = SiglipConfig(
        text_config={
            **TINY_TEXT,
            "num_attention_heads": 2,
            "vocab_size": len(tokenizer),
            "max_position_embeddings": SIGLIP_TEXT_TOKENS,
            "pad_token_id": tokenizer.pad_token_id,
            "bos_token_id": tokenizer.eos_token_id,  # unused (no start token), must be in vocab
            "eos_token_id": tokenizer.eos_token_id,
        },
        vision_config=TINY_VISION,
    )
    torch.manual_seed(1)
    SiglipModel(config).save_pretrained(root)
    tokenizer.save_pretrained(root)
    SiglipImageProcessorPil(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}).save_pretrained(root)
    return root


def write_blip(root: Path) -> Path:
    import torch
    from transformers import (
        BertTokenizer,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessorPil,
    )

    # BLIP's own tokenizer: BERT's WordPiece, with [DEC] as the decoder's start token.
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", *WORDS]
    ids = {w: i for i, w in enumerate(vocab)}
    tokenizer = BertTokenizer(vocab=ids, bos_token="[DEC]", model_max_length=32)
    config = BlipConfig(
        text_config={
            **TINY_TEXT,
            "num_attention_heads": 2,
            "encoder_hidden_size": TINY_VISION["hidden_size"],
            "vocab_size": len(vocab),
            "max_position_embeddings": 32,
            "pad_token_id": ids["[PAD]"],
            "bos_token_id": ids["[DEC]"],
            "eos_token_id": ids["[SEP]"],
            "sep_token_id": ids["[SEP]"],
        },
        vision_config=TINY_VISION,
    )
    torch.manual_seed(2)
    model = BlipForConditionalGeneration(config)
    with torch.no_grad():  # random weights end at once; this one says "cat" until cut off
        model.text_decoder.cls.predictions.decoder.bias[vocab.index(CAPTION_WORD)] = 50.0
    model.save_pretrained(root)
    tokenizer.save_pretrained(root)
    BlipImageProcessorPil(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}).save_pretrained(root)
    return root


WHISPER_SPECIAL = ["<|endoftext|>", "<|startoftranscript|>", "<|transcribe|>", "<|notimestamps|>"]


def write_whisper(root: Path) -> Path:
    import torch
    from transformers import (
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperTokenizer,
    )

    # Whisper's own tokenizer: GPT-2 byte-level BPE ("Ġ" marks a leading space) with one
    # word, " sky", built by merges, and the special tokens decoding starts from.
    word = "Ġ" + TRANSCRIPT_WORD
    ids = {letter: i for i, letter in enumerate(dict.fromkeys(word))}
    merges = [(word[:n], word[n]) for n in range(1, len(word))]
    for n in range(2, len(word) + 1):
        ids[word[:n]] = len(ids)
    for token in WHISPER_SPECIAL:
        ids[token] = len(ids)
    tokenizer = WhisperTokenizer(
        vocab=ids, merges=merges, additional_special_tokens=WHISPER_SPECIAL[1:]
    )
    config = WhisperConfig(
        vocab_size=len(ids),
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
    # Real checkpoints suppress non-speech symbols this way; this one may only say " sky".
    generation.suppress_tokens = [i for token, i in ids.items() if token != word]
    model.save_pretrained(root)
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
