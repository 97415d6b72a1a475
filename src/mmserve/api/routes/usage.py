"""GET /v1/usage: what a key used this period, and its quota."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, g, jsonify, request

from mmserve.api.openapi import operation
from mmserve.api.security import security
from mmserve.errors import InvalidRequest
from mmserve.security_config import QUOTA_PERIODS
from mmserve.services.usage import period_of

bp = Blueprint("usage", __name__)


@bp.get("/v1/usage")
@operation("Usage and quota of a key this period", tags=["operations"], errors=(400, 401, 403))
def get_usage() -> Any:
    """Query: `period` (day or month; default the key's quota period), `date` (YYYY-MM-DD
    in the period; default today, UTC), `key` (another key's name: admin only)."""
    sec = security()
    principal = g.principal
    name = request.args.get("key") or principal.name
    if name != principal.name:
        principal.require("admin")
    quotas, quota_period = principal.quotas, principal.quota_period
    if name != principal.name:
        other = next((k for k in sec.keys.list() if k.name == name), None)
        quotas, quota_period = (other.quotas, other.quota_period) if other else ({}, "day")
    period_name = request.args.get("period", quota_period)
    if period_name not in QUOTA_PERIODS:
        raise InvalidRequest(f"period must be one of {', '.join(QUOTA_PERIODS)}", param="period")
    period = period_of(_when(request.args.get("date")), period_name)
    return jsonify(
        {
            "object": "usage",
            "key": name,
            **period.public(),
            "usage": sec.meter.totals(name, period),
            "quota": quotas if period_name == quota_period else {},
        }
    )


def _when(date: str | None) -> float:
    if not date:
        return security().meter.clock()
    try:
        day = dt.date.fromisoformat(date)
    except ValueError:
        raise InvalidRequest(f"date {date!r} is not YYYY-MM-DD", param="date") from None
    return dt.datetime.combine(day, dt.time(12), dt.UTC).timestamp()
