"""The security state of one app (a field of Services): API keys and their store, the
authenticator (keys, OIDC), the rate limiter, the usage meter, collection grants and the
audit log. Flask-free; mmserve.api.security reads requests and calls it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mmserve.config import Config
from mmserve.metrics import Metrics
from mmserve.security_config import AuthConfig
from mmserve.services.audit import AUDIT_FOLDER, AuditLog
from mmserve.services.auth import Authenticator
from mmserve.services.ratelimit import RateLimiter
from mmserve.services.usage import UsageMeter
from mmserve.store.access import CollectionAccess
from mmserve.store.db import Database
from mmserve.store.keys import KeyStore, open_auth_db
from mmserve.store.usage import UsageStore


@dataclass
class Security:
    config: AuthConfig
    db: Database
    keys: KeyStore
    authenticator: Authenticator
    limiter: RateLimiter
    meter: UsageMeter
    access: CollectionAccess
    audit: AuditLog | None

    def start(self) -> None:
        """Start flushing usage in the background (create_app, once the app is built)."""
        self.meter.start()

    def close(self) -> None:
        """Write pending usage and close files; the app serves no more requests."""
        self.meter.close()
        if self.audit is not None:
            self.audit.close()
        self.db.close()


def build_security(config: Config, metrics: Metrics) -> Security:
    db = open_auth_db(config.data_dir)
    keys = KeyStore(db)
    oidc = None
    if config.auth.uses_oidc:
        from mmserve.services.oidc import OidcVerifier

        oidc = OidcVerifier(config.auth.oidc)
    counter = usage_counter(metrics)
    meter = UsageMeter(UsageStore(db), flush_s=config.auth.usage_flush_s, counter=counter)
    return Security(
        config=config.auth,
        db=db,
        keys=keys,
        authenticator=Authenticator(config.auth, keys, oidc),
        limiter=RateLimiter(),
        meter=meter,
        access=CollectionAccess(db),
        audit=AuditLog(config.data_dir / AUDIT_FOLDER) if config.auth.audit else None,
    )


def usage_counter(metrics: Metrics) -> Any:
    from prometheus_client import Counter

    return Counter(
        "mmserve_usage",
        "What each caller used: requests, text tokens, image megapixels, audio seconds, "
        "training jobs (label: key name, OIDC subject or client address; never a secret)",
        ["key", "unit"],
        registry=metrics.registry,
    )
