"""Who is calling: an API key, an OIDC token, or (auth off) a client address.

    Authenticator(config, keys, oidc).authenticate(credential, remote_addr) -> Principal

Flask-free: mmserve.api.security reads the headers and calls this. Failures raise
Unauthorized (401) with one message for unknown, wrong, revoked and expired keys alike, so
a caller learns nothing about which keys exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

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
