"""Configuration: frozen dataclasses, read from defaults < TOML file < MMSERVE_* env < CLI flags.

This is the only module that reads the environment. Every value is checked when the
configuration is built, and a bad one raises ConfigError with a message saying how to fix it.

TOML shape (every key optional):

    host = "127.0.0.1"
    port = 8000
    threads = 64
    data_dir = "/var/lib/mmserve"
    log_level = "info"

    [limits]
    max_body_bytes = 10485760
    max_inputs = 2048
    request_timeout_s = 30.0
    max_file_bytes = 104857600   # one /v1/files upload (a batch input)

    [media]                # what clients may send as images and audio (mmserve.media.MediaPolicy)
    max_image_bytes = 20971520
    max_image_pixels = 40000000
    max_audio_bytes = 104857600
    max_audio_seconds = 3600.0
    media_root = "/srv/media"   # server-side paths clients may name; unset: refused
    allow_urls = false
    url_allowlist = ["images.example.com", "*.cdn.example"]

    Every [media] key can also come from MMSERVE_MEDIA_<KEY> (MMSERVE_MEDIA_ALLOW_URLS=true,
    MMSERVE_MEDIA_URL_ALLOWLIST=a.example,b.example).

    [auth], [auth.oidc], [tls], [cors]: see mmserve.security_config; each key can also come
    from MMSERVE_AUTH_<KEY>, MMSERVE_AUTH_OIDC_<KEY>, MMSERVE_TLS_<KEY>, MMSERVE_CORS_<KEY>.

    [[models]]
    id = "minilm"          # the name clients use
    source = "minilm"      # registry name, or scheme-prefixed: "local:/path/to/dir"
    max_batch_size = 32    # 0 or unset: the model's default (1 for efficientnet-lite0)
    max_wait_ms = 0.0
    queue_size = 2048
    workers = 2

    [ray]                  # models as Ray Serve replicas: see mmserve.config_ray
    address = "auto"
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from mmserve.config_ray import RayConfig, ray_config
from mmserve.errors import ConfigError
from mmserve.media.policy import MediaPolicy
from mmserve.security_config import (
    AUTH_KEYS,
    CORS_KEYS,
    OIDC_KEYS,
    TLS_KEYS,
    AuthConfig,
    CorsConfig,
    OidcConfig,
    TlsConfig,
)

ENV_PREFIX = "MMSERVE_"
# Every capability out of the box (`make serve`): text embeddings, the joint text-image-audio
# space, ImageNet labels, OCR, audio tags and English speech. 0.87 GB RSS loaded and idle
# (docs/benchmarks.md, "Memory"); `--models minilm` serves text embeddings alone.
DEFAULT_MODELS = ("minilm", "bridge", "efficientnet-lite0", "rapidocr", "yamnet", "whisper-tiny.en")
LOG_LEVELS = ("debug", "info", "warning", "error")
DEFAULT_MAX_BATCH_SIZE = 32
# Models that run faster per item alone than in batches on a CPU, so they default to
# max_batch_size 1: efficientnet-lite0's activations stay in cache at batch 1 (in-process, 2
# threads: 134 images/s at batch 1, 119 at 16; served at c=16: +4%, p99 200 ms against 360
# with batches of up to 32; docs/benchmarks.md, "Speed, 2026-12-03 evening").
UNBATCHED_SOURCES = frozenset({"efficientnet-lite0"})


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """One served model and how its requests are batched."""

    id: str
    source: str = ""  # empty: same as id
    max_batch_size: int = 0  # 0: the model's default (1 for UNBATCHED_SOURCES, else 32)
    # How long a worker waits for a batch to fill after its first item. 0 (measured best on
    # 2 cores): a free worker takes what is queued at once, and batches still grow under load
    # from what arrives during the forward pass; a wait only adds latency to lone requests.
    max_wait_ms: float = 0.0
    # Padded tokens (items x the longest, for text models) in one forward pass. A request
    # over it or over max_batch_size is bulk: queued apart and run between short requests
    # (docs/serving.md, Fairness). 1024: 32 sentences of 32 tokens, or 4 of 256.
    max_batch_tokens: int = 1024
    queue_size: int = 2048  # items waiting per lane (urgent, bulk); past it: 429
    workers: int = 2  # single-threaded inference threads taking batches from one queue

    def __post_init__(self) -> None:
        where = f"model {self.id!r}"
        if not self.id or any(c.isspace() or c in "/,=" for c in self.id):
            raise ConfigError(
                f"{where}: id must be non-empty without spaces, '/', ',' or '='; "
                "name it like 'minilm' or 'my-encoder'"
            )
        if not self.source:
            object.__setattr__(self, "source", self.id)
        if not self.max_batch_size:
            unbatched = self.source in UNBATCHED_SOURCES
            object.__setattr__(self, "max_batch_size", 1 if unbatched else DEFAULT_MAX_BATCH_SIZE)
        _check_range(where, "max_batch_size", self.max_batch_size, 1, 1024)
        _check_range(where, "max_batch_tokens", self.max_batch_tokens, 1, 10_000_000)
        _check_range(where, "max_wait_ms", self.max_wait_ms, 0, 10_000)
        _check_range(where, "queue_size", self.queue_size, 1, 1_000_000)
        _check_range(where, "workers", self.workers, 1, 64)
        if self.queue_size < self.max_batch_size:
            raise ConfigError(
                f"{where}: queue_size ({self.queue_size}) is smaller than max_batch_size "
                f"({self.max_batch_size}); raise queue_size or lower max_batch_size"
            )


@dataclass(frozen=True, kw_only=True)
class Limits:
    """Limits enforced on every request before any expensive work."""

    max_body_bytes: int = 10 * 1024 * 1024  # checked from Content-Length before reading
    max_inputs: int = 2048  # inputs in one embeddings call (OpenAI's limit too)
    request_timeout_s: float = 30.0  # past it a request answers 504
    max_file_bytes: int = 100 * 1024 * 1024  # one upload to /v1/files (a batch's input)
    max_images: int = 8  # images in one chat request (each costs a classifier and OCR pass)

    def __post_init__(self) -> None:
        _check_range("limits", "max_body_bytes", self.max_body_bytes, 1024, 2**34)
        _check_range("limits", "max_inputs", self.max_inputs, 1, 1_000_000)
        _check_range("limits", "request_timeout_s", self.request_timeout_s, 0.001, 86_400)
        _check_range("limits", "max_file_bytes", self.max_file_bytes, 1024, 2**36)
        _check_range("limits", "max_images", self.max_images, 1, 1_000)


@dataclass(frozen=True, kw_only=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 8000
    threads: int = 64  # HTTP threads of the one server process
    data_dir: Path = Path("mmserve-data")
    log_level: str = "info"
    limits: Limits = field(default_factory=Limits)
    media: MediaPolicy = field(default_factory=MediaPolicy)
    auth: AuthConfig = field(default_factory=AuthConfig)
    tls: TlsConfig = field(default_factory=TlsConfig)
    cors: CorsConfig = field(default_factory=CorsConfig)
    models: tuple[ModelConfig, ...] = field(
        default_factory=lambda: tuple(ModelConfig(id=m) for m in DEFAULT_MODELS)
    )
    ray: RayConfig = field(default_factory=RayConfig)

    def __post_init__(self) -> None:
        _check_range("server", "port", self.port, 0, 65_535)
        _check_range("server", "threads", self.threads, 1, 1024)
        if self.log_level not in LOG_LEVELS:
            raise ConfigError(f"log_level {self.log_level!r} is not one of {', '.join(LOG_LEVELS)}")
        ids = [m.id for m in self.models]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ConfigError(f"model ids must be unique; repeated: {', '.join(duplicates)}")

    def model(self, model_id: str) -> ModelConfig | None:
        return next((m for m in self.models if m.id == model_id), None)


_SERVER_KEYS = {"host": str, "port": int, "threads": int, "data_dir": Path, "log_level": str}
_LIMIT_KEYS = {
    "max_body_bytes": int,
    "max_inputs": int,
    "request_timeout_s": float,
    "max_file_bytes": int,
    "max_images": int,
}
_MEDIA_KEYS = {
    "max_image_bytes": int,
    "max_image_pixels": int,
    "max_audio_bytes": int,
    "max_audio_seconds": float,
    "media_root": Path,
    "allow_urls": bool,
    "url_allowlist": tuple,
    "connect_timeout_s": float,
    "read_timeout_s": float,
    "fetch_timeout_s": float,
    "allow_private_networks": bool,
}
MEDIA_ENV_PREFIX = ENV_PREFIX + "MEDIA_"
_MODEL_KEYS = {
    "id": str,
    "source": str,
    "max_batch_size": int,
    "max_batch_tokens": int,
    "max_wait_ms": float,
    "queue_size": int,
    "workers": int,
}


def load_config(
    path: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build the configuration from a TOML file, the environment and CLI overrides.

    `overrides` takes the server and limit keys plus `models`, a comma-separated string or a
    list of model specs (`id` or `id=source`); None values are ignored.
    """
    env = os.environ if env is None else env
    path = path or env.get(ENV_PREFIX + "CONFIG") or None
    raw = _read_toml(Path(path)) if path else {}
    server = _pick(raw, _SERVER_KEYS, "config file")
    limits = _pick(raw.pop("limits", {}), _LIMIT_KEYS, "[limits]")
    media = _pick(raw.pop("media", {}), _MEDIA_KEYS, "[media]")
    security = _security_sections(raw, env, overrides or {})
    model_tables = _model_tables(raw.pop("models", []))
    address = (overrides or {}).get("ray") or env.get(ENV_PREFIX + "RAY_ADDRESS") or None
    ray = ray_config(raw.pop("ray", {}), address)
    if raw:
        raise ConfigError(f"unknown key(s) in config file: {', '.join(sorted(raw))}")

    env_values = {
        k: env[ENV_PREFIX + k.upper()]
        for k in _SERVER_KEYS | _LIMIT_KEYS
        if ENV_PREFIX + k.upper() in env
    }
    for source, values in (("environment", env_values), ("command line", overrides or {})):
        for key, value in values.items():
            if value is None or key in ("models", "ray", *_SECURITY_OVERRIDES):
                continue
            target = server if key in _SERVER_KEYS else limits
            types = _SERVER_KEYS | _LIMIT_KEYS
            if key not in types:
                raise ConfigError(f"unknown setting {key!r} from the {source}")
            target[key] = _coerce(types[key], value, f"{key} from the {source}")

    for key, kind in _MEDIA_KEYS.items():
        if MEDIA_ENV_PREFIX + key.upper() in env:
            value = env[MEDIA_ENV_PREFIX + key.upper()]
            if kind is Path and not value.strip():
                media[key] = None  # an empty media root means off, not the working directory
                continue
            media[key] = _coerce(kind, value, f"{MEDIA_ENV_PREFIX + key.upper()}")

    specs = (overrides or {}).get("models") or env.get(ENV_PREFIX + "MODELS")
    models = _select_models(specs, model_tables)
    server.setdefault("data_dir", Path(platformdirs.user_data_dir("mmserve")))
    return Config(
        **server,
        limits=Limits(**limits),
        media=MediaPolicy(**media),
        **security,
        models=models,
        ray=ray,
    )


# Command-line flags that set a security key: flag name -> (section, key).
_SECURITY_OVERRIDES = {
    "insecure": ("auth", "insecure"),
    "auth_mode": ("auth", "mode"),
    "certfile": ("tls", "certfile"),
    "keyfile": ("tls", "keyfile"),
    "client_ca": ("tls", "client_ca"),
}


def _security_sections(
    raw: dict[str, Any], env: Mapping[str, str], overrides: Mapping[str, Any]
) -> dict[str, Any]:
    """AuthConfig, TlsConfig and CorsConfig from [auth] (with [auth.oidc]), [tls], [cors],
    then MMSERVE_AUTH_*, MMSERVE_AUTH_OIDC_*, MMSERVE_TLS_*, MMSERVE_CORS_*, then flags."""
    auth_table = raw.pop("auth", {})
    oidc_table = auth_table.pop("oidc", {}) if isinstance(auth_table, dict) else {}
    tables = {
        "auth": (auth_table, AUTH_KEYS, "AUTH_"),
        "oidc": (oidc_table, OIDC_KEYS, "AUTH_OIDC_"),
        "tls": (raw.pop("tls", {}), TLS_KEYS, "TLS_"),
        "cors": (raw.pop("cors", {}), CORS_KEYS, "CORS_"),
    }
    values = {}
    for section, (table, types, prefix) in tables.items():
        where = "[auth.oidc]" if section == "oidc" else f"[{section}]"
        picked = _pick(table, types, where)
        for key, kind in types.items():
            name = ENV_PREFIX + prefix + key.upper()
            if name in env:
                picked[key] = _coerce(kind, env[name], name)
        values[section] = picked
    for flag, (section, key) in _SECURITY_OVERRIDES.items():
        if overrides.get(flag) is not None:
            kind = (AUTH_KEYS | TLS_KEYS)[key]
            values[section][key] = _coerce(kind, overrides[flag], f"--{flag.replace('_', '-')}")
    return {
        "auth": AuthConfig(**values["auth"], oidc=OidcConfig(**values["oidc"])),
        "tls": TlsConfig(**values["tls"]),
        "cors": CorsConfig(**values["cors"]),
    }


def replace(config: Config, **changes: Any) -> Config:
    """A copy of `config` with fields changed (and validated again)."""
    return dataclasses.replace(config, **changes)


def parse_model_specs(specs: str | list[str] | tuple[str, ...]) -> list[tuple[str, str]]:
    """'minilm,mine=local:/models/e5' -> [('minilm', 'minilm'), ('mine', 'local:/models/e5')]."""
    items = specs.split(",") if isinstance(specs, str) else list(specs)
    parsed = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        model_id, sep, source = item.partition("=")
        if not sep:
            source = item
            model_id = _default_id(item)
        parsed.append((model_id.strip(), source.strip()))
    if not parsed:
        raise ConfigError("no models given; name at least one, e.g. --models minilm")
    return parsed


def _default_id(source: str) -> str:
    """A served name for a bare spec: 'minilm' stays, 'local:/m/e5-small' becomes 'e5-small'."""
    scheme, sep, rest = source.partition(":")
    if not sep:
        return source
    return Path(rest.rstrip("/")).name or scheme


def _select_models(
    specs: str | list[str] | None, tables: dict[str, dict[str, Any]]
) -> tuple[ModelConfig, ...]:
    if specs is None:
        chosen = list(tables.values()) or [{"id": m} for m in DEFAULT_MODELS]
        return tuple(ModelConfig(**t) for t in chosen)
    models = []
    for model_id, source in parse_model_specs(specs):
        settings = dict(tables.get(model_id, {"id": model_id}))
        if source != model_id or "source" not in settings:
            settings["source"] = source
        models.append(ModelConfig(**settings))
    return tuple(models)


def _model_tables(tables: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(tables, list):
        raise ConfigError("'models' in the config file must be an array of tables: [[models]]")
    out: dict[str, dict[str, Any]] = {}
    for index, table in enumerate(tables):
        if not isinstance(table, dict) or "id" not in table:
            raise ConfigError(f"[[models]] entry {index} needs an 'id', e.g. id = \"minilm\"")
        settings = _pick(dict(table), _MODEL_KEYS, f"[[models]] {table['id']!r}")
        if settings["id"] in out:
            raise ConfigError(f"model ids must be unique; repeated: {settings['id']}")
        out[settings["id"]] = settings
    return out


def _pick(raw: Any, types: dict[str, type], where: str) -> dict[str, Any]:
    """Take the known keys out of `raw` (coerced); leave unknown ones there to report."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a table")
    picked = {}
    for key, kind in types.items():
        if key in raw:
            picked[key] = _coerce(kind, raw.pop(key), f"{key} in {where}")
    if raw and where != "config file":
        raise ConfigError(
            f"unknown key(s) in {where}: {', '.join(sorted(raw))}; known: {', '.join(types)}"
        )
    return picked


def _coerce(kind: type, value: Any, where: str) -> Any:
    if kind is bool:
        return _coerce_bool(value, where)
    if kind is tuple:
        return _coerce_list(value, where)
    try:
        if kind is int and isinstance(value, float | bool):
            raise ValueError
        if kind is Path:
            return Path(str(value)).expanduser()
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: expected {kind.__name__}, got {value!r}") from None


def _coerce_bool(value: Any, where: str) -> bool:
    # TOML gives a real bool; the environment gives text, where bool("false") would be True.
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off", ""):
        return False
    raise ConfigError(f"{where}: expected true or false, got {value!r}")


def _coerce_list(value: Any, where: str) -> tuple[str, ...]:
    # TOML gives an array; the environment gives comma-separated text.
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(
        f"{where}: expected a list of strings, e.g. ['images.example.com'], got {value!r}"
    )


def _check_range(where: str, name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ConfigError(f"{where}: {name} = {value} is out of range; use {low} to {high}")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist; check the --config path") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path} is not valid TOML: {e}") from e
