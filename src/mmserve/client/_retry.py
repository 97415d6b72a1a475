"""When to retry a call and how long to wait: pure, shared by Client and AsyncClient."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

RETRY_STATUSES = (429, 503)  # the server did not start the work: safe to send again


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 4
    base_delay_s: float = 0.25  # first backoff without a Retry-After; doubles each time
    max_delay_s: float = 8.0
    deadline_s: float = 120.0  # for one call, retries and waits included

    def delay(self, retry: int, retry_after: str | None, rng: random.Random) -> float:
        """Seconds before retry number `retry` (0-based). A Retry-After is a floor: jitter
        only adds to it, so many clients told the same second do not come back together."""
        backoff = min(self.max_delay_s, self.base_delay_s * 2**retry)
        floor = _seconds(retry_after)
        if floor is not None:
            return floor + rng.uniform(0, min(backoff, floor * 0.25 + self.base_delay_s))
        return rng.uniform(backoff / 2, backoff)


@dataclass
class Attempts:
    """One call's retry state: `next_delay()` is None when it must give up."""

    policy: RetryPolicy
    started: float
    rng: random.Random
    retries: int = 0

    def next_delay(self, retry_after: str | None) -> float | None:
        if self.retries >= self.policy.max_retries:
            return None
        delay = self.policy.delay(self.retries, retry_after, self.rng)
        if time.monotonic() + delay > self.started + self.policy.deadline_s:
            return None
        self.retries += 1
        return delay

    def time_left(self) -> float:
        return self.started + self.policy.deadline_s - time.monotonic()


def _seconds(retry_after: str | None) -> float | None:
    """Retry-After in seconds (the server sends an integer; an HTTP date is not used)."""
    if retry_after is None:
        return None
    try:
        return max(0.0, float(retry_after))
    except ValueError:
        return None
