"""`mmserve keys`: the secret printed once and never listed; revoke, rotate, bad input."""

from __future__ import annotations

import json

from click.testing import CliRunner

from mmserve.cli import main
from mmserve.store.keys import KeyStore, open_auth_db


def keys(tmp_path, *args):
    return CliRunner().invoke(main, ["keys", "--data-dir", str(tmp_path), *args])


def test_create_list_rotate_revoke(tmp_path):
    created = keys(
        tmp_path,
        "create",
        "--name",
        "alice",
        "--scopes",
        "embed,search:read",
        "--rate",
        "5",
        "--quota",
        "text_tokens=1000",
        "--period",
        "month",
        "--expires",
        "30d",
    )
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[0]
    assert secret.startswith("mms_")
    listed = keys(tmp_path, "list", "--json")
    record = json.loads(listed.stdout)
    assert record["name"] == "alice" and record["scopes"] == ["embed", "search:read"]
    assert record["quotas"] == {"text_tokens": 1000.0} and record["burst"] == 10
    assert secret not in listed.stdout
    db = open_auth_db(tmp_path)
    try:
        store = KeyStore(db)
        assert store.verify(secret).name == "alice"
        rotated = keys(tmp_path, "rotate", "alice").stdout.strip().splitlines()[0]
        assert store.verify(secret) is None and store.verify(rotated).name == "alice"
        assert keys(tmp_path, "revoke", "alice").exit_code == 0
        assert store.verify(rotated) is None
        assert "revoked" in keys(tmp_path, "list", "--all").stdout
    finally:
        db.close()


def test_bad_input_says_what_is_wrong(tmp_path):
    unknown = keys(tmp_path, "create", "--name", "x", "--scopes", "embed,everything")
    assert unknown.exit_code != 0 and "everything" in unknown.output
    bad_quota = keys(tmp_path, "create", "--name", "x", "--scopes", "embed", "--quota", "pixels=3")
    assert bad_quota.exit_code != 0 and "pixels" in bad_quota.output
    bad_expiry = keys(tmp_path, "create", "--name", "x", "--scopes", "embed", "--expires", "soon")
    assert bad_expiry.exit_code != 0 and "30d" in bad_expiry.output
    keys(tmp_path, "create", "--name", "x", "--scopes", "embed")
    twice = keys(tmp_path, "create", "--name", "x", "--scopes", "embed")
    assert twice.exit_code != 0 and "revoke it first" in twice.output
    assert "no live key" in keys(tmp_path, "revoke", "nobody").output
