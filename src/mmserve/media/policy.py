"""MediaPolicy: the limits and permissions for media a client sends, checked at start-up.

One frozen dataclass, so a route, a model and a test all see the same settings; every value
is validated here and a bad one raises ConfigError with a message saying how to fix it.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from pathlib import Path

from mmserve.errors import ConfigError

MIB = 1024 * 1024  # bytes
MEGAPIXEL = 1_000_000  # pixels

# Pillow's own guard (Image.MAX_IMAGE_PIXELS, 0.25 GiB of 24-bit pixels) raises for images
# larger than this, and media/images.py turns that into a 413; a policy above it would
# promise images that can never be decoded.
PILLOW_MAX_PIXELS = 1024 * 1024 * 1024 // 4 // 3  # 89_478_485 pixels


@dataclass(frozen=True, kw_only=True)
class MediaPolicy:
    """What clients may send as images and audio, and where the server may read it from.

    `allow_private_networks` lets URLs reach loopback, private (RFC 1918, fc00::/7) and
    link-local addresses. It exists for tests and for intranets whose media servers live on
    private addresses; on a server that clients on the internet can reach, leave it off, or
    any client can make the server fetch from its own network (SSRF).
    """

    max_image_bytes: int = 20 * MIB  # encoded size, checked before decoding
    max_image_pixels: int = 40 * MEGAPIXEL  # width x height, checked from the header
    max_audio_bytes: int = 100 * MIB  # encoded size, checked before decoding
    max_audio_seconds: float = 3600.0  # checked from the header, then while decoding
    media_root: Path | None = None  # server-side paths readable by clients; None: off
    allow_urls: bool = False  # http(s) URLs fetched by the server
    url_allowlist: tuple[str, ...] = ()  # hosts: "img.example.com", "*.example.com", "*"
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 10.0  # longest silence while reading a response
    fetch_timeout_s: float = 30.0  # whole download: a server dripping bytes cannot hold on
    allow_private_networks: bool = False  # only for tests and intranets, see above

    def max_bytes(self, kind: str) -> int:
        """The encoded-size limit of one "image" or "audio" item."""
        return self.max_image_bytes if kind == "image" else self.max_audio_bytes

    def __post_init__(self) -> None:
        _check_range("max_image_bytes", self.max_image_bytes, 1024, 1024 * MIB)
        _check_range("max_image_pixels", self.max_image_pixels, 1, PILLOW_MAX_PIXELS)
        _check_range("max_audio_bytes", self.max_audio_bytes, 1024, 4096 * MIB)
        _check_range("max_audio_seconds", self.max_audio_seconds, 0.1, 86_400)
        for name in ("connect_timeout_s", "read_timeout_s", "fetch_timeout_s"):
            _check_range(name, getattr(self, name), 0.001, 3600)
        if self.media_root is not None:
            object.__setattr__(self, "media_root", _checked_root(self.media_root))
        object.__setattr__(self, "url_allowlist", _checked_allowlist(self.url_allowlist))
        if self.allow_urls and not self.url_allowlist:
            raise ConfigError(
                "media: allow_urls is on but url_allowlist is empty; list the hosts clients "
                "may fetch from, e.g. url_allowlist = ['images.example.com', '*.cdn.example'], "
                "or ['*'] for any public host"
            )


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ConfigError(f"media: {name} must be a number, got {value!r}")
    if not low <= value <= high:
        raise ConfigError(f"media: {name} = {value} is out of range; use {low} to {high}")


def _checked_root(root: Path | str) -> Path:
    # Resolved once here, so every request compares against the real directory even when
    # the configured path is itself a symlink.
    path = Path(root).expanduser()
    if not path.is_dir():
        raise ConfigError(
            f"media: media_root {str(path)!r} is not a directory; create it, fix the path, "
            "or leave media_root unset to refuse server-side paths"
        )
    return path.resolve()


def _checked_allowlist(hosts: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    if isinstance(hosts, str) or not isinstance(hosts, tuple | list):
        raise ConfigError(
            f"media: url_allowlist must be a list of host names, got {hosts!r}; "
            "write url_allowlist = ['images.example.com']"
        )
    return tuple(_checked_host(str(host)) for host in hosts)


def _checked_host(host: str) -> str:
    name = host.strip().lower().rstrip(".")
    if name == "*":
        return name
    bare = name.removeprefix("*.")
    if ":" in bare:  # an IPv6 literal, or a port that would never match
        try:
            return str(ipaddress.IPv6Address(bare.strip("[]")))
        except ValueError:
            pass
    if not bare or "*" in bare or any(c in bare for c in "/:@?# "):
        raise ConfigError(
            f"media: url_allowlist entry {host!r} is not a host name; write a name without "
            "scheme, port or path ('images.example.com'), a leading '*.' for any subdomain "
            "('*.example.com'), or a lone '*' for any public host"
        )
    return name


DEFAULT_POLICY = MediaPolicy()  # what functions use when a caller passes none: the safe defaults
