"""The [media] table and MMSERVE_MEDIA_* variables become Config.media (a MediaPolicy)."""

from pathlib import Path

import pytest

from mmserve.config import load_config
from mmserve.errors import ConfigError
from mmserve.media.policy import MediaPolicy


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mmserve.toml"
    path.write_text(text)
    return path


def test_default_is_the_safe_media_policy():
    assert load_config(env={}).media == MediaPolicy()


def test_media_table_sets_every_kind_of_key(tmp_path):
    root = tmp_path / "media"
    root.mkdir()
    path = write(
        tmp_path,
        "[media]\nmax_image_bytes = 2048\nmax_image_pixels = 100\nmax_audio_seconds = 5.5\n"
        f'media_root = "{root}"\nallow_urls = true\nurl_allowlist = ["img.example.com"]\n',
    )
    media = load_config(path, env={}).media
    assert (media.max_image_bytes, media.max_image_pixels) == (2048, 100)
    assert media.max_audio_seconds == 5.5
    assert media.media_root == root.resolve()
    assert media.allow_urls and media.url_allowlist == ("img.example.com",)


def test_environment_overrides_the_file(tmp_path):
    path = write(tmp_path, "[media]\nmax_image_pixels = 100\nallow_urls = true\n")
    env = {
        "MMSERVE_MEDIA_MAX_IMAGE_PIXELS": "200",
        "MMSERVE_MEDIA_URL_ALLOWLIST": "a.example, *.b.example",
    }
    media = load_config(path, env=env).media
    assert media.max_image_pixels == 200
    assert media.url_allowlist == ("a.example", "*.b.example")


@pytest.mark.parametrize("text", ["false", "0", "off", "no"])
def test_environment_false_is_false(text):
    env = {"MMSERVE_MEDIA_ALLOW_PRIVATE_NETWORKS": text}
    assert load_config(env=env).media.allow_private_networks is False


@pytest.mark.parametrize(
    ("toml", "env", "says"),
    [
        ("[media]\nmax_pixels = 3\n", {}, "unknown key(s) in [media]: max_pixels"),
        ("[media]\nmax_image_bytes = 1\n", {}, "max_image_bytes = 1 is out of range"),
        ('[media]\nmax_image_bytes = "big"\n', {}, "max_image_bytes in [media]: expected int"),
        ("[media]\nallow_urls = true\n", {}, "url_allowlist is empty"),
        ("", {"MMSERVE_MEDIA_ALLOW_URLS": "maybe"}, "expected true or false"),
        ('[media]\nmedia_root = "/no/such/dir"\n', {}, "is not a directory"),
        ("[media]\nurl_allowlist = [1]\n", {}, "expected a list of strings"),
    ],
)
def test_bad_media_settings_say_how_to_fix(tmp_path, toml, env, says):
    with pytest.raises(ConfigError, match=None) as info:
        load_config(write(tmp_path, toml), env=env)
    assert says in str(info.value)


def test_empty_media_root_in_the_environment_turns_paths_off(tmp_path):
    path = write(tmp_path, f'[media]\nmedia_root = "{tmp_path}"\n')
    assert load_config(path, env={"MMSERVE_MEDIA_MEDIA_ROOT": ""}).media.media_root is None
