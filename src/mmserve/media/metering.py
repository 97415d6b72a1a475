"""Where the server counts what it processed, for usage and quotas.

    metering.add("image_megapixels", 0.3)   # from the code that decoded the image

The code that knows an amount (the image decoder, the audio decoder, the embedder) calls
`add`; whoever handles the request (mmserve.api.security) has set a sink for the current
context with `bind`, and the amount is charged to its caller. Outside a request (jobs, the
CLI, tests) no sink is set and `add` does nothing. Standard library only; it sits in media/,
the lowest layer that reports amounts (the decoders), so every layer above may call it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar, Token

Sink = Callable[[str, float], None]

_sink: ContextVar[Sink | None] = ContextVar("mmserve_meter", default=None)


def add(unit: str, amount: float) -> None:
    sink = _sink.get()
    if sink is not None and amount:
        sink(unit, amount)


def current() -> Sink:
    """The sink of this context (or a no-op): for generators that run after the request
    handler returned, such as a streamed transcript."""
    return _sink.get() or _ignore


def bind(sink: Sink) -> Token[Sink | None]:
    return _sink.set(sink)


def unbind(token: Token[Sink | None]) -> None:
    _sink.reset(token)


def _ignore(unit: str, amount: float) -> None:
    pass
