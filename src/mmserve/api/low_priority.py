"""Work the server sends itself (batch lines) at a lower priority than clients' requests.

A batch line runs through the server's own route in-process (the WSGI app called directly,
no socket), so it is validated, limited and answered exactly as a client's request would
be. Before each line the dispatcher waits while any client's POST is in flight, and for a
short grace after the last one ends (a client sending requests back to back has its next
one on the way); so a batch takes the model only when clients leave it idle, and a client
waits at most for the forward pass of the few batch lines in flight. Under unbroken load
one line still goes every MAX_YIELD_S, so a batch always progresses.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Any

from flask import Flask, g, request

from mmserve.jobs import JobStopped

BATCH_ENVIRON_KEY = "mmserve.low_priority"  # set on in-process calls; no client can send it
# Who the line runs as (the batch's recorded creator; api/security.py reads it). WSGI environ
# keys are not headers: a client's headers arrive as HTTP_*, so none can set this one.
BATCH_OWNER_KEY = "mmserve.batch_owner"
GRACE_S = 0.02
MAX_YIELD_S = 1.0


class InteractiveGate:
    """Counts clients' requests in flight. A waiting batch sleeps on a condition that each
    request's end notifies: no polling loop taking the GIL from the request threads."""

    def __init__(self, *, grace_s: float = GRACE_S, max_yield_s: float = MAX_YIELD_S):
        self.grace_s = grace_s
        self.max_yield_s = max_yield_s
        self._changed = threading.Condition()
        self._in_flight = 0
        self._last_end = -float("inf")
        self._last_forced = -float("inf")

    def begin(self) -> None:
        with self._changed:
            self._in_flight += 1

    def end(self) -> None:
        with self._changed:
            self._in_flight -= 1
            self._last_end = time.monotonic()
            self._changed.notify_all()

    def busy(self) -> bool:
        with self._changed:
            return self._busy_for(time.monotonic()) > 0

    def wait_for_idle(self) -> float:
        """Block while clients are busy; the seconds waited. Past max_yield_s one waiter (not
        every one: a batch has several lines in flight) goes anyway, one per max_yield_s."""
        started = time.monotonic()
        with self._changed:
            while True:
                now = time.monotonic()
                busy_for = self._busy_for(now)
                if busy_for <= 0:
                    return now - started
                due = max(started, self._last_forced) + self.max_yield_s
                if now >= due:
                    self._last_forced = now
                    return now - started
                self._changed.wait(min(busy_for, due - now))

    def _busy_for(self, now: float) -> float:
        """How long to wait before looking again: until the grace ends, or (requests in
        flight) until one ends or max_yield_s; 0: idle."""
        if self._in_flight > 0:
            return self.max_yield_s
        return max(0.0, self._last_end + self.grace_s - now)


class InProcessDispatch:
    """(method, url, JSON body, owner) -> (status, JSON body, request id), after the gate.
    `owner` is the batch creator's recorded identity (Principal.owner()), or None.

    Holds the app weakly: the job runner holds this, and its thread must not keep the app
    alive, or the app's finalizer (Services.close, which stops that thread) never runs."""

    def __init__(self, app: Flask, gate: InteractiveGate):
        self._app = weakref.ref(app)
        self.gate = gate

    def __call__(
        self, method: str, url: str, body: dict[str, Any], owner: dict[str, Any] | None = None
    ) -> tuple[int, Any, str | None]:
        self.gate.wait_for_idle()
        app = self._app()
        if app is None:  # the app is being torn down, its runner stopping: resume later
            raise JobStopped("the app is gone")
        client = app.test_client()
        response = client.open(
            url,
            method=method,
            json=body,
            environ_overrides={BATCH_ENVIRON_KEY: True, BATCH_OWNER_KEY: owner},
        )
        payload = response.get_json(silent=True)
        if payload is None:
            payload = response.get_data(as_text=True)
        return response.status_code, payload, response.headers.get("X-Request-ID")


def init_app(app: Flask) -> InProcessDispatch:
    """Count clients' POSTs for the gate; the dispatcher that waits on it."""
    gate = InteractiveGate()

    def begin() -> None:
        if request.method == "POST" and not request.environ.get(BATCH_ENVIRON_KEY):
            gate.begin()
            g.counted_interactive = True

    def end(_: BaseException | None) -> None:
        if g.pop("counted_interactive", False):
            gate.end()

    app.before_request(begin)
    app.teardown_request(end)
    return InProcessDispatch(app, gate)
