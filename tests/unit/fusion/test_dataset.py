"""Reading fusion data sets: CSV, JSONL, Parquet; bad rows reported with line numbers."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from mmserve.errors import ConfigError
from mmserve.fusion.dataset import read_table


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "img").mkdir()
    for name in ("a", "b", "c"):
        Image.new("RGB", (8, 8), (255, 0, 0)).save(tmp_path / "img" / f"{name}.png")
    return tmp_path


def test_csv_rows_missing_modalities_and_bad_rows_with_their_lines(folder):
    (folder / "data.csv").write_text(
        "text,image,label\n"  # line 1
        "red square,img/a.png,yes\n"  # 2
        '"a caption\nover two lines",img/b.png,no\n'  # 3-4
        ",img/c.png,yes\n"  # 5: no text -> masked, kept
        "blue circle,,no\n"  # 6: no image -> masked, kept
        "green,img/missing.png,yes\n"  # 7: file does not exist
        "no label,img/a.png,\n"  # 8: empty label
        ",,yes\n"  # 9: no input at all
    )
    table = read_table(folder / "data.csv", ["label"])
    assert [r.line for r in table.rows] == [2, 3, 5, 6]
    assert table.modalities == ("text", "image")
    assert table.rows[2].inputs == {"image": (folder / "img" / "c.png").resolve()}
    assert table.rows[3].inputs == {"text": "blue circle"}
    assert [(b.line, b.reason) for b in table.report.bad] == [
        (7, "image file 'img/missing.png' does not exist"),
        (8, "empty label in column 'label'"),
        (9, "no input: text, image all empty"),
    ]
    assert table.report.rows_read == 7 and table.report.rows_kept == 4
    assert table.targets[0].classes == ("no", "yes")
    assert table.target_values()["label"] == [1, 0, 1, 0]
    assert "line 7: image file 'img/missing.png' does not exist" in "\n".join(table.report.lines())


def test_jsonl_with_a_broken_line_and_a_regression_target(folder):
    rows = [{"text": f"item {i}", "price": 1.5 * i, "kind": "ab"[i % 2]} for i in range(12)]
    lines = [json.dumps(r) for r in rows]
    lines.insert(3, "{not json")  # line 4
    lines.insert(6, "")  # blank lines are not rows
    rows_with_bad_price = lines + [json.dumps({"text": "x", "price": "cheap", "kind": "a"})]
    (folder / "data.jsonl").write_text("\n".join(rows_with_bad_price) + "\n")
    table = read_table(folder / "data.jsonl", ["price:regression", "kind"])
    kinds = {t.name: t.kind for t in table.targets}
    assert kinds == {"price": "regression", "kind": "classification"}
    assert [(b.line, b.reason.split(":")[0]) for b in table.report.bad] == [
        (4, "not JSON"),
        (15, "price is 'cheap', not a number"),
    ]
    assert len(table.rows) == 12
    assert table.target_values()["price"][:3] == [0.0, 1.5, 3.0]
    # without ':regression', a column of more than 10 distinct numbers is a regression
    (folder / "clean.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    assert read_table(folder / "clean.jsonl", ["price"]).targets[0].kind == "regression"


def test_parquet_and_a_forced_kind_and_split_column(folder):
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = {
        "caption": ["a", "b", "c", "d"],
        "stars": [1, 2, 1, 2],
        "split": ["train", "validation", "test", "holdout"],
    }
    pq.write_table(pa.table(data), folder / "data.parquet")
    table = read_table(
        folder / "data.parquet",
        ["stars:classification"],
        columns={"text": "caption"},
        split_column="split",
    )
    assert [r.split for r in table.rows] == ["train", "val", "test"]
    assert [(b.line, b.reason) for b in table.report.bad] == [
        (4, "split is 'holdout'; use train, val or test")
    ]
    assert table.targets[0].classes == ("1", "2")


def test_file_level_problems_are_config_errors_that_say_what_to_do(folder):
    (folder / "data.csv").write_text("text,label\nhello,a\nworld,b\n")
    with pytest.raises(ConfigError, match="no column 'target'"):
        read_table(folder / "data.csv", ["target"])
    with pytest.raises(ConfigError, match=r"read \.csv, \.jsonl or \.parquet"):
        read_table(folder / "data.tsv", ["label"])
    with pytest.raises(ConfigError, match="kind after ':'"):
        read_table(folder / "data.csv", ["label:ordinal"])
    (folder / "one.csv").write_text("text,label\nhello,a\nworld,a\n")
    with pytest.raises(ConfigError, match="one class"):
        read_table(folder / "one.csv", ["label"])
