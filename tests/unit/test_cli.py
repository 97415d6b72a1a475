import json

from click.testing import CliRunner

from mmserve import __version__
from mmserve.cli import main
from mmserve.store.fusion_models import FusionRegistry


def test_models_lists_the_registry():
    result = CliRunner().invoke(main, ["models"])
    assert result.exit_code == 0
    assert "minilm" in result.output and "local:" in result.output


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert __version__ in result.output


def test_serve_refuses_a_bad_configuration_before_starting(tmp_path):
    result = CliRunner().invoke(main, ["serve", "--models", "nope", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "unknown source 'nope'" in result.output


def test_serve_reports_bad_values_with_the_fix(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text("threads = 0\n")
    result = CliRunner().invoke(main, ["serve", "--config", str(config)])
    assert result.exit_code == 1
    assert "threads = 0 is out of range; use 1 to 1024" in result.output


def test_the_app_carries_the_same_command(app):
    result = app.test_cli_runner().invoke(args=["models"])
    assert "minilm" in result.output


def test_fusion_commands_read_the_configuration_file(tmp_path):
    artifact = tmp_path / "artifact"
    artifact.mkdir()
    (artifact / "model.onnx").write_bytes(b"graph")
    FusionRegistry(tmp_path / "data").register("memes", artifact, activate=True, summary={})
    config = tmp_path / "mmserve.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    listed = CliRunner().invoke(main, ["fusion", "list", "--json", "--config", str(config)])
    assert listed.exit_code == 0
    assert [entry["name"] for entry in json.loads(listed.output)] == ["memes"]
    config.write_text("threads = 0\n")
    refused = CliRunner().invoke(main, ["fusion", "list", "--config", str(config)])
    assert refused.exit_code == 1
    assert "threads = 0 is out of range; use 1 to 1024" in refused.output
