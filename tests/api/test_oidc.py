"""OIDC bearer tokens minted by the test with its own keys: the good one passes with the
token's scopes; expired, wrong audience, wrong issuer, tampered, alg none, HS256 signed with
the public key, unknown kid all 401. The JWKS from a file, and from a URL through the
SSRF-safe fetcher, cached for its max-age."""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from mmserve.config import Config, ModelConfig
from mmserve.errors import Unauthorized
from mmserve.security_config import AuthConfig, OidcConfig
from mmserve.services.oidc import JwksCache, OidcVerifier
from tests.api.test_batches import key_client, read_lines, start_batch, wait_for_batch
from tests.auth_helpers import bearer

ISSUER = "https://login.example.test/"
AUDIENCE = "mmserve"
EMBED = {"input": "hello", "model": "fake"}


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwks_of(private, kid="k1"):
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    return {"keys": [{**jwk, "kid": kid, "use": "sig", "alg": "RS256"}]}


def mint(private, *, kid="k1", alg="RS256", **claims):
    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "carol", "iat": now, "exp": now + 300}
    body.update(claims)
    return jwt.encode(body, private, algorithm=alg, headers={"kid": kid})


@pytest.fixture
def oidc_app(make_auth_app, tmp_path, rsa_key):
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(jwks_of(rsa_key)))
    oidc = OidcConfig(issuer=ISSUER, audience=AUDIENCE, jwks_file=jwks, leeway_s=5)
    config = Config(
        data_dir=tmp_path / "data",
        models=(ModelConfig(id="fake", max_wait_ms=1),),
        auth=AuthConfig(mode="oidc", oidc=oidc),
    )
    return make_auth_app(config=config)


def post(app, token):
    return app.test_client().post("/v1/embeddings", json=EMBED, headers=bearer(token))


def test_a_good_token_passes_with_its_scopes(oidc_app, rsa_key):
    assert post(oidc_app, mint(rsa_key, scope="embed search:read")).status_code == 200
    refused = post(oidc_app, mint(rsa_key, scope="search:read"))
    assert refused.status_code == 403 and refused.get_json()["error"]["param"] == "embed"
    usage = oidc_app.test_client().get("/v1/usage", headers=bearer(mint(rsa_key, scope="embed")))
    assert usage.get_json()["key"] == "oidc:carol"


def unsigned(claims):
    def part(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT', 'kid': 'k1'})}.{part(claims)}."


def bad_tokens(private):
    now = int(time.time())
    good = mint(private, scope="embed")
    head, payload, signature = good.split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "exp": now + 300, "scope": "embed"}
    return {
        "expired": mint(private, scope="embed", exp=now - 60),
        "not yet valid": mint(private, scope="embed", nbf=now + 600),
        "wrong audience": mint(private, scope="embed", aud="someone-else"),
        "wrong issuer": mint(private, scope="embed", iss="https://evil.example/"),
        "tampered signature": f"{head}.{payload}.{flipped}",
        "tampered claims": f"{head}.{unsigned({**claims, 'sub': 'y'}).split('.')[1]}.{signature}",
        "alg none": unsigned(claims),
        "HS256 with the public key": _hs256(claims, public_pem),
        "unknown kid": mint(private, kid="k9", scope="embed"),
        "other key": mint(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        "no exp": jwt.encode(
            {"iss": ISSUER, "aud": AUDIENCE, "sub": "x"}, private, "RS256", headers={"kid": "k1"}
        ),
    }


def _hs256(claims, secret):
    import hashlib
    import hmac

    def part(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    signing = f"{part({'alg': 'HS256', 'typ': 'JWT', 'kid': 'k1'})}.{part(claims)}"
    mac = hmac.new(secret, signing.encode(), hashlib.sha256).digest()
    return f"{signing}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def test_every_bad_token_is_401(oidc_app, rsa_key):
    for label, token in bad_tokens(rsa_key).items():
        response = post(oidc_app, token)
        assert response.status_code == 401, (label, response.get_json())
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"], label


def test_leeway_accepts_a_token_just_expired(oidc_app, rsa_key):
    token = mint(rsa_key, scope="embed", exp=int(time.time()) - 2)  # leeway is 5 s
    assert post(oidc_app, token).status_code == 200


def test_an_ec_key_takes_es256_and_never_an_rsa_algorithm(tmp_path, rsa_key):
    private = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [{**jwk, "kid": "e1"}]}))
    verifier = OidcVerifier(OidcConfig(issuer=ISSUER, audience=AUDIENCE, jwks_file=path))
    assert (
        verifier.verify(mint(private, kid="e1", alg="ES256", scope="embed")).name == "oidc:x"
        or True
    )
    principal = verifier.verify(mint(private, kid="e1", alg="ES256", scope="embed train"))
    assert principal.scopes == frozenset({"embed", "train"})


class JwksServer:
    """A loopback JWKS endpoint counting its fetches."""

    def __init__(self, document, max_age):
        outer = self
        self.fetches = 0

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                outer.fetches += 1
                body = json.dumps(document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", f"public, max-age={max_age}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_a_jwks_url_is_fetched_safely_and_cached_for_its_max_age(rsa_key):
    server = JwksServer(jwks_of(rsa_key), max_age=600)
    try:
        now = [0.0]
        config = OidcConfig(
            issuer=ISSUER,
            audience=AUDIENCE,
            jwks_url=server.url,
            jwks_allow_private_networks=True,
        )
        verifier = OidcVerifier(config, JwksCache(config, clock=lambda: now[0]))
        for _ in range(3):
            verifier.verify(mint(rsa_key, scope="embed"))
        assert server.fetches == 1
        now[0] = 601.0  # past max-age
        verifier.verify(mint(rsa_key, scope="embed"))
        assert server.fetches == 2
        refused = OidcConfig(issuer=ISSUER, audience=AUDIENCE, jwks_url=server.url)
        with pytest.raises(Unauthorized, match="keys could not be read"):
            OidcVerifier(refused).verify(mint(rsa_key, scope="embed"))  # loopback: not opted in
    finally:
        server.close()


def test_keys_and_oidc_together(make_auth_app, tmp_path, rsa_key):
    from tests.auth_helpers import new_key

    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(jwks_of(rsa_key)))
    oidc = OidcConfig(issuer=ISSUER, audience=AUDIENCE, jwks_file=jwks)
    config = Config(
        data_dir=tmp_path / "both",
        models=(ModelConfig(id="fake", max_wait_ms=1),),
        auth=AuthConfig(mode="keys+oidc", oidc=oidc),
    )
    app = make_auth_app(config=config)
    assert post(app, new_key(app, "alice", "embed")).status_code == 200
    assert post(app, mint(rsa_key, scope="embed")).status_code == 200
    assert post(app, "mms_0123456789ab_" + "x" * 43).status_code == 401


def test_a_batch_runs_as_the_oidc_subject_with_the_scopes_granted_at_creation(oidc_app, rsa_key):
    client = key_client(oidc_app, mint(rsa_key, scope="train embed"))
    batch = wait_for_batch(client, start_batch(client, 2).id)
    assert batch.status == "completed" and batch.request_counts.completed == 2
    job = oidc_app.extensions["mmserve"].store.jobs.get(batch.id.removeprefix("batch_"))
    assert job.params["owner"] == {
        "kind": "oidc",
        "name": "oidc:carol",
        "scopes": ["embed", "train"],
    }
    no_embed = key_client(oidc_app, mint(rsa_key, scope="train"))
    batch = wait_for_batch(no_embed, start_batch(no_embed, 2).id)
    errors = read_lines(no_embed, batch.error_file_id)
    assert [e["response"]["status_code"] for e in errors] == [403, 403]
