"""Token bucket and usage quotas with a fake clock; usage persisted across a restart."""

from __future__ import annotations

import datetime as dt

import pytest

from mmserve.errors import QuotaExceeded
from mmserve.services.ratelimit import RateLimiter
from mmserve.services.usage import UsageMeter, period_of
from mmserve.store.keys import open_auth_db
from mmserve.store.usage import UsageStore

NOON = dt.datetime(2026, 12, 3, 12, tzinfo=dt.UTC).timestamp()


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_bucket_allows_a_burst_then_the_rate():
    clock = Clock(100.0)
    limiter = RateLimiter(clock)
    decisions = [limiter.take("k", rate=2.0, burst=3) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions[:3]] == [2, 1, 0]
    refused = decisions[-1]
    assert refused.retry_after_s == 1 and refused.limit == 3
    assert refused.headers()["x-ratelimit-reset"] == "2"  # 3 tokens back at 2 per second
    clock.now += 0.5  # one token back
    assert limiter.take("k", 2.0, 3).allowed
    assert not limiter.take("k", 2.0, 3).allowed
    assert limiter.take("other", 2.0, 3).allowed  # buckets are per caller


def test_periods_are_utc_days_and_months():
    day = period_of(NOON, "day")
    assert (day.first_day, day.last_day) == ("2026-12-03", "2026-12-03")
    assert day.resets_at == dt.datetime(2026, 12, 4, tzinfo=dt.UTC).timestamp()
    month = period_of(NOON, "month")
    assert (month.first_day, month.last_day) == ("2026-12-01", "2026-12-31")
    assert month.public()["resets_at"] == "2027-01-01T00:00:00Z"


@pytest.fixture
def db(tmp_path):
    database = open_auth_db(tmp_path)
    yield database
    database.close()


def test_quota_refuses_once_used_and_names_unit_and_reset(db):
    clock = Clock(NOON)
    meter = UsageMeter(UsageStore(db), clock=clock)
    quotas = {"text_tokens": 10.0}
    meter.check_quota("alice", quotas, "day", ("text_tokens",))
    meter.add("alice", "text_tokens", 10)
    with pytest.raises(QuotaExceeded) as refused:
        meter.check_quota("alice", quotas, "day", ("text_tokens",))
    assert refused.value.code == "quota_exceeded" and refused.value.param == "text_tokens"
    assert "2026-12-04T00:00:00Z" in refused.value.message
    assert refused.value.retry_after_s == 12 * 3600
    meter.check_quota("alice", quotas, "day", ("audio_seconds",))  # other units still served
    meter.check_quota("bob", quotas, "day", ("text_tokens",))  # and other callers
    clock.now += 12 * 3600  # the next UTC day
    meter.check_quota("alice", quotas, "day", ("text_tokens",))


def test_usage_survives_a_restart_and_pending_counts_are_seen_before_a_flush(db, tmp_path):
    clock = Clock(NOON)
    meter = UsageMeter(UsageStore(db), clock=clock)
    meter.add("alice", "image_megapixels", 1.5)
    meter.add("alice", "image_megapixels", 0.25)
    assert meter.totals("alice", period_of(NOON, "day")) == {"image_megapixels": 1.75}
    meter.close()  # a clean stop flushes
    db.close()
    reopened = open_auth_db(tmp_path)
    try:
        again = UsageMeter(UsageStore(reopened), clock=clock)
        assert again.totals("alice", period_of(NOON, "month")) == {"image_megapixels": 1.75}
    finally:
        reopened.close()


def test_the_flusher_writes_within_its_interval(db):
    import time

    meter = UsageMeter(UsageStore(db), flush_s=0.05)
    meter.start()
    try:
        meter.add("alice", "requests", 1)
        deadline = time.monotonic() + 5
        today = period_of(time.time(), "day")
        while time.monotonic() < deadline and not meter.store.totals(
            "alice", today.first_day, today.last_day
        ):
            time.sleep(0.02)
        assert meter.store.totals("alice", today.first_day, today.last_day) == {"requests": 1.0}
    finally:
        meter.close()


def test_closing_from_the_flusher_thread_itself_writes_and_does_not_raise(db):
    """The app's finalizer may run on the flusher's thread (garbage collection runs on any)."""
    import time

    meter = UsageMeter(UsageStore(db), flush_s=0.01)
    meter.add("alice", "requests", 2)
    outcome: list[BaseException | None] = []
    original_flush = meter.flush

    def flush_by_closing() -> None:  # the flusher's first tick closes the meter
        meter.flush = original_flush
        try:
            meter.close()
            outcome.append(None)
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            outcome.append(e)

    meter.flush = flush_by_closing
    meter.start()
    for _ in range(500):  # up to 5 s
        if outcome:
            break
        time.sleep(0.01)
    assert outcome == [None]
    today = period_of(meter.clock(), "day")
    assert meter.store.totals("alice", today.first_day, today.last_day) == {"requests": 2.0}
