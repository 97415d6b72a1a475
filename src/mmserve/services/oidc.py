"""OIDC bearer tokens: JWTs checked against the identity provider's JWKS with PyJWT.

Checked: the signature with a key of the JWKS named by the token's `kid`, an algorithm from
the configured list (asymmetric only; never `none`, never HS*, and the key's type must fit
the algorithm, so an RSA public key can never serve as an HMAC secret), `iss`, `aud`, `exp`
and `nbf` with `leeway_s`. Every failure is one 401. The JWKS comes from a file, or from a
URL fetched through mmserve.media.fetch (the SSRF-safe fetcher) and cached for the
response's Cache-Control max-age; an unknown `kid` refetches it at most once a minute
(the provider rotated its keys).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from mmserve.errors import ClientError, Unauthorized
from mmserve.media.fetch import fetch_response
from mmserve.media.policy import MediaPolicy
from mmserve.security_config import SCOPES, OidcConfig
from mmserve.services.auth import INVALID_TOKEN, Principal

log = logging.getLogger("mmserve.oidc")
MAX_JWKS_BYTES = 1024 * 1024
REFETCH_UNKNOWN_KID_S = 60.0


def _jwt() -> Any:
    try:
        import jwt
    except ImportError:
        raise ClientError("OIDC needs PyJWT: pip install 'mmserve[auth]'") from None
    return jwt


class JwksCache:
    def __init__(self, config: OidcConfig, clock: Callable[[], float] = time.monotonic):
        self.config = config
        self.clock = clock
        self._keys: dict[str, Any] = {}
        self._expires = 0.0
        self._fetched = -REFETCH_UNKNOWN_KID_S
        self._lock = threading.Lock()

    def key(self, kid: str) -> Any:
        with self._lock:
            now = self.clock()
            stale = now >= self._expires
            unknown = kid not in self._keys and now - self._fetched >= REFETCH_UNKNOWN_KID_S
            if stale or unknown:
                self._load(now)
            return self._keys.get(kid)

    def _load(self, now: float) -> None:
        if self.config.jwks_file is not None:
            document, max_age = self.config.jwks_file.read_bytes(), self.config.jwks_max_age_s
        else:
            fetched = fetch_response(
                self.config.jwks_url,
                policy=self._policy(),
                max_bytes=MAX_JWKS_BYTES,
                field="jwks_url",
            )
            document = fetched.body
            max_age = fetched.max_age_s
            if max_age is None:
                max_age = self.config.jwks_max_age_s
        jwk_set = _jwt().PyJWKSet.from_dict(json.loads(document))
        self._keys = {k.key_id: k for k in jwk_set.keys if k.key_id}
        self._expires = now + max_age
        self._fetched = now

    def _policy(self) -> MediaPolicy:
        from urllib.parse import urlsplit

        host = urlsplit(self.config.jwks_url).hostname or ""
        return MediaPolicy(
            allow_urls=True,
            url_allowlist=(host,),
            allow_private_networks=self.config.jwks_allow_private_networks,
        )


class OidcVerifier:
    def __init__(self, config: OidcConfig, jwks: JwksCache | None = None):
        self.config = config
        self.jwks = jwks or JwksCache(config)

    def verify(self, token: str) -> Principal:
        jwt = _jwt()
        try:
            header = jwt.get_unverified_header(token)
            algorithm, kid = header.get("alg"), header.get("kid")
            if algorithm not in self.config.algorithms:
                raise _invalid(f"the token's algorithm {algorithm!r} is not accepted")
            jwk = self._key(str(kid)) if kid else None
            if jwk is None:
                raise _invalid("the token's key id is not in the identity provider's JWKS")
            if jwk.algorithm_name != algorithm and not _same_family(jwk, algorithm):
                raise _invalid("the token's algorithm does not fit its key")
            claims = jwt.decode(
                token,
                key=jwk.key,
                algorithms=[algorithm],
                audience=self.config.audience,
                issuer=self.config.issuer,
                leeway=self.config.leeway_s,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as e:
            raise _invalid(f"the token is not valid ({type(e).__name__})") from None
        return self._principal(claims)

    def _key(self, kid: str) -> Any:
        try:
            return self.jwks.key(kid)
        except (ClientError, OSError, ValueError) as e:  # unreachable, refused, not a JWKS
            log.error("reading the OIDC JWKS failed: %s", getattr(e, "message", e))
            raise _invalid("the identity provider's keys could not be read; try again") from None

    def _principal(self, claims: dict[str, Any]) -> Principal:
        raw = claims.get(self.config.scope_claim, "")
        scopes = raw.split() if isinstance(raw, str) else [str(s) for s in raw or []]
        name = str(claims.get(self.config.name_claim) or "")
        if not name:
            raise _invalid(f"the token has no '{self.config.name_claim}' claim")
        return Principal(
            name=f"oidc:{name}", kind="oidc", scopes=frozenset(s for s in scopes if s in SCOPES)
        )


def _same_family(jwk: Any, algorithm: str) -> bool:
    """Whether the JWK's key type signs with `algorithm` (a JWK may omit its `alg`)."""
    kty = jwk.key_type
    families = {"RSA": ("RS", "PS"), "EC": ("ES",), "OKP": ("EdDSA",)}
    return algorithm.startswith(families.get(kty, ("-",)))


def _invalid(message: str) -> Unauthorized:
    return Unauthorized(message, challenge=INVALID_TOKEN, code="invalid_token")
