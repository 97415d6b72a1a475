"""`mmserve fusion ...` through click's CliRunner, on real encoders and real files."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from mmserve.cli import main

pytestmark = pytest.mark.real_weights


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MMSERVE_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()

    def invoke(*args: str, ok: bool = True):
        result = runner.invoke(main, ["fusion", *args])
        if ok:
            assert result.exit_code == 0, (result.output, result.exception)
        return result

    return invoke


def test_demo_data_train_compare_register_and_rollback(run, tmp_path):
    out = run("demo-data", "demo", "--rows", "80", "--seed", "3").output
    assert "wrote demo/data.csv (80 rows" in out
    with (tmp_path / "demo" / "data.csv").open("a") as f:
        f.write("a red circle,images/none.png,match\n")  # line 82: a file that is not there

    fast = ("--epochs", "5", "--hidden", "16")
    first = run("train", "demo/data.csv", "-t", "label", "--strategy", "early", *fast,
                "--register", "memes").output  # fmt: skip
    assert "line 82: image file 'images/none.png' does not exist" in first
    assert "81 rows read, 80 kept" in first
    assert "features: 0 from the cache" not in first and "test label: accuracy" in first
    assert "registered fusion/memes v1 (active)" in first
    report = tmp_path / "fusion-data-early" / "report" / "report.html"
    assert report.is_file()

    second = run("train", "demo/data.csv", "-t", "label", "--strategy", "gated", *fast,
                 "--out", "gated").output  # fmt: skip
    assert "160 from the cache, 0 encoded" in second  # text + image of 80 rows
    assert "registered" not in second
    refused = run("train", "demo/data.csv", "-t", "label", "--out", "gated", ok=False)
    assert refused.exit_code != 0 and "not empty" in refused.output

    assert "registered fusion/memes v2 (active)" in run("register", "gated", "-n", "memes").output
    listed = run("list").output
    assert "fusion/memes" in listed and "* v2  gated" in listed and "  v1  early" in listed
    assert "rolled back to v1" in run("rollback", "memes").output
    assert "v2 active" in run("activate", "memes", "--version", "2").output
    as_json = json.loads(run("list", "--json").output)
    assert as_json[0]["active_version"] == 2 and len(as_json[0]["versions"]) == 2

    missing = run("activate", "memes", "--version", "7", ok=False)
    assert missing.exit_code != 0 and "no version 7" in missing.output
    assert "not a fusion model" in run("register", "demo", "-n", "x", ok=False).output

    table = run("compare", "demo/data.csv", "-t", "label", "--strategies", "early,mean",
                *fast).output  # fmt: skip
    assert "| early |" in table and "| text only |" in table and "| image only |" in table
    assert (tmp_path / "fusion-data-compare" / "report.html").is_file()


def test_export_rewrites_the_onnx_files(run, tmp_path):
    run("demo-data", "demo", "--rows", "40")
    run("train", "demo/data.csv", "-t", "label", "--strategy", "mean", "--epochs", "2",
        "--out", "m")  # fmt: skip
    (tmp_path / "m" / "model.onnx").unlink()
    (tmp_path / "m" / "model.int8.onnx").unlink()
    unexported = run("register", "m", "-n", "m", ok=False)
    assert "fusion export" in unexported.output
    assert "model.int8.onnx" in run("export", "m").output
    assert "registered fusion/m v1" in run("register", "m", "-n", "m").output


def test_compare_takes_a_split_column(run, tmp_path):
    run("demo-data", "demo", "--rows", "40")
    lines = (tmp_path / "demo" / "data.csv").read_text().splitlines()
    parts = ["train"] * 24 + ["val"] * 8 + ["test"] * 7 + ["someday"]
    rows = [f"{line},{part}" for line, part in zip(lines[1:], parts, strict=True)]
    (tmp_path / "demo" / "split.csv").write_text("\n".join([f"{lines[0]},part", *rows]) + "\n")
    table = run("compare", "demo/split.csv", "-t", "label", "--split-column", "part",
                "--strategies", "early", "--epochs", "2", "--hidden", "8").output  # fmt: skip
    assert "line 41:" in table and "someday" in table  # the column was read, row by row
    assert "| early |" in table and "| image only |" in table


def test_train_with_finetune_image_prints_the_estimate_first(run, tmp_path):
    from tests.fusion_helpers import tiny_image_data

    tiny_image_data(tmp_path / "tiny")
    args = ("train", "tiny/data.csv", "-t", "label", "--strategy", "early", "--hidden", "8")
    out = run(*args, "--epochs", "1", "--finetune-image", "last-1-blocks", "--out", "m").output
    estimate = out.index("fine-tuning estimate:")
    assert "at most" in out[estimate:] and estimate < out.index("model: m")
    assert (tmp_path / "m" / "image_encoder.onnx").is_file()
    refused = run(*args, "--finetune-image", "last-blocks", ok=False)
    assert refused.exit_code == 2 and "last-N-blocks" in refused.output
