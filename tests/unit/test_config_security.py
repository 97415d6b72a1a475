"""[auth], [auth.oidc], [tls], [cors] from TOML, MMSERVE_* and flags; the exposure check."""

from __future__ import annotations

import pytest

from mmserve.config import Config, load_config
from mmserve.errors import ConfigError
from mmserve.security_config import AuthConfig, CorsConfig, OidcConfig, TlsConfig
from mmserve.server import check_exposure, is_loopback, tls_options


def test_defaults_are_auth_off_no_tls_no_cors():
    config = load_config(env={})
    assert config.auth.mode == "off" and not config.auth.enabled and not config.auth.audit
    assert not config.tls.enabled and config.cors.origins == ()


def test_toml_then_environment_then_flags(tmp_path):
    jwks = tmp_path / "jwks.json"
    jwks.write_text('{"keys": []}')
    path = tmp_path / "mmserve.toml"
    path.write_text(
        '[auth]\nmode = "keys"\nmetrics_token = "0123456789abcdef"\n'
        f'[auth.oidc]\nissuer = "https://id.example/"\naudience = "mm"\njwks_file = "{jwks}"\n'
        '[cors]\norigins = ["https://app.example"]\n'
    )
    env = {"MMSERVE_AUTH_MODE": "keys+oidc", "MMSERVE_AUTH_OIDC_LEEWAY_S": "10"}
    config = load_config(path, env=env, overrides={"insecure": True})
    assert config.auth.mode == "keys+oidc" and config.auth.insecure
    assert config.auth.oidc.leeway_s == 10 and config.auth.oidc.jwks_file == jwks
    assert config.cors.origins == ("https://app.example",)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: AuthConfig(mode="everyone"), "not one of"),
        (lambda: AuthConfig(mode="oidc"), "set issuer and audience"),
        (
            lambda: AuthConfig(
                mode="oidc",
                oidc=OidcConfig(
                    issuer="i", audience="a", jwks_url="https://x/j", algorithms=("HS256",)
                ),
            ),
            "never none or HS",
        ),
        (lambda: AuthConfig(metrics_token="short"), "at least 16"),
        (lambda: TlsConfig(certfile="/nonexistent.pem"), "set both"),
        (lambda: CorsConfig(origins=("*",)), "no '*'"),
    ],
)
def test_bad_settings_say_how_to_fix_them(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


def test_unknown_auth_key_is_refused(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[auth]\nmood = "keys"\n')
    with pytest.raises(ConfigError, match="unknown key.*mood"):
        load_config(path, env={})


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("10.0.0.5", False),
        ("example.com", False),
    ],
)
def test_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_exposure_check(tmp_path):
    check_exposure(Config(data_dir=tmp_path))  # loopback, auth off: fine
    with pytest.raises(ConfigError, match="refusing to serve 0.0.0.0 with auth off"):
        check_exposure(Config(host="0.0.0.0", data_dir=tmp_path))
    check_exposure(Config(host="0.0.0.0", data_dir=tmp_path, auth=AuthConfig(insecure=True)))
    check_exposure(Config(host="0.0.0.0", data_dir=tmp_path, auth=AuthConfig(mode="keys")))


def test_tls_options_for_granian(tmp_path):
    for name in ("c.pem", "k.pem", "ca.pem"):
        (tmp_path / name).write_text("x")
    tls = TlsConfig(
        certfile=tmp_path / "c.pem", keyfile=tmp_path / "k.pem", client_ca=tmp_path / "ca.pem"
    )
    options = tls_options(Config(data_dir=tmp_path, tls=tls))
    assert options["ssl_cert"].name == "c.pem" and options["ssl_ca"].name == "ca.pem"
    assert options["ssl_client_verify"] is True  # client certificates required
    assert options["ssl_protocol_min"] == "tls1.2"  # granian's default would be 1.3 only
    assert tls_options(Config(data_dir=tmp_path)) == {}
