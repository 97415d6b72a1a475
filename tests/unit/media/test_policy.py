import sys
from pathlib import Path

import pytest

from mmserve.errors import ConfigError
from mmserve.media import MediaPolicy
from mmserve.media.optional import optional_import


def test_defaults_are_safe():
    policy = MediaPolicy()
    assert policy.max_image_bytes == 20 * 1024 * 1024
    assert policy.max_image_pixels == 40_000_000
    assert policy.max_audio_bytes == 100 * 1024 * 1024
    assert policy.max_audio_seconds == 3600
    assert policy.media_root is None
    assert not policy.allow_urls and not policy.allow_private_networks


def test_is_frozen_and_keyword_only():
    with pytest.raises(TypeError):
        MediaPolicy(1024)  # type: ignore[misc]
    with pytest.raises(AttributeError):
        MediaPolicy().allow_urls = True  # type: ignore[misc]


@pytest.mark.parametrize(
    ("settings", "hint"),
    [
        ({"max_image_bytes": 0}, "max_image_bytes"),
        ({"max_image_pixels": 200_000_000}, "max_image_pixels"),
        ({"max_audio_seconds": -1}, "max_audio_seconds"),
        ({"read_timeout_s": 0}, "read_timeout_s"),
        ({"connect_timeout_s": "5"}, "must be a number"),
        ({"allow_urls": True}, "url_allowlist is empty"),
        ({"url_allowlist": "example.com"}, "must be a list"),
        ({"url_allowlist": ("https://example.com/",)}, "without scheme"),
        ({"url_allowlist": ("example.com:8080",)}, "without scheme, port"),
        ({"url_allowlist": ("img.*.com",)}, "leading '*.'"),
        ({"media_root": Path("/no/such/dir")}, "not a directory"),
    ],
)
def test_bad_settings_say_how_to_fix_them(settings, hint):
    with pytest.raises(ConfigError, match="media: ") as caught:
        MediaPolicy(**settings)
    assert hint in str(caught.value)


def test_media_root_is_resolved_once(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    policy = MediaPolicy(media_root=str(tmp_path / "link"))  # type: ignore[arg-type]
    assert policy.media_root == (tmp_path / "real").resolve()


def test_allowlist_is_normalised():
    policy = MediaPolicy(allow_urls=True, url_allowlist=["Img.Example.COM.", "*.cdn.test", "[::1]"])
    assert policy.url_allowlist == ("img.example.com", "*.cdn.test", "::1")


def test_a_missing_decoder_names_the_extra_to_install(monkeypatch):
    optional_import.cache_clear()
    monkeypatch.setitem(sys.modules, "av", None)  # makes `import av` fail
    try:
        with pytest.raises(ImportError, match=r"pip install 'mmserve\[audio\]'"):
            optional_import("av")
    finally:
        optional_import.cache_clear()
