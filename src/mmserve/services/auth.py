"""Who is calling: an API key, an OIDC token, or (auth off) a client address.

    Authenticator(config, keys, oidc).authenticate(credential, remote_addr) -> Principal

Flask-free: mmserve.api.security reads the headers and calls this. Failures raise
Unauthorized (401) with one message for unknown, wrong, revoked and expired keys alike, so
a caller learns nothing about which keys exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mmserve.errors import Forbidden, Unauthorized
from mmserve.security_config import SCOPES, AuthConfig
from mmserve.store.keys import KEY_PREFIX, ApiKey, KeyStore

if TYPE_CHECKING:
    from mmserve.services.oidc import OidcVerifier

REALM = 'Bearer realm="mmserve"'
INVALID_TOKEN = REALM + ', error="invalid_token"'
ANY_SCOPE = "*"  # a route any authenticated caller may use (GET /v1/models, /v1/usage)


@dataclass(frozen=True)
class Principal:
    name: str  # key name, OIDC subject, or "addr:<ip>" with auth off
    kind: str  # "key", "oidc" or "address"
    scopes: frozenset[str]
    rate_per_s: float | None = None
    burst: int | None = None
    quotas: dict[str, float] = field(default_factory=dict)
    quota_period: str = "day"
    key_id: str | None = None  # an API key's public id (never its secret)

    def owner(self) -> dict[str, Any] | None:
        """Who a batch created by this caller runs as (stored in the batch's params): a
        key by id, so each line re-reads it and a revocation stops the batch; an OIDC
        subject with the scopes granted at creation (its token is not kept). Auth off: None."""
        if self.kind == "key" and self.key_id:
            return {"kind": "key", "key_id": self.key_id}
        if self.kind == "oidc":
            return {"kind": "oidc", "name": self.name, "scopes": sorted(self.scopes)}
        return None

    def allows(self, scope: str) -> bool:
        return scope == ANY_SCOPE or scope in self.scopes or "admin" in self.scopes

    def require(self, scope: str) -> None:
        if not self.allows(scope):
            raise Forbidden(
                f"this credential lacks the '{scope}' scope this route needs; it has "
                f"{', '.join(sorted(self.scopes)) or 'none'}",
                param=scope,
            )


def key_principal(key: ApiKey) -> Principal:
    return Principal(
        name=key.name,
        kind="key",
        scopes=frozenset(key.scopes),
        rate_per_s=key.rate_per_s,
        burst=key.burst,
        quotas=key.quotas,
        quota_period=key.quota_period,
        key_id=key.id,
    )


class Authenticator:
    def __init__(self, config: AuthConfig, keys: KeyStore | None, oidc: OidcVerifier | None = None):
        self.config = config
        self.keys = keys
        self.oidc = oidc

    def authenticate(self, credential: str | None, remote_addr: str) -> Principal:
        if not self.config.enabled:
            return Principal(name=f"addr:{remote_addr}", kind="address", scopes=frozenset(SCOPES))
        if not credential:
            raise Unauthorized(
                "no credential; send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
                challenge=REALM,
                code="missing_credential",
            )
        if self.config.uses_keys and self.keys is not None and credential.startswith(KEY_PREFIX):
            key = self.keys.verify(credential)
            if key is not None:
                return key_principal(key)
            raise Unauthorized(
                "the API key is unknown, revoked or expired", challenge=INVALID_TOKEN
            )
        if self.config.uses_oidc and self.oidc is not None and credential.count(".") == 2:
            return self.oidc.verify(credential)
        raise Unauthorized(
            "the credential is not a valid API key or token", challenge=INVALID_TOKEN
        )

    def batch_principal(self, owner: dict[str, Any] | None) -> Principal:
        """The principal a batch line runs as: its creator, as recorded at creation. A key
        is read again by id and must still be live (a revocation stops the batch at its
        next line); a line with no recorded creator (a batch made with auth off) is
        refused, never run unauthenticated."""
        owner = owner or {}
        if owner.get("kind") == "key" and self.keys is not None:
            key = self.keys.find_id(str(owner.get("key_id")))
            if key is not None and key.live(self.keys.clock()):
                return key_principal(key)
            raise Unauthorized(
                "the API key that created this batch is unknown, revoked or expired",
                challenge=INVALID_TOKEN,
            )
        if owner.get("kind") == "oidc" and self.config.uses_oidc:
            granted = frozenset(s for s in owner.get("scopes", ()) if s in SCOPES)
            return Principal(name=str(owner.get("name")), kind="oidc", scopes=granted)
        raise Unauthorized(
            "this batch has no recorded creator, so its lines cannot run with auth on; "
            "create the batch again with a credential",
            challenge=REALM,
            code="missing_credential",
        )


def credential_from(authorization: str | None, api_key: str | None) -> str | None:
    """The key or token of `Authorization: Bearer X` (what the openai client sends) or
    `X-API-Key: X`."""
    if api_key:
        return api_key.strip()
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return None
