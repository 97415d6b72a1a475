"""Personal data in text, found by pattern and checked where a check exists, then replaced
by its type: "mail me at a@b.example" -> "mail me at [EMAIL]".

    redact(text) -> Redacted(text, counts)   # counts: {"email": 1, "card": 0, ...} (non-zero)

Detected: e-mail addresses, payment card numbers (13-19 digits that pass the Luhn check),
IBANs (country code, check digits and the ISO 13616 mod-97 check), IPv4 and IPv6
addresses (parsed by `ipaddress`, so 999.1.1.1 is left alone), and phone numbers (an
international +CC number, or a 10-11 digit national number written with separators).
Not detected: person names and street addresses. The maintained detectors for names
(presidio, scrubadub) need a spaCy NER model, which is not on PyPI from its authors (only
third-party mirrors) and so does not install offline the way mmserve's other models do.
Patterns over-redact rather than under-redact: a 10-digit order number written as a phone
number is redacted.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}\b")
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?\b")
CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
IPV4 = re.compile(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])")
IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}"
    r"|\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4})(?!\w)"
)


@dataclass(frozen=True)
class Redacted:
    text: str
    counts: dict[str, int] = field(default_factory=dict)


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def iban_valid(text: str) -> bool:
    compact = text.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _is_card(match: str) -> bool:
    digits = re.sub(r"\D", "", match)
    return 13 <= len(digits) <= 19 and luhn_valid(digits)


def _is_ip(match: str) -> bool:
    try:
        ipaddress.ip_address(match)
    except ValueError:
        return False
    return True


def _is_phone(match: str) -> bool:
    return 7 <= len(re.sub(r"\D", "", match)) <= 15


# Order matters: an IBAN or card number also looks like a phone number.
DETECTORS: tuple[tuple[str, re.Pattern[str], Callable[[str], bool]], ...] = (
    ("email", EMAIL, lambda m: True),
    ("iban", IBAN, iban_valid),
    ("card", CARD, _is_card),
    ("ip_address", IPV4, _is_ip),
    ("ip_address", IPV6, _is_ip),
    ("phone", PHONE, _is_phone),
)


def redact(text: str) -> Redacted:
    counts: Counter[str] = Counter()
    for kind, pattern, valid in DETECTORS:

        def replace(
            match: re.Match[str], kind: str = kind, valid: Callable[[str], bool] = valid
        ) -> str:
            if not valid(match.group()):
                return match.group()
            counts[kind] += 1
            return f"[{kind.upper()}]"

        text = pattern.sub(replace, text)
    return Redacted(text, dict(counts))


def merge(total: dict[str, int], counts: dict[str, int]) -> None:
    for kind, count in counts.items():
        total[kind] = total.get(kind, 0) + count
