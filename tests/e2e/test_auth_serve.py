"""A real `mmserve serve` with auth and TLS: keys made by `mmserve keys`, a revocation from
another process holding on the server's next request, usage across a restart, HTTPS with a
certificate the test makes (verified by the client), client certificates, and the refusal
to serve a non-loopback address with auth off."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import openai
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.e2e.test_serve import free_port, mmserve_command

pytestmark = pytest.mark.e2e
START_TIMEOUT_S = 60


def mmserve(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMSERVE_")}
    return subprocess.run(
        [*mmserve_command(), *args[:1], "--data-dir", str(data_dir), *args[1:]],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def create_key(data_dir: Path, name: str, scopes: str) -> str:
    done = mmserve("keys", "create", "--name", name, "--scopes", scopes, data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    assert "shown only now" in done.stderr
    return done.stdout.strip()


@contextmanager
def server(folder: Path, *args: str, scheme: str = "http", **tls) -> Iterator[str]:
    port = free_port()
    log_path = folder / f"server-{port}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMSERVE_")}
    command = [
        *mmserve_command(),
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(folder / "data"),
        "--models",
        "fake",
        *args,
    ]
    with log_path.open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"{scheme}://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"server exited early:\n{log_path.read_text()}")
            try:
                if requests.get(f"{base}/readyz", timeout=1, **tls).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server not ready:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode == 0, log_path.read_text()


def test_keys_revocation_from_another_process_and_usage_across_a_restart(tmp_path):
    data = tmp_path / "data"
    key = create_key(data, "alice", "embed")
    listed = mmserve("keys", "list", data_dir=data)
    assert "alice" in listed.stdout and key not in listed.stdout
    with server(tmp_path, "--auth-mode", "keys") as base:
        client = openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)
        done = client.embeddings.create(model="fake", input=["one two three", "four"])
        assert done.usage.prompt_tokens == 8
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=f"{base}/v1", api_key="wrong", max_retries=0).models.list()
    with server(tmp_path, "--auth-mode", "keys") as base:
        usage = requests.get(f"{base}/v1/usage", headers={"X-API-Key": key}, timeout=10).json()
        assert usage["usage"] == {"requests": 1, "text_tokens": 8}
        assert mmserve("keys", "revoke", "alice", data_dir=data).returncode == 0
        after = requests.get(f"{base}/v1/usage", headers={"X-API-Key": key}, timeout=10)
        assert after.status_code == 401


def test_a_non_loopback_address_with_auth_off_refuses_to_start(tmp_path):
    done = mmserve("serve", "--host", "0.0.0.0", "--models", "fake", data_dir=tmp_path / "d")
    assert done.returncode != 0
    assert "refusing to serve 0.0.0.0 with auth off" in done.stderr
    assert "--insecure" in done.stderr


def make_pki(folder: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by it."""

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("test CA"))
        .issuer_name(name("test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = {"ca": folder / "ca.pem"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for role, common, san in (
        ("server", "127.0.0.1", x509.IPAddress(ipaddress.ip_address("127.0.0.1"))),
        ("client", "team-client", x509.DNSName("team-client")),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name(common))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([san]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        paths[f"{role}_cert"] = folder / f"{role}.pem"
        paths[f"{role}_key"] = folder / f"{role}-key.pem"
        paths[f"{role}_cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        paths[f"{role}_key"].write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return paths


def test_https_with_a_verified_certificate(tmp_path):
    pki = make_pki(tmp_path)
    tls_args = ("--certfile", str(pki["server_cert"]), "--keyfile", str(pki["server_key"]))
    with server(tmp_path, *tls_args, scheme="https", verify=str(pki["ca"])) as base:
        answer = requests.post(
            f"{base}/v1/embeddings", json={"input": "hi", "model": "fake"}, verify=str(pki["ca"])
        )
        assert answer.status_code == 200
        with pytest.raises(requests.exceptions.SSLError):  # not signed by a CA we trust
            requests.get(f"{base}/healthz", timeout=5)
        with pytest.raises(requests.ConnectionError):  # no plain HTTP on the TLS port
            requests.get(base.replace("https", "http") + "/healthz", timeout=5)
        # A client that speaks only TLS 1.2 is served (granian's default would be 1.3 only)
        port = int(base.rsplit(":", 1)[1])
        assert tls_version(port, pki["ca"], ssl.TLSVersion.TLSv1_2) == "TLSv1.2"


def tls_version(port: int, ca: Path, version: ssl.TLSVersion) -> str | None:
    """The protocol a client that speaks only `version` gets from the server."""
    context = ssl.create_default_context(cafile=str(ca))
    context.minimum_version = context.maximum_version = version
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            return tls.version()


def test_client_certificates_when_a_client_ca_is_set(tmp_path):
    pki = make_pki(tmp_path)
    args = (
        "--certfile",
        str(pki["server_cert"]),
        "--keyfile",
        str(pki["server_key"]),
        "--client-ca",
        str(pki["ca"]),
    )
    mine = (str(pki["client_cert"]), str(pki["client_key"]))
    with server(tmp_path, *args, scheme="https", verify=str(pki["ca"]), cert=mine) as base:
        assert requests.get(f"{base}/healthz", verify=str(pki["ca"]), cert=mine).ok
        with pytest.raises(requests.ConnectionError):  # SSLError is one
            requests.get(f"{base}/healthz", verify=str(pki["ca"]), timeout=5)
