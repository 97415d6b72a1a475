"""A tiny random-weight LLaVA (CLIP vision tower + Llama text model) written with
save_pretrained, tokenizer, image processor and chat template included, for the hf: chat
tests. Its language head is zeroed, so every logit ties and greedy decoding picks token 0:
ANSWER_WORD, again and again, until max_tokens."""

from __future__ import annotations

from pathlib import Path

IMAGE_SIZE = 32
ANSWER_WORD = "cat"
WORDS = [ANSWER_WORD, "a", "photo", "of", "red", "dog", "what", "is", "this", "user", "?"]
TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }} : {% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<image> {% else %}{{ c['text'] }} {% endif %}{% endfor %}\n"
    "{% endfor %}{% if add_generation_prompt %}assistant : {% endif %}"
)


def write_llava(root: Path) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import (
        CLIPImageProcessorPil,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )

    vocab = [*WORDS, "<pad>", "<unk>", "<s>", "</s>", "<image>"]
    ids = {w: i for i, w in enumerate(vocab)}
    words = Tokenizer(models.WordLevel(ids, unk_token="<unk>"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    words.decoder = decoders.WordPiece()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=words,
        unk_token="<unk>",
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
    )
    tokenizer.add_special_tokens({"additional_special_tokens": ["<image>"]})
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessorPil(
            size={"shortest_edge": IMAGE_SIZE},
            crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        ),
        tokenizer=tokenizer,
        chat_template=TEMPLATE,
        patch_size=8,
        vision_feature_select_strategy="default",
        image_token="<image>",
        num_additional_image_tokens=1,
    )
    config = LlavaConfig(
        vision_config={
            "model_type": "clip_vision_model",
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": IMAGE_SIZE,
            "patch_size": 8,
            "projection_dim": 16,
        },
        text_config={
            "model_type": "llama",
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "vocab_size": len(vocab),
            "max_position_embeddings": 1024,
            "pad_token_id": ids["<pad>"],
            "bos_token_id": ids["<s>"],
            "eos_token_id": ids["</s>"],
        },
        image_token_index=ids["<image>"],
        vision_feature_layer=-1,
    )
    torch.manual_seed(3)
    model = LlavaForConditionalGeneration(config)
    with torch.no_grad():
        model.lm_head.weight.zero_()
    model.save_pretrained(root)
    processor.save_pretrained(root)
    return root
