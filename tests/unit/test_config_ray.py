"""The [ray] table, and that nothing of Ray is imported unless it is configured."""

import subprocess
import sys
from pathlib import Path

import pytest

from mmserve.config import load_config
from mmserve.config_ray import RayConfig, ReplicaSettings
from mmserve.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mmserve.toml"
    path.write_text(text)
    return path


def test_ray_is_off_by_default():
    config = load_config(env={})
    assert config.ray == RayConfig()
    assert not config.ray.enabled


def test_table_sets_defaults_and_per_model_overrides(tmp_path):
    path = write(
        tmp_path,
        '[ray]\naddress = "auto"\nnum_cpus = 0.5\nmax_queued_requests = 8\ndata_concurrency = 3\n'
        "[ray.models.bridge]\nmin_replicas = 1\nmax_replicas = 4\nnum_gpus = 1\n",
    )
    ray = load_config(path, env={}).ray
    assert ray.enabled and ray.address == "auto" and ray.data_concurrency == 3
    assert ray.for_model("minilm") == ReplicaSettings(num_cpus=0.5, max_queued_requests=8)
    bridge = ray.for_model("bridge")
    # a per-model table starts from the [ray] values and changes only what it names
    assert (bridge.num_cpus, bridge.num_gpus, bridge.max_queued_requests) == (0.5, 1.0, 8)
    assert ray.app_name("bridge") == "mmserve-bridge"


def test_fixed_replicas_or_autoscaling():
    fixed = ReplicaSettings(min_replicas=2, max_replicas=2).deployment_options()
    assert fixed["num_replicas"] == 2 and "autoscaling_config" not in fixed
    assert fixed["ray_actor_options"] == {"num_cpus": 1.0, "num_gpus": 0.0}
    assert (fixed["max_ongoing_requests"], fixed["max_queued_requests"]) == (32, 64)
    scaled = ReplicaSettings(min_replicas=1, max_replicas=5, target_ongoing_requests=4)
    assert scaled.deployment_options()["autoscaling_config"] == {
        "min_replicas": 1,
        "max_replicas": 5,
        "target_ongoing_requests": 4.0,
    }
    assert "num_replicas" not in scaled.deployment_options()


def test_address_from_environment_then_command_line(tmp_path):
    path = write(tmp_path, '[ray]\naddress = "ray://head:10001"\n')
    assert load_config(path, env={}).ray.address == "ray://head:10001"
    env = {"MMSERVE_RAY_ADDRESS": "10.0.0.1:6379"}
    assert load_config(path, env=env).ray.address == "10.0.0.1:6379"
    assert load_config(path, env=env, overrides={"ray": "auto"}).ray.address == "auto"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("[ray]\nreplicas = 2\n", "unknown key(s) in [ray]: replicas"),
        ("[ray]\nnum_cpus = -1\n", "num_cpus = -1.0 is out of range"),
        ("[ray]\nmin_replicas = 3\nmax_replicas = 2\n", "raise max_replicas"),
        ("[ray]\nmax_ongoing_requests = 1.5\n", "max_ongoing_requests: expected int"),
        ("[ray.models.minilm]\naddress = 'x'\n", "[ray.models.minilm] takes only num_cpus"),
        ("[ray]\nnamespace = 'a b'\n", "namespace 'a b' must be letters"),
    ],
)
def test_bad_ray_settings_say_how_to_fix_them(tmp_path, table, message):
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, table), env={})
    assert message in str(raised.value)


def test_nothing_of_ray_is_imported_without_it(tmp_path):
    """The app, the CLI, the jobs, fusion data loading and the index command, all without Ray."""
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "a.txt").write_text("one text")
    code = f"""
import sys
from pathlib import Path
from click.testing import CliRunner
from mmserve.app import create_app
from mmserve.cli import main
from mmserve.config import Config, ModelConfig
import mmserve.jobs.index, mmserve.jobs.folder, mmserve.fusion.pipeline, mmserve.cli.fusion

data = Path({str(tmp_path)!r})
app = create_app(Config(data_dir=data / "d", models=(ModelConfig(id="fake"),)),
                 wait_for_models=True)
result = CliRunner().invoke(main, ["index", str(data / "media"), "-c", "c", "-m", "fake",
                                   "--data-dir", str(data / "d2")])
assert result.exit_code == 0, result.output
app.extensions["mmserve"].pool.stop()
sys.exit(sorted(m for m in sys.modules if m == "ray" or m.startswith("ray.")) or 0)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
