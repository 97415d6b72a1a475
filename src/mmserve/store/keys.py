"""API keys and usage counts, in <data_dir>/auth.sqlite3 (persistence only).

A key reads `mms_<id>_<secret>`: `id` (12 hex) is public and finds the row; `secret` holds
256 random bits. Only SHA-256 of the whole key is stored, and it is compared in constant
time (hmac.compare_digest). A fast hash is enough here: the secret is random, not a
password, so there is nothing to brute-force that a slow hash would protect. Every request
reads the row again, so a revocation holds from the next request on, in every process
that shares the data directory.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmserve.errors import InvalidRequest, NotFound
from mmserve.security_config import QUOTA_PERIODS, SCOPES, USAGE_UNITS
from mmserve.store.db import Database

KEY_PREFIX = "mms_"
ID_HEX = 12
SECRET_BYTES = 32  # 256 bits
AUTH_SCHEMA_VERSION = 1
AUTH_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS api_keys (
        id TEXT PRIMARY KEY,                  -- the public part of the key
        name TEXT NOT NULL,                   -- what usage, metrics and the audit log show
        secret_sha256 TEXT NOT NULL,          -- hex SHA-256 of the whole key
        scopes TEXT NOT NULL,                 -- space-separated
        created_at REAL NOT NULL,             -- unix seconds
        expires_at REAL,
        revoked_at REAL,
        rate_per_s REAL,                      -- token bucket refill; NULL: unlimited
        burst INTEGER,                        -- token bucket size
        quotas TEXT NOT NULL DEFAULT '{}',    -- JSON {unit: amount per period}
        quota_period TEXT NOT NULL DEFAULT 'day'
    )
    """,
    "CREATE UNIQUE INDEX IF NOT EXISTS api_keys_live_name ON api_keys(name) "
    "WHERE revoked_at IS NULL",
    """
    CREATE TABLE IF NOT EXISTS usage (
        principal TEXT NOT NULL,              -- key name, OIDC subject or client address
        day TEXT NOT NULL,                    -- UTC date, YYYY-MM-DD
        unit TEXT NOT NULL,
        amount REAL NOT NULL,
        PRIMARY KEY (principal, day, unit)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS collection_access (
        collection TEXT NOT NULL,             -- a collection's name
        principal TEXT NOT NULL,              -- key name, "oidc:<sub>", or "*" (any caller)
        role TEXT NOT NULL,                   -- "owner" (read and write) or "reader"
        PRIMARY KEY (collection, principal)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS collection_deidentify (
        collection TEXT PRIMARY KEY,          -- a collection's name
        kinds TEXT NOT NULL                   -- space-separated: what every write strips
    )
    """,
)


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    scopes: tuple[str, ...]
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None
    rate_per_s: float | None = None
    burst: int | None = None
    quotas: dict[str, float] = field(default_factory=dict)
    quota_period: str = "day"

    def live(self, now: float) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)

    def public(self) -> dict[str, Any]:
        """Everything about the key but its hash (which is never returned anyway)."""
        return {
            "id": self.id,
            "name": self.name,
            "scopes": list(self.scopes),
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
            "rate_per_s": self.rate_per_s,
            "burst": self.burst,
            "quotas": self.quotas,
            "quota_period": self.quota_period,
        }


def open_auth_db(data_dir: Path) -> Database:
    data_dir.mkdir(parents=True, exist_ok=True)
    return Database(
        data_dir / "auth.sqlite3", schema=AUTH_SCHEMA, schema_version=AUTH_SCHEMA_VERSION
    )


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_id(key: str) -> str | None:
    """The id part of a well-formed key, else None (no database read for garbage)."""
    if not key.startswith(KEY_PREFIX):
        return None
    found, sep, secret = key[len(KEY_PREFIX) :].partition("_")
    if not sep or len(found) != ID_HEX or len(secret) < 40:
        return None
    return found


class KeyStore:
    def __init__(self, db: Database, clock: Any = time.time):
        self.db = db
        self.clock = clock

    def create(
        self,
        name: str,
        scopes: list[str] | tuple[str, ...],
        *,
        expires_at: float | None = None,
        rate_per_s: float | None = None,
        burst: int | None = None,
        quotas: dict[str, float] | None = None,
        quota_period: str = "day",
    ) -> tuple[ApiKey, str]:
        """(the key's record, the secret key): the secret exists only in this return value."""
        scopes = check_scopes(scopes)
        quotas = check_quotas(quotas or {}, quota_period)
        if rate_per_s is not None and not 0 < rate_per_s <= 100_000:
            raise InvalidRequest(f"rate {rate_per_s} is out of range; use 0 < rate <= 100000")
        if rate_per_s is not None and burst is None:
            burst = max(1, round(rate_per_s * 2))
        if not name or len(name) > 64 or any(c.isspace() for c in name):
            raise InvalidRequest(f"key name {name!r}: 1-64 characters without spaces")
        record = ApiKey(
            id=secrets.token_hex(ID_HEX // 2),
            name=name,
            scopes=scopes,
            created_at=self.clock(),
            expires_at=expires_at,
            rate_per_s=rate_per_s,
            burst=burst,
            quotas=quotas,
            quota_period=quota_period,
        )
        secret = _new_secret(record.id)
        try:
            with self.db.write() as conn:
                conn.execute(
                    "INSERT INTO api_keys (id, name, secret_sha256, scopes, created_at, "
                    "expires_at, rate_per_s, burst, quotas, quota_period) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        record.id,
                        name,
                        hash_key(secret),
                        " ".join(scopes),
                        record.created_at,
                        expires_at,
                        rate_per_s,
                        burst,
                        json.dumps(quotas),
                        quota_period,
                    ),
                )
        except sqlite3.IntegrityError:
            raise InvalidRequest(f"a live key named {name!r} exists; revoke it first") from None
        return record, secret

    def verify(self, presented: str) -> ApiKey | None:
        """The live key `presented` is, or None (unknown, wrong, revoked or expired)."""
        found_id = key_id(presented)
        if found_id is None:
            return None
        # One statement, no BEGIN/COMMIT around it: a single SELECT reads one committed
        # snapshot by itself, and this runs on every request (each SQLite call lets go of
        # the GIL and must win it back from the busy request threads).
        rows = self.db.connection().execute(
            f"SELECT {_COLUMNS} FROM api_keys WHERE id = ?", (found_id,)
        )
        found = next(iter(rows.fetchall()), None)  # read to the end: the statement ends
        if found is None:
            return None
        record, stored_hash = _record(found), found[-1]
        if not hmac.compare_digest(hash_key(presented), stored_hash):
            return None
        return record if record.live(self.clock()) else None

    def list(self, *, include_revoked: bool = False) -> list[ApiKey]:
        where = "" if include_revoked else "WHERE revoked_at IS NULL"
        with self.db.read() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM api_keys {where} ORDER BY created_at")
            return [_record(r) for r in rows.fetchall()]

    def get(self, name_or_id: str) -> ApiKey:
        with self.db.read() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM api_keys WHERE revoked_at IS NULL "
                "AND (name = ? OR id = ?)",
                (name_or_id, name_or_id),
            ).fetchone()
        if row is None:
            raise NotFound(f"no live key named {name_or_id!r}; see `mmserve keys list`")
        return _record(row)

    def revoke(self, name_or_id: str) -> ApiKey:
        record = self.get(name_or_id)
        with self.db.write() as conn:
            conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ?", (self.clock(), record.id)
            )
        return self.get_any(record.id)

    def rotate(self, name_or_id: str) -> tuple[ApiKey, str]:
        """A new secret for the key (same name, scopes, limits); the old one stops working."""
        record = self.get(name_or_id)
        secret = _new_secret(record.id)
        with self.db.write() as conn:
            conn.execute(
                "UPDATE api_keys SET secret_sha256 = ? WHERE id = ?", (hash_key(secret), record.id)
            )
        return record, secret

    def find_id(self, key_id_: str) -> ApiKey | None:
        """The key with this id, live or not; None if there is none."""
        with self.db.read() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM api_keys WHERE id = ?", (key_id_,))
            found = row.fetchone()
        return None if found is None else _record(found)

    def get_any(self, key_id_: str) -> ApiKey:
        with self.db.read() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM api_keys WHERE id = ?", (key_id_,))
            return _record(row.fetchone())


_COLUMNS = (
    "id, name, scopes, created_at, expires_at, revoked_at, rate_per_s, burst, quotas, "
    "quota_period, secret_sha256"
)


def _record(row: tuple[Any, ...]) -> ApiKey:
    return ApiKey(
        id=row[0],
        name=row[1],
        scopes=tuple(row[2].split()),
        created_at=row[3],
        expires_at=row[4],
        revoked_at=row[5],
        rate_per_s=row[6],
        burst=row[7],
        quotas=json.loads(row[8]),
        quota_period=row[9],
    )


def _new_secret(found_id: str) -> str:
    return f"{KEY_PREFIX}{found_id}_{secrets.token_urlsafe(SECRET_BYTES)}"


def check_scopes(scopes: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise InvalidRequest(
            f"scopes {unknown or '(none)'} not known; choose from {', '.join(SCOPES)}"
        )
    return tuple(dict.fromkeys(scopes))


def check_quotas(quotas: dict[str, float], period: str) -> dict[str, float]:
    if period not in QUOTA_PERIODS:
        raise InvalidRequest(f"quota period {period!r}: use one of {', '.join(QUOTA_PERIODS)}")
    for unit, amount in quotas.items():
        if unit not in USAGE_UNITS:
            raise InvalidRequest(f"quota unit {unit!r}: use one of {', '.join(USAGE_UNITS)}")
        if not amount > 0:
            raise InvalidRequest(f"quota {unit}={amount}: must be positive")
    return {u: float(a) for u, a in quotas.items()}
