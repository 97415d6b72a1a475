"""Settings of who may call the server and how it is reached: [auth], [auth.oidc], [tls], [cors].

Frozen keyword-only dataclasses like the rest of mmserve.config, which reads the TOML tables
and the MMSERVE_AUTH_* / MMSERVE_TLS_* / MMSERVE_CORS_* environment into them. Standard
library only, so config.py can import it without pulling a JWT or TLS library.

    [auth]
    mode = "keys"              # off | keys | oidc | keys+oidc
    metrics_token = "..."      # a second way into /metrics for a Prometheus scraper
    insecure = false           # serve a non-loopback address with auth off (--insecure)
    audit_log = true           # JSON lines in <data_dir>/audit/audit.log (default: auth on)
    usage_flush_s = 1.0        # a crash loses at most this long of usage counts

    [auth.oidc]
    issuer = "https://login.example.com/"
    audience = "mmserve"
    jwks_url = "https://login.example.com/.well-known/jwks.json"   # or jwks_file
    algorithms = ["RS256", "ES256"]
    leeway_s = 30
    scope_claim = "scope"      # space-separated string or a list
    name_claim = "sub"         # what usage, limits and the audit log call the caller

    [tls]
    certfile = "/etc/mmserve/cert.pem"
    keyfile = "/etc/mmserve/key.pem"
    client_ca = "/etc/mmserve/clients-ca.pem"   # set: clients must present a cert it signed

    [cors]
    origins = ["https://app.example.com"]       # empty (default): no CORS headers at all
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mmserve.errors import ConfigError

AUTH_MODES = ("off", "keys", "oidc", "keys+oidc")
# Asymmetric only: an HS* algorithm would let anyone holding the JWKS (it is public) sign
# tokens if a key were ever used as an HMAC secret, and `none` signs nothing.
OIDC_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA")


@dataclass(frozen=True, kw_only=True)
class OidcConfig:
    issuer: str = ""
    audience: str = ""
    jwks_url: str = ""
    jwks_file: Path | None = None
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    leeway_s: float = 30.0
    scope_claim: str = "scope"
    name_claim: str = "sub"
    jwks_max_age_s: float = 3600.0  # when the JWKS response names no max-age
    jwks_allow_private_networks: bool = False  # an IdP on this host or the intranet

    def check(self) -> None:
        """Called when OIDC is on: every field it needs, or a message saying which."""
        missing = [k for k in ("issuer", "audience") if not getattr(self, k)]
        if missing:
            raise ConfigError(f"[auth.oidc]: set {' and '.join(missing)} (auth mode uses oidc)")
        if bool(self.jwks_url) == (self.jwks_file is not None):
            raise ConfigError("[auth.oidc]: set exactly one of jwks_url and jwks_file")
        if self.jwks_url and not self.jwks_url.startswith("https://"):
            if not self.jwks_allow_private_networks:
                raise ConfigError("[auth.oidc]: jwks_url must be https://")
        bad = [a for a in self.algorithms if a not in OIDC_ALGORITHMS]
        if bad or not self.algorithms:
            raise ConfigError(
                f"[auth.oidc]: algorithms {bad or '[]'} not allowed; use some of "
                f"{', '.join(OIDC_ALGORITHMS)} (never none or HS*)"
            )
        if not 0 <= self.leeway_s <= 300:
            raise ConfigError(f"[auth.oidc]: leeway_s = {self.leeway_s} is out of range 0-300")


@dataclass(frozen=True, kw_only=True)
class AuthConfig:
    mode: str = "off"
    metrics_token: str = ""
    insecure: bool = False
    audit_log: bool | None = None  # None: on when auth is on
    usage_flush_s: float = 1.0
    oidc: OidcConfig = field(default_factory=OidcConfig)

    def __post_init__(self) -> None:
        if self.mode not in AUTH_MODES:
            raise ConfigError(f"[auth] mode {self.mode!r} is not one of {', '.join(AUTH_MODES)}")
        if not 0.05 <= self.usage_flush_s <= 1.0:
            raise ConfigError(
                f"[auth] usage_flush_s = {self.usage_flush_s} is out of range 0.05-1.0 "
                "(a crash loses at most this long of usage counts)"
            )
        if self.metrics_token and len(self.metrics_token) < 16:
            raise ConfigError("[auth] metrics_token must be at least 16 characters")
        if self.uses_oidc:
            self.oidc.check()

    @property
    def enabled(self) -> bool:
        return self.mode != "off"

    @property
    def uses_keys(self) -> bool:
        return self.mode in ("keys", "keys+oidc")

    @property
    def uses_oidc(self) -> bool:
        return self.mode in ("oidc", "keys+oidc")

    @property
    def audit(self) -> bool:
        return self.enabled if self.audit_log is None else self.audit_log


@dataclass(frozen=True, kw_only=True)
class TlsConfig:
    certfile: Path | None = None
    keyfile: Path | None = None
    client_ca: Path | None = None  # set: a client certificate signed by it is required

    def __post_init__(self) -> None:
        if (self.certfile is None) != (self.keyfile is None):
            raise ConfigError("[tls]: set both certfile and keyfile (--certfile, --keyfile)")
        for name in ("certfile", "keyfile", "client_ca"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise ConfigError(f"[tls]: {name} {path} is not a readable file")
        if self.client_ca is not None and self.certfile is None:
            raise ConfigError("[tls]: client_ca needs certfile and keyfile (TLS) as well")

    @property
    def enabled(self) -> bool:
        return self.certfile is not None


@dataclass(frozen=True, kw_only=True)
class CorsConfig:
    origins: tuple[str, ...] = ()  # exact origins, e.g. "https://app.example.com"

    def __post_init__(self) -> None:
        for origin in self.origins:
            if origin == "*" or not origin.startswith(("http://", "https://")):
                raise ConfigError(
                    f"[cors] origins: {origin!r} is not an origin; list each one, "
                    "e.g. 'https://app.example.com' (no '*': keys travel with requests)"
                )


AUTH_KEYS = {
    "mode": str,
    "metrics_token": str,
    "insecure": bool,
    "audit_log": bool,
    "usage_flush_s": float,
}
OIDC_KEYS = {
    "issuer": str,
    "audience": str,
    "jwks_url": str,
    "jwks_file": Path,
    "algorithms": tuple,
    "leeway_s": float,
    "scope_claim": str,
    "name_claim": str,
    "jwks_max_age_s": float,
    "jwks_allow_private_networks": bool,
}
TLS_KEYS = {"certfile": Path, "keyfile": Path, "client_ca": Path}
CORS_KEYS = {"origins": tuple}

# What a key may do. Each route declares one (mmserve.api.scopes).
SCOPES = (
    "embed",
    "transcribe",
    "vision",  # captions, OCR, tags, classifications, label sets
    "search:read",
    "search:write",
    "predict",
    "train",  # jobs, the fusion registry
    "admin",  # keys, usage of every key, metrics; implies every other scope
)
# The units that cost money in multimodal serving, counted from what the server processed.
USAGE_UNITS = ("requests", "text_tokens", "image_megapixels", "audio_seconds", "training_jobs")
QUOTA_PERIODS = ("day", "month")
