"""URL fetching against a real HTTP server on 127.0.0.1 (nothing else is ever contacted:
other host names are resolved by a stand-in resolver)."""

import http.client
import ipaddress
import threading
import time

import pytest

from mmserve.errors import InvalidRequest, PayloadTooLarge
from mmserve.media import MediaPolicy, fetch_url, load_image
from mmserve.media import fetch as fetch_module
from mmserve.media.fetch import check_url, host_allowed, is_public
from tests.unit.media.makers import RED
from tests.unit.media.servers import PNG, MediaServer

CAP = 100_000  # bytes, for the tests that send too much


@pytest.fixture(scope="module")
def server():
    server = MediaServer()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture(autouse=True)
def fresh_log(server):
    server.requests.clear()


def local(**settings):
    """A policy that may reach the test server: URLs on, loopback allowed, short timeouts."""
    defaults = {
        "allow_urls": True,
        "url_allowlist": ("127.0.0.1",),
        "allow_private_networks": True,
        "connect_timeout_s": 2.0,
        "read_timeout_s": 2.0,
        "fetch_timeout_s": 5.0,
    }
    return MediaPolicy(**(defaults | settings))


def url(server, path):
    return f"http://127.0.0.1:{server.port}{path}"


def test_fetches_an_image(server):
    image = load_image(url(server, "/cat.png"), policy=local())
    assert image.getpixel((0, 0)) == RED
    part = {"type": "image_url", "image_url": {"url": url(server, "/cat.png")}}
    assert load_image(part, policy=local()).size == (32, 24)


def test_urls_are_off_by_default(server):
    with pytest.raises(InvalidRequest) as caught:
        load_image(url(server, "/cat.png"))
    assert caught.value.code == "urls_disabled"
    assert server.requests == []


def test_loopback_is_refused_unless_private_networks_are_allowed(server):
    policy = local(allow_private_networks=False)
    with pytest.raises(InvalidRequest) as caught:
        load_image(url(server, "/cat.png"), policy=policy, field="input[3]")
    error = caught.value
    assert error.code == "url_not_allowed" and error.param == "input[3]"
    assert "private, loopback or link-local" in error.message
    assert server.requests == []  # refused before connecting


def test_host_not_on_the_allowlist_is_refused(server):
    policy = local(url_allowlist=("images.example.com",))
    with pytest.raises(InvalidRequest, match="'127.0.0.1' is not on this server's URL allow-list"):
        fetch_url(url(server, "/cat.png"), policy=policy, max_bytes=CAP)
    with pytest.raises(InvalidRequest, match="'localhost' is not on"):
        fetch_url(f"http://localhost:{server.port}/cat.png", policy=local(), max_bytes=CAP)
    assert server.requests == []


def test_same_host_redirect_is_followed(server):
    body = fetch_url(url(server, "/same-host"), policy=local(), max_bytes=CAP)
    assert body == PNG
    assert [path for path, _ in server.requests] == ["/same-host", "/cat.png"]


def test_redirect_to_another_host_is_refused(server):
    policy = local(url_allowlist=("127.0.0.1", "localhost"))  # both allowed, still refused
    with pytest.raises(InvalidRequest, match="redirects to another host \\('localhost'\\)"):
        fetch_url(url(server, "/other-host"), policy=policy, max_bytes=CAP)
    assert [path for path, _ in server.requests] == ["/other-host"]


def test_redirects_are_counted(server):
    with pytest.raises(InvalidRequest, match="redirects more than 3 times"):
        fetch_url(url(server, "/loop"), policy=local(), max_bytes=CAP)
    assert len(server.requests) == 4


def test_error_status_is_a_400(server):
    with pytest.raises(InvalidRequest, match="answered HTTP 404"):
        fetch_url(url(server, "/nothing-here"), policy=local(), max_bytes=CAP)


def test_declared_length_over_the_cap_is_refused_before_reading(server):
    with pytest.raises(PayloadTooLarge, match="is 1,000,000,000 bytes; the limit is 100,000"):
        fetch_url(url(server, "/declared-big"), policy=local(), max_bytes=CAP)


@pytest.mark.parametrize("path", ["/endless", "/chunked-big"])
def test_byte_cap_is_enforced_while_streaming(server, monkeypatch, path):
    read = http.client.HTTPResponse.read
    taken = []

    def counting_read(self, amt=None):
        data = read(self, amt)
        taken.append(len(data))
        return data

    monkeypatch.setattr(http.client.HTTPResponse, "read", counting_read)
    started = time.monotonic()
    with pytest.raises(PayloadTooLarge, match="is larger than that; the limit is 100,000 bytes"):
        fetch_url(url(server, path), policy=local(), max_bytes=CAP)
    assert sum(taken) == CAP + 1  # never a byte more
    assert time.monotonic() - started < 2


def test_silent_server_times_out(server):
    started = time.monotonic()
    with pytest.raises(InvalidRequest) as caught:
        fetch_url(url(server, "/stall"), policy=local(read_timeout_s=0.3), max_bytes=CAP)
    assert caught.value.code == "fetch_timeout"
    assert "sent nothing for 0.3 s" in caught.value.message
    assert time.monotonic() - started < 1.5


def test_dripping_server_is_cut_at_the_fetch_deadline(server):
    started = time.monotonic()
    policy = local(read_timeout_s=1.0, fetch_timeout_s=0.5)
    with pytest.raises(InvalidRequest, match="did not finish within 0.5 s"):
        fetch_url(url(server, "/drip"), policy=policy, max_bytes=CAP)
    assert 0.4 < time.monotonic() - started < 1.5


def test_refused_connection_is_a_400():
    with pytest.raises(InvalidRequest, match="fetching the URL failed"):
        fetch_url("http://127.0.0.1:9/x.png", policy=local(), max_bytes=CAP)  # discard port


# DNS: a stand-in resolver, so no name ever reaches a real one.


def test_every_resolved_address_is_checked(monkeypatch):
    monkeypatch.setattr(fetch_module, "resolve", lambda host, port: ["93.184.215.14", "10.0.0.7"])
    policy = MediaPolicy(allow_urls=True, url_allowlist=("media.test",))
    with pytest.raises(InvalidRequest, match="'media.test' resolves to a private"):
        fetch_url("http://media.test/cat.png", policy=policy, max_bytes=CAP)


def test_connects_to_the_address_it_checked(server, monkeypatch):
    # Rebinding: the first lookup says 127.0.0.1, any later one something else. Only one
    # lookup happens, and the request still names the host.
    answers = iter([["127.0.0.1"]])
    monkeypatch.setattr(fetch_module, "resolve", lambda host, port: next(answers))
    policy = local(url_allowlist=("media.test",))
    assert (
        fetch_url(f"http://media.test:{server.port}/cat.png", policy=policy, max_bytes=CAP) == PNG
    )
    assert server.requests == [("/cat.png", f"media.test:{server.port}")]


def test_unresolvable_host_is_a_400(monkeypatch):
    def fail(host, port):
        raise OSError("no such host")

    monkeypatch.setattr(fetch_module, "resolve", fail)
    policy = MediaPolicy(allow_urls=True, url_allowlist=("*",))
    with pytest.raises(InvalidRequest, match="'nowhere.test' could not be resolved"):
        fetch_url("https://nowhere.test/a.png", policy=policy, max_bytes=CAP)


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "127.0.0.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "2002:7f00:1::",  # 6to4 around 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 around 10.0.0.1
    ],
)
def test_non_public_addresses(address):
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses(address):
    assert is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    ("host", "allowlist", "allowed"),
    [
        ("img.example.com", ("img.example.com",), True),
        ("IMG.example.com", ("img.example.com",), True),
        ("a.cdn.example", ("*.cdn.example",), True),
        ("cdn.example", ("*.cdn.example",), False),
        ("evilcdn.example", ("*.cdn.example",), False),
        ("anything.test", ("*",), True),
        ("img.example.com.evil.test", ("img.example.com",), False),
    ],
)
def test_allowlist_matching(host, allowlist, allowed):
    assert host_allowed(host, allowlist) is allowed


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("ftp://127.0.0.1/a.png", "only http and https"),
        ("http://user:pw@127.0.0.1/a.png", "credentials in URLs"),
        ("http:///a.png", "has no host"),
        ("http://127.0.0.1:99999/a.png", "malformed"),
        ("http://[::1/a.png", "malformed"),
    ],
)
def test_malformed_urls_are_a_400(value, words):
    with pytest.raises(InvalidRequest, match=words):
        check_url(value, local(url_allowlist=("*",)), "image")
