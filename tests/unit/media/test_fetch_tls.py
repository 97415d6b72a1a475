"""https fetching against a local TLS server with a throw-away certificate for media.test:
the connection goes to the checked address while TLS verifies the host name."""

import functools
import shutil
import ssl
import subprocess
import threading

import pytest

from mmserve.errors import InvalidRequest
from mmserve.media import MediaPolicy, fetch_url
from mmserve.media import fetch as fetch_module
from tests.unit.media.servers import PNG, Handler, MediaServer

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=media.test",
            "-addext",
            "subjectAltName=DNS:media.test",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture(scope="module")
def tls_server(certificate):
    cert, key = certificate
    server = MediaServer()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def trusting(monkeypatch, certificate):
    """Trust the test certificate, and resolve every name to 127.0.0.1."""
    trusted = functools.partial(ssl.create_default_context, cafile=str(certificate[0]))
    monkeypatch.setattr(fetch_module.ssl, "create_default_context", trusted)
    monkeypatch.setattr(fetch_module, "resolve", lambda host, port: ["127.0.0.1"])


def policy(*hosts):
    return MediaPolicy(allow_urls=True, url_allowlist=hosts, allow_private_networks=True)


def test_https_verifies_the_host_name_not_the_address(tls_server, trusting):
    url = f"https://media.test:{tls_server.port}/cat.png"
    assert fetch_url(url, policy=policy("media.test"), max_bytes=100_000) == PNG


def test_certificate_for_another_name_is_refused(tls_server, trusting):
    url = f"https://other.test:{tls_server.port}/cat.png"
    with pytest.raises(InvalidRequest, match="fetching the URL failed .*certificate"):
        fetch_url(url, policy=policy("other.test"), max_bytes=100_000)


def test_untrusted_certificate_is_refused(tls_server, monkeypatch):
    monkeypatch.setattr(fetch_module, "resolve", lambda host, port: ["127.0.0.1"])
    url = f"https://media.test:{tls_server.port}/cat.png"
    with pytest.raises(InvalidRequest, match="certificate verify failed"):
        fetch_url(url, policy=policy("media.test"), max_bytes=100_000)


def test_redirect_from_https_to_http_is_refused(tls_server, trusting, monkeypatch):
    def downgrade(handler):
        handler.send(302, Location="http://media.test/cat.png", Content_Length=0)

    monkeypatch.setattr(Handler, "route_down", downgrade, raising=False)
    url = f"https://media.test:{tls_server.port}/down"
    with pytest.raises(InvalidRequest, match="redirects from https to http"):
        fetch_url(url, policy=policy("media.test"), max_bytes=100_000)
