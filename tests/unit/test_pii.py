"""Text redaction: each kind found, validated where a check exists, and counted."""

from __future__ import annotations

import pytest

from mmserve.services.pii import iban_valid, luhn_valid, redact


@pytest.mark.parametrize(
    ("text", "expected", "counts"),
    [
        ("mail jane.doe+x@mail.example.org now", "mail [EMAIL] now", {"email": 1}),
        ("card 4111 1111 1111 1111 ok", "card [CARD] ok", {"card": 1}),
        ("card 4111-1111-1111-1112 bad Luhn", "card 4111-1111-1111-1112 bad Luhn", {}),
        ("IBAN GB82 WEST 1234 5698 7654 32.", "IBAN [IBAN].", {"iban": 1}),
        ("IBAN DE89370400440532013000 x", "IBAN [IBAN] x", {"iban": 1}),
        ("IBAN GB00 WEST 1234 5698 7654 32", "IBAN GB00 WEST 1234 5698 7654 32", {}),
        (
            "from 192.168.10.4 and 2001:db8::1",
            "from [IP_ADDRESS] and [IP_ADDRESS]",
            {"ip_address": 2},
        ),
        ("version 999.1.1.1", "version 999.1.1.1", {}),
        ("call +44 20 7946 0958 or (212) 555-0173", "call [PHONE] or [PHONE]", {"phone": 2}),
        ("in 2024 we sold 1500 units at 12:30", "in 2024 we sold 1500 units at 12:30", {}),
    ],
)
def test_redact(text, expected, counts):
    redacted = redact(text)
    assert redacted.text == expected
    assert redacted.counts == counts


def test_checks():
    assert luhn_valid("79927398713") and not luhn_valid("79927398710")
    assert iban_valid("GB82 WEST 1234 5698 7654 32") and not iban_valid(
        "GB82 WEST 1234 5698 7654 33"
    )
