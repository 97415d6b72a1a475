"""The one way names are checked: collections, label sets and fusion models. Each kind
keeps its own rule, on purpose, and they are listed here side by side:

    collection     1-128 letters, digits, '_', '.' or '-'   (a row key in SQLite)
    label set      1-64 letters, digits, '_', '.' or '-'    (also its file name)
    fusion model   1-64 lowercase letters, digits, '_' or '-'
                   (its folder, and the model id fusion/<name> clients send, which
                   should not differ by case alone); aligned models the same

Every rule starts with a letter or digit, so a name is never '.', '..' or a hidden file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mmserve.errors import InvalidRequest


@dataclass(frozen=True)
class NameRule:
    kind: str  # what is named, for the error message
    pattern: re.Pattern[str]
    says: str  # the rule in words

    @property
    def json_pattern(self) -> str:
        """The rule as a JSON Schema pattern (those search, so it is anchored)."""
        return f"^{self.pattern.pattern}$"


COLLECTION = NameRule(
    "collection",
    re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}"),
    "1-128 letters, digits, '_', '.' or '-', starting with a letter or digit",
)
LABEL_SET = NameRule(
    "label set",
    re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"),
    "1-64 letters, digits, '_', '.' or '-', starting with a letter or digit",
)
FUSION_MODEL = NameRule(
    "fusion model",
    re.compile(r"[a-z0-9][a-z0-9_-]{0,63}"),
    "1-64 lowercase letters, digits, '_' or '-', starting with a letter or digit",
)
# aligned models share the fusion registry's code (store/fusion_models.py, kind "aligned")
# and so its rule: the same folder and model-id reasons; only the word in messages differs
ALIGNED_MODEL = NameRule("aligned model", FUSION_MODEL.pattern, FUSION_MODEL.says)
NAME_RULES = {"fusion": FUSION_MODEL, "aligned": ALIGNED_MODEL}  # by registry kind


def check_name(name: Any, rule: NameRule, param: str = "name") -> str:
    """`name` if it follows `rule`; a 400 naming `param` and the rule otherwise."""
    if not isinstance(name, str) or not rule.pattern.fullmatch(name):
        shown = repr(name[:80]) if isinstance(name, str) else type(name).__name__
        raise InvalidRequest(
            f"{param}: {shown} is not a valid {rule.kind} name; use {rule.says}",
            param=param,
            code="invalid_name",
        )
    return name
