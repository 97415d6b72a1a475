"""Fetch media from an http(s) URL without letting a client aim the server at its own network.

    fetch_url(url, policy=..., max_bytes=..., field="image") -> bytes

A URL is fetched only when the policy allows URLs and its host is on the allow-list. The host
is resolved once, EVERY address it resolves to is checked, and the connection goes to a
checked address (never to a second lookup, which DNS rebinding could answer differently);
TLS still verifies the certificate against the host name. Redirects are followed only to the
same host. The body is read in chunks up to max_bytes + 1 bytes, whatever Content-Length
says, and a watchdog closes the socket at fetch_timeout_s, so neither a huge nor a slow
response can hold a thread or memory for long.

Standard library only (http.client): requests and urllib honour proxy variables, connect to
what DNS says at connect time and follow redirects anywhere, each of which undoes a check.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import threading
import time
from typing import NamedTuple
from urllib.parse import urljoin, urlsplit

from mmserve.errors import InvalidRequest, PayloadTooLarge
from mmserve.media.formats import clip
from mmserve.media.policy import MediaPolicy

MAX_REDIRECTS = 3  # same-host only: http -> https, a trailing slash, a CDN path
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
READ_CHUNK_BYTES = 64 * 1024
USER_AGENT = "mmserve-media-fetch/1"
DEFAULT_PORTS = {"http": 80, "https": 443}
NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")  # IPv4 addresses carried in IPv6

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Target(NamedTuple):
    scheme: str  # "http" or "https"
    host: str  # lower case; IPv6 without brackets
    port: int
    path: str  # path and query, as sent in the request line

    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.path}"

    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


class Fetched(NamedTuple):
    body: bytes
    max_age_s: float | None  # Cache-Control max-age of the response, if it gave one


def fetch_url(url: str, *, policy: MediaPolicy, max_bytes: int, field: str = "image") -> bytes:
    """The body of a 200 response to GET `url`, at most `max_bytes` long."""
    return fetch_response(url, policy=policy, max_bytes=max_bytes, field=field).body


def fetch_response(
    url: str, *, policy: MediaPolicy, max_bytes: int, field: str = "image"
) -> Fetched:
    """Like fetch_url, with how long the response may be cached (a JWKS is)."""
    if not policy.allow_urls:
        raise _refused(
            field,
            "URLs are off on this server; send the file itself (a multipart upload, "
            "base64 or a data: URI)",
            "urls_disabled",
        )
    deadline = time.monotonic() + policy.fetch_timeout_s
    target = check_url(url, policy, field)
    for _ in range(MAX_REDIRECTS + 1):
        fetched, location = _get(target, policy, max_bytes, deadline, field)
        if location is None:
            return fetched
        target = _redirect(target, location, policy, field)
    raise _refused(field, f"the URL redirects more than {MAX_REDIRECTS} times", "fetch_failed")


def check_url(url: str, policy: MediaPolicy, field: str) -> Target:
    """Parse `url` and check its scheme and host against the policy (no network)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise _refused(field, f"the URL is malformed ({e})", "invalid_url") from e
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise _refused(
            field, f"only http and https URLs are fetched, not {scheme!r}", "invalid_url"
        )
    if parts.username is not None or parts.password is not None:
        raise _refused(
            field, "credentials in URLs are not sent; remove 'user:password@'", "invalid_url"
        )
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise _refused(field, "the URL has no host", "invalid_url")
    if not host_allowed(host, policy.url_allowlist):
        raise _refused(
            field,
            f"host {clip(host)} is not on this server's URL allow-list; send the file itself or "
            "ask the operator to add the host",
            "url_not_allowed",
        )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme, host, port or DEFAULT_PORTS[scheme], path)


def host_allowed(host: str, allowlist: tuple[str, ...]) -> bool:
    """Exact names, '*.example.com' for any subdomain of example.com, '*' for any host."""
    host = host.lower()
    return any(
        entry in ("*", host) or (entry.startswith("*.") and host.endswith(entry[1:]))
        for entry in allowlist
    )


def is_public(address: IPAddress) -> bool:
    """True when `address`, and every IPv4 address an IPv6 one carries, is globally routable:
    not private, loopback, link-local, shared (CGNAT), reserved, unspecified or multicast."""
    carried: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        carried += [a for a in (address.ipv4_mapped, address.sixtofour) if a is not None]
        carried += list(address.teredo or ())
        if address in NAT64_PREFIX:
            carried.append(ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF))
    return all(a.is_global and not a.is_multicast for a in carried)


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, in the resolver's order, without duplicates."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def checked_addresses(host: str, port: int, policy: MediaPolicy, field: str) -> list[str]:
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError) as e:
        raise _refused(field, f"host {clip(host)} could not be resolved", "fetch_failed") from e
    if not addresses:
        raise _refused(field, f"host {clip(host)} could not be resolved", "fetch_failed")
    if not policy.allow_private_networks:
        # One private address is enough to refuse: the resolver's order is not ours to trust.
        if not all(is_public(ipaddress.ip_address(a)) for a in addresses):
            raise _refused(
                field,
                f"host {clip(host)} resolves to a private, loopback or link-local address; "
                "this server fetches only from public addresses",
                "url_not_allowed",
            )
    return addresses


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection to addresses checked beforehand, whatever DNS says later."""

    def __init__(self, target: Target, addresses: list[str], policy: MediaPolicy):
        super().__init__(target.host, target.port, timeout=policy.connect_timeout_s)
        self.addresses = addresses
        self.policy = policy
        self.tls = ssl.create_default_context() if target.scheme == "https" else None
        self.pinned: socket.socket | None = None  # kept after http.client lets go of it
        self.aborted = threading.Event()

    def connect(self) -> None:
        sock = _connect_any(self.addresses, self.port, self.policy)
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_hostname=self.host)
        self.sock = self.pinned = sock
        if self.aborted.is_set():  # the watchdog fired while connecting
            sock.close()

    def abort(self) -> None:
        """Called by the watchdog: unblock any read by shutting the socket down."""
        self.aborted.set()
        if self.pinned is not None:
            try:
                self.pinned.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed


def _connect_any(addresses: list[str], port: int, policy: MediaPolicy) -> socket.socket:
    error: OSError | None = None
    for address in addresses:
        try:
            sock = socket.create_connection((address, port), timeout=policy.connect_timeout_s)
        except OSError as e:
            error = e
            continue
        sock.settimeout(policy.read_timeout_s)  # from now on: the longest silence allowed
        return sock
    assert error is not None  # addresses is never empty
    raise error


def _get(
    target: Target, policy: MediaPolicy, max_bytes: int, deadline: float, field: str
) -> tuple[Fetched, str | None]:
    """(response, None) for a 200, (empty, location) for a redirect; refuses anything else."""
    addresses = checked_addresses(target.host, target.port, policy, field)
    connection = _PinnedConnection(target, addresses, policy)
    watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), connection.abort)
    watchdog.daemon = True
    watchdog.start()
    try:
        body, location = _exchange(connection, target, max_bytes, field)
        if connection.aborted.is_set():  # a socket shut down by the watchdog reads as an end
            raise TimeoutError
        return body, location
    except TimeoutError as e:
        raise _timed_out(field, policy, connection) from e
    except (OSError, http.client.HTTPException, ValueError) as e:
        if connection.aborted.is_set():
            raise _timed_out(field, policy, connection) from e
        raise _refused(field, f"fetching the URL failed ({_reason(e)})", "fetch_failed") from e
    finally:
        watchdog.cancel()
        connection.close()
        if connection.pinned is not None:
            connection.pinned.close()


def _exchange(
    connection: _PinnedConnection, target: Target, max_bytes: int, field: str
) -> tuple[Fetched, str | None]:
    headers = {
        "Host": target.host_header(),
        "User-Agent": USER_AGENT,
        "Accept-Encoding": "identity",  # the byte cap is on what we decode
        "Connection": "close",
    }
    connection.request("GET", target.path, headers=headers)
    with connection.getresponse() as response:
        if response.status in REDIRECT_STATUSES:
            location = response.getheader("Location")
            if not location:
                raise _refused(
                    field, f"the URL answered {response.status} without a Location", "fetch_failed"
                )
            return Fetched(b"", None), location
        if response.status != 200:
            raise _refused(
                field,
                f"fetching the URL answered HTTP {response.status} {response.reason}",
                "fetch_failed",
            )
        body = _read_capped(response, max_bytes, field)
        return Fetched(body, _max_age(response.getheader("Cache-Control", ""))), None


def _max_age(cache_control: str) -> float | None:
    for directive in cache_control.split(","):
        name, _, value = directive.strip().partition("=")
        if name.lower() == "max-age" and value.strip().isdigit():
            return float(value)
    return None


def _read_capped(response: http.client.HTTPResponse, max_bytes: int, field: str) -> bytes:
    declared = response.getheader("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(field, f"is {int(declared):,} bytes", max_bytes)
    chunks: list[bytes] = []
    received = 0
    while received <= max_bytes:  # at most max_bytes + 1 bytes are ever read
        chunk = response.read(min(READ_CHUNK_BYTES, max_bytes + 1 - received))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        received += len(chunk)
    raise _too_large(field, "is larger than that", max_bytes)


def _redirect(current: Target, location: str, policy: MediaPolicy, field: str) -> Target:
    target = check_url(urljoin(current.url(), location), policy, field)
    if target.host != current.host:
        raise _refused(
            field,
            f"the URL redirects to another host ({clip(target.host)}); only same-host redirects "
            "are followed, so send the final URL",
            "url_not_allowed",
        )
    if current.scheme == "https" and target.scheme == "http":
        raise _refused(field, "the URL redirects from https to http", "url_not_allowed")
    return target


def _timed_out(field: str, policy: MediaPolicy, connection: _PinnedConnection) -> InvalidRequest:
    if connection.aborted.is_set():
        what = f"the download did not finish within {policy.fetch_timeout_s:g} s"
    elif connection.pinned is None:
        what = f"the host did not accept a connection within {policy.connect_timeout_s:g} s"
    else:
        what = f"the host sent nothing for {policy.read_timeout_s:g} s"
    return _refused(field, what, "fetch_timeout")


def _too_large(field: str, what: str, max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"{field}: the file at the URL {what}; the limit is {max_bytes:,} bytes",
        param=field,
    )


def _refused(field: str, what: str, code: str) -> InvalidRequest:
    return InvalidRequest(f"{field}: {what}", param=field, code=code)


def _reason(error: Exception) -> str:
    return getattr(error, "strerror", None) or str(error) or type(error).__name__
