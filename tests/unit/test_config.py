from pathlib import Path

import pytest

from mmserve.config import Config, Limits, ModelConfig, load_config, parse_model_specs
from mmserve.errors import ConfigError


def test_defaults_serve_every_capability_on_loopback():
    config = load_config(env={})
    assert (config.host, config.port) == ("127.0.0.1", 8000)
    assert [m.id for m in config.models] == [
        "minilm",
        "bridge",
        "efficientnet-lite0",
        "rapidocr",
        "yamnet",
        "whisper-tiny.en",
    ]
    assert config.data_dir.name == "mmserve"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mmserve.toml"
    path.write_text(text)
    return path


def test_file_then_env_then_cli_each_override_the_last(tmp_path):
    path = write(tmp_path, "port = 9000\nthreads = 8\n[limits]\nmax_inputs = 10\n")
    env = {"MMSERVE_PORT": "9100", "MMSERVE_MAX_INPUTS": "20", "MMSERVE_DATA_DIR": "/srv/mm"}
    config = load_config(path, env=env, overrides={"port": 9200, "host": None})
    assert config.port == 9200
    assert config.threads == 8
    assert config.limits.max_inputs == 20
    assert config.data_dir == Path("/srv/mm")
    assert config.host == "127.0.0.1"


def test_config_path_from_environment(tmp_path):
    path = write(tmp_path, "port = 9001\n")
    assert load_config(env={"MMSERVE_CONFIG": str(path)}).port == 9001


def test_model_tables_keep_their_settings_when_selected_by_cli(tmp_path):
    path = write(tmp_path, '[[models]]\nid = "minilm"\nworkers = 1\nmax_batch_size = 8\n')
    config = load_config(path, env={}, overrides={"models": "minilm,mine=local:/m/e5"})
    minilm, mine = config.models
    assert (minilm.workers, minilm.max_batch_size, minilm.source) == (1, 8, "minilm")
    assert (mine.id, mine.source, mine.workers) == ("mine", "local:/m/e5", 2)


def test_max_batch_size_defaults_per_model_unless_set(tmp_path):
    # efficientnet-lite0 runs faster per image alone than in batches (config.UNBATCHED_SOURCES)
    path = write(tmp_path, '[[models]]\nid = "mine"\nsource = "efficientnet-lite0"\n')
    config = load_config(path, env={}, overrides={"models": "minilm,efficientnet-lite0,mine"})
    assert [m.max_batch_size for m in config.models] == [32, 1, 1]
    path = write(tmp_path, '[[models]]\nid = "efficientnet-lite0"\nmax_batch_size = 8\n')
    assert load_config(path, env={}).models[0].max_batch_size == 8


def test_models_from_environment():
    config = load_config(env={"MMSERVE_MODELS": "fake, local:/models/e5-small/"})
    assert [(m.id, m.source) for m in config.models] == [
        ("fake", "fake"),
        ("e5-small", "local:/models/e5-small/"),
    ]


def test_parse_model_specs():
    assert parse_model_specs("a,b=fake:dim=4") == [("a", "a"), ("b", "fake:dim=4")]
    with pytest.raises(ConfigError, match="--models minilm"):
        parse_model_specs(" , ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("port = 70000\n", "port = 70000 is out of range; use 0 to 65535"),
        ('port = "x"\n', "port in config file: expected int"),
        ("prot = 1\n", "unknown key"),
        ("[limits]\nmax_inputz = 3\n", r"unknown key\(s\) in \[limits\]: max_inputz"),
        ('log_level = "loud"\n', "log_level 'loud' is not one of"),
        ("[[models]]\nworkers = 2\n", "needs an 'id'"),
        ('[[models]]\nid = "a"\nqueue_size = 4\nmax_batch_size = 8\n', "raise queue_size"),
        ('[[models]]\nid = "a"\n[[models]]\nid = "a"\n', "unique; repeated: a"),
        ("port = \n", "not valid TOML"),
    ],
)
def test_bad_settings_say_how_to_fix_them(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text), env={})


def test_bad_environment_value_names_its_source():
    with pytest.raises(ConfigError, match="port from the environment: expected int"):
        load_config(env={"MMSERVE_PORT": "eighty"})


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", env={})


def test_max_batch_tokens_is_read_from_a_model_table_and_checked(tmp_path):
    path = write(tmp_path, '[[models]]\nid = "minilm"\nmax_batch_tokens = 512\n')
    assert load_config(path, env={}).model("minilm").max_batch_tokens == 512
    with pytest.raises(ConfigError, match="max_batch_tokens"):
        ModelConfig(id="m", max_batch_tokens=0)


def test_dataclasses_validate_direct_construction():
    with pytest.raises(ConfigError, match="max_wait_ms"):
        ModelConfig(id="m", max_wait_ms=-1)
    with pytest.raises(ConfigError, match="id must be non-empty"):
        ModelConfig(id="a/b")
    with pytest.raises(ConfigError, match="request_timeout_s"):
        Limits(request_timeout_s=0)
    assert Config(models=(ModelConfig(id="x"),)).model("x").source == "x"
