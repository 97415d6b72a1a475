"""`mmserve keys create | list | revoke | rotate`: API keys in <data_dir>/auth.sqlite3.

The secret is printed once, on create and rotate; only its SHA-256 is stored. A running
server reads the key table on every request, so changes here hold from its next request.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import click

from mmserve.cli.common import CONFIG_OPTION, DATA_DIR_OPTION, cli_errors, load
from mmserve.security_config import QUOTA_PERIODS, SCOPES
from mmserve.store.access import ROLES, CollectionAccess
from mmserve.store.keys import ApiKey, KeyStore, open_auth_db

DURATION = re.compile(r"(\d+)([dhm])")
DURATION_S = {"d": 86_400, "h": 3_600, "m": 60}


@click.group("keys")
@CONFIG_OPTION
@DATA_DIR_OPTION
@click.pass_context
def keys_group(ctx: click.Context, config_path: Path | None, data_dir: Path | None) -> None:
    """Create, list, revoke and rotate API keys."""
    config = load(config_path, data_dir=data_dir)
    db = open_auth_db(config.data_dir)
    ctx.call_on_close(db.close)
    ctx.obj = KeyStore(db)


@keys_group.command("create")
@click.option("--name", required=True, help="Shown in usage, metrics and the audit log.")
@click.option(
    "--scopes",
    required=True,
    help=f"Comma-separated: {', '.join(SCOPES)}.",
)
@click.option("--expires", help="Lifetime (30d, 12h, 90m) or a date (2027-01-31).")
@click.option("--rate", type=float, help="Requests per second (token bucket).")
@click.option("--burst", type=int, help="Bucket size (default twice the rate).")
@click.option(
    "--quota",
    multiple=True,
    help="UNIT=AMOUNT per period, repeatable: text_tokens=1000000, image_megapixels=500, "
    "audio_seconds=36000, training_jobs=5, requests=100000.",
)
@click.option("--period", type=click.Choice(QUOTA_PERIODS), default="day", show_default=True)
@click.pass_obj
def create(
    store: KeyStore,
    name: str,
    scopes: str,
    expires: str | None,
    rate: float | None,
    burst: int | None,
    quota: tuple[str, ...],
    period: str,
) -> None:
    """Create a key and print its secret (shown this once)."""
    record, secret = _run(
        store.create,
        name,
        [s.strip() for s in scopes.split(",") if s.strip()],
        expires_at=_expiry(expires),
        rate_per_s=rate,
        burst=burst,
        quotas=_quotas(quota),
        quota_period=period,
    )
    _show_secret(record, secret)


@keys_group.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked keys.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_obj
def list_keys(store: KeyStore, include_revoked: bool, as_json: bool) -> None:
    """List keys (never their secrets)."""
    for key in store.list(include_revoked=include_revoked):
        if as_json:
            click.echo(json.dumps(key.public()))
            continue
        state = "revoked" if key.revoked_at else "expired" if not key.live(time.time()) else "live"
        limits = f" rate={key.rate_per_s:g}/s" if key.rate_per_s else ""
        quotas = "".join(f" {u}={a:g}/{key.quota_period}" for u, a in key.quotas.items())
        click.echo(f"{key.name:<20} {key.id}  {state:<7} {','.join(key.scopes)}{limits}{quotas}")


@keys_group.command("revoke")
@click.argument("name_or_id")
@click.pass_obj
def revoke(store: KeyStore, name_or_id: str) -> None:
    """Revoke a key: refused from the server's next request on."""
    record = _run(store.revoke, name_or_id)
    click.echo(f"revoked {record.name} ({record.id})")


@keys_group.command("rotate")
@click.argument("name_or_id")
@click.pass_obj
def rotate(store: KeyStore, name_or_id: str) -> None:
    """A new secret for the key (same name, scopes, limits); the old secret stops working."""
    record, secret = _run(store.rotate, name_or_id)
    _show_secret(record, secret)


def _show_secret(record: ApiKey, secret: str) -> None:
    click.echo(secret)
    click.echo(
        f"key {record.name} ({record.id}), scopes {','.join(record.scopes)}: the secret above "
        "is shown only now; store it safely",
        err=True,
    )


def _run(function: Any, *args: Any, **kwargs: Any) -> Any:
    with cli_errors():  # a bad name, scope or quota: one line, not a traceback
        return function(*args, **kwargs)


def _expiry(value: str | None) -> float | None:
    if value is None:
        return None
    found = DURATION.fullmatch(value.strip())
    if found:
        return time.time() + int(found[1]) * DURATION_S[found[2]]
    try:
        return time.mktime(time.strptime(value, "%Y-%m-%d"))
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: give a lifetime (30d, 12h, 90m) or a date (2027-01-31)",
            param_hint="--expires",
        ) from None


def _quotas(values: tuple[str, ...]) -> dict[str, float]:
    quotas = {}
    for value in values:
        unit, sep, amount = value.partition("=")
        try:
            quotas[unit.strip()] = float(amount)
        except ValueError:
            sep = ""
        if not sep:
            raise click.BadParameter(f"{value!r}: write UNIT=AMOUNT", param_hint="--quota")
    return quotas


@keys_group.command("grant")
@click.argument("name")
@click.option("--collection", required=True, help="The collection's name.")
@click.option("--role", type=click.Choice(ROLES), default="reader", show_default=True)
@click.pass_obj
def grant(store: KeyStore, name: str, collection: str, role: str) -> None:
    """Let key NAME (or "oidc:<sub>", or "*" for any caller) read, or own, a collection.
    Restricts the collection if it was open."""
    _run(CollectionAccess(store.db).grant, collection, name, role)
    click.echo(f"{name} is now {role} of collection {collection}")


@keys_group.command("ungrant")
@click.argument("name")
@click.option("--collection", required=True, help="The collection's name.")
@click.pass_obj
def ungrant(store: KeyStore, name: str, collection: str) -> None:
    """Take back NAME's role on a collection."""
    if not CollectionAccess(store.db).revoke(collection, name):
        raise click.ClickException(f"{name} has no role on collection {collection}")
    click.echo(f"{name} has no role on collection {collection} now")
