"""`mmserve align ...` and `mmserve fusion pretrain / train --init-from / distill` through
click's CliRunner, on real encoders and real files."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from mmserve.cli import main
from tests import fusion_helpers

pytestmark = pytest.mark.real_weights


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MMSERVE_DATA_DIR", str(fusion_helpers.workdir() / "data"))  # cached
    runner = CliRunner()

    def invoke(*args: str, ok: bool = True):
        result = runner.invoke(main, list(args))
        if ok:
            assert result.exit_code == 0, (result.output, result.exception)
        return result

    return invoke


def test_align_demo_data_train_register_list_and_rollback(run, tmp_path):
    out = run("align", "demo-data", "scenes", "--rows", "60", "--no-speech").output
    assert "wrote scenes/pairs.csv (60 pairs: text + image)" in out
    with (tmp_path / "scenes" / "pairs.csv").open("a") as f:
        f.write("a red circle left of a blue square,images/none.png\n")  # line 62
    fast = ("--epochs", "3", "--dim", "8", "--hidden", "0")
    first = run("align", "scenes/pairs.csv", *fast, "--register", "scenes").output
    assert "line 62: image file 'images/none.png' does not exist" in first
    assert "61 rows read, 60 kept" in first and "test text->image: R@1" in first
    assert "registered aligned/scenes v1 (active)" in first
    assert (tmp_path / "aligned-pairs" / "report" / "report.html").is_file()
    run("align", "train", "scenes/pairs.csv", *fast, "--out", "second")
    assert "aligned/scenes v2" in run("align", "register", "second", "-n", "scenes").output
    listed = run("align", "list").output
    assert "aligned/scenes" in listed and "* v2" in listed and "mean R@1" in listed
    assert "rolled back to v1" in run("align", "rollback", "scenes").output
    refused = run("align", "rollback", "scenes", ok=False)
    assert refused.exit_code == 1 and "no earlier active version" in refused.output

    lines = (tmp_path / "scenes" / "pairs.csv").read_text().splitlines()
    text_only = [f"{line.split(',')[0]}," for line in lines[11:51]]
    (tmp_path / "scenes" / "few.csv").write_text("\n".join(lines[:11] + text_only) + "\n")
    few = run("align", "scenes/few.csv", ok=False)  # 10 pairs, 40 rows with text alone
    assert few.exit_code == 1 and "too few pairs" in few.output
    assert "'text-image': 10" in few.output
    one = run("align", "scenes/few.csv", "--no-such-option", ok=False)
    assert one.exit_code == 2


def test_pretrain_then_train_from_the_trunk_then_distill(run, tmp_path):
    data = str(fusion_helpers.demo_csv())
    fast = ("--epochs", "3", "--hidden", "16")
    pretrained = run("fusion", "pretrain", data, "--strategy", "early", *fast, "--out", "trunk")
    assert "trunk: trunk" in pretrained.output and "matching accuracy" in pretrained.output
    tuned = run("fusion", "train", data, "-t", "label", "--init-from", "trunk",
                "--freeze", "trunk", "--epochs", "3", "--out", "tuned").output  # fmt: skip
    assert "test label: accuracy" in tuned
    distilled = run("fusion", "distill", "tuned", "--student",
                    "strategy=mean,hidden=8,trunk=8,modalities=text+image", "--epochs", "3",
                    "--out", "student").output  # fmt: skip
    assert "| teacher | text+image+audio |" in distilled
    assert "| student | text+image |" in distilled
    assert (tmp_path / "student" / "model.int8.onnx").is_file()
    bad = run("fusion", "distill", "tuned", "--student", "width=3", ok=False)
    assert bad.exit_code == 1 and "KEY=VALUE" in bad.output
