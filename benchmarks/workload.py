"""The texts every measurement sends: short sentences that never repeat.

Each sentence carries a run id and a counter, then random words, so no cache (in a server,
the tokenizer or the runtime) can answer from an earlier request. `wrk_embeddings.lua`
builds the same shape in Lua from the same words, which it gets as arguments.
"""

from __future__ import annotations

import random

MODEL_ID = "minilm"  # served id and registry name alike
WORDS_PER_SENTENCE = 8  # with the "item <run>-<n>" prefix: about 15 to 20 tokens
WORDS = tuple(
    """
    river stone quiet market window yellow garden engine winter letter silver forest number
    orange travel bridge summer pocket simple camera mirror valley rocket planet coffee
    butter castle doctor fabric hammer island jacket kitten ladder meadow napkin office
    pencil rabbit saddle ticket velvet wallet button candle dinner finger harbor the a of
    runs reads holds sees makes under over near with from into slowly today
    """.split()
)


def sentence(run_id: str, number: int, rng: random.Random) -> str:
    return f"item {run_id}-{number} " + " ".join(rng.choices(WORDS, k=WORDS_PER_SENTENCE))
