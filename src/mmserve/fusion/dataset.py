"""Raw data sets for fusion training: a CSV, JSONL or Parquet file with a column per modality
and one or more target columns.

    text   the text itself
    image  a path to an image file, relative to the data file (or absolute)
    audio  a path to an audio file, likewise
    <target columns>  a label (classification) or a number (regression)
    split  optional: "train" / "val" / "test" per row (with --split-column)

An empty modality cell is a missing modality (masked by every strategy, never zero-filled).
A row that cannot be used (empty label, a number that is not one, a media file that does
not exist) is reported with its line number and the reason, and skipped: `TableReport.bad`.
Files that exist but do not decode are found when features are made (fusion/encoders.py)
and land in the same report. numpy only; Parquet needs pyarrow.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmserve.errors import ConfigError
from mmserve.fusion.data import CLASSIFICATION, REGRESSION, TargetSpec
from mmserve.fusion.features import MODALITIES

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
SPLITS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
MEDIA = ("image", "audio")  # modalities given as file paths
AUTO_REGRESSION_DISTINCT = 10  # numeric targets with more distinct values are regression


@dataclass(frozen=True)
class BadRow:
    line: int  # CSV/JSONL: line in the file (CSV header is line 1); Parquet: row number
    reason: str


@dataclass
class TableReport:
    path: Path
    rows_read: int = 0
    bad: list[BadRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. a modality no row has

    @property
    def rows_kept(self) -> int:
        return self.rows_read - len(self.bad)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "bad_rows": [{"line": b.line, "reason": b.reason} for b in self.bad],
            "notes": list(self.notes),
        }

    def lines(self, limit: int = 20) -> list[str]:
        """Human-readable: a summary line, then up to `limit` bad rows."""
        out = [f"{self.path.name}: {self.rows_read} rows read, {self.rows_kept} kept"]
        out += [f"  line {b.line}: {b.reason}" for b in self.bad[:limit]]
        if len(self.bad) > limit:
            out.append(f"  ... and {len(self.bad) - limit} more bad rows (see report.json)")
        out += [f"  note: {n}" for n in self.notes]
        return out


@dataclass(frozen=True)
class Row:
    line: int
    inputs: dict[str, str | Path]  # modality -> text, or resolved media path; absent: left out
    labels: dict[str, str | float]  # target -> raw label or number
    split: str | None = None


@dataclass
class Table:
    path: Path
    rows: list[Row]
    modalities: tuple[str, ...]  # columns found, in MODALITIES order
    targets: tuple[TargetSpec, ...]
    report: TableReport

    def target_values(self, rows: Sequence[Row] | None = None) -> dict[str, list[Any]]:
        """target -> class index or float per row, in `rows` order (default: all)."""
        rows = self.rows if rows is None else rows
        out: dict[str, list[Any]] = {}
        for t in self.targets:
            if t.kind == CLASSIFICATION:
                index = {c: i for i, c in enumerate(t.classes)}
                out[t.name] = [index[str(r.labels[t.name])] for r in rows]
            else:
                out[t.name] = [float(r.labels[t.name]) for r in rows]
        return out


def parse_target(text: str) -> tuple[str, str | None]:
    """'label' -> ('label', None: infer the kind); 'price:regression' -> ('price', 'regression')."""
    name, _, kind = text.partition(":")
    if kind and kind not in (CLASSIFICATION, REGRESSION):
        raise ConfigError(f"target {text!r}: the kind after ':' is classification or regression")
    return name, kind or None


def read_table(
    path: str | Path,
    targets: Sequence[str],
    *,
    columns: Mapping[str, str] | None = None,
    split_column: str | None = None,
    need_targets: bool = True,
) -> Table:
    """Read the file, check every row, infer each target's kind and classes.

    `targets`: column names, optionally with ':classification' or ':regression'; with
    `need_targets=False` there may be none (unlabeled rows: alignment, pretraining).
    `columns`: modality -> column name (default: the column named like the modality).
    """
    path = Path(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ConfigError(f"{path}: read .csv, .jsonl or .parquet files, not {path.suffix!r}")
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    if not targets and need_targets:
        raise ConfigError("name at least one target column (--target label)")
    wanted = dict(parse_target(t) for t in targets)
    records = list(_records(path, kind))
    header = set().union(*(r.keys() for _, r in records)) if records else set()
    columns = {m: (columns or {}).get(m, m) for m in MODALITIES}
    modalities = tuple(m for m in MODALITIES if columns[m] in header)
    missing = [t for t in wanted if t not in header] + (
        [split_column] if split_column and split_column not in header else []
    )
    if missing:
        raise ConfigError(
            f"{path}: no column {', '.join(map(repr, missing))}; has {sorted(header)}"
        )
    if not modalities:
        raise ConfigError(f"{path}: no modality column; name one text, image or audio")
    report = TableReport(path, rows_read=len(records))
    rows = []
    for line, record in records:
        row = _row(path.parent, line, record, columns, modalities, wanted, split_column)
        if isinstance(row, BadRow):
            report.bad.append(row)
        else:
            rows.append(row)
    specs = tuple(_target_spec(name, kind, rows, report) for name, kind in wanted.items())
    keep = [r for r in rows if all(_valid(r.labels[t.name], t) for t in specs)]
    rows = keep
    report.bad.sort(key=lambda b: b.line)
    if not rows:
        raise ConfigError(f"{path}: no usable rows; " + "; ".join(report.lines(5)[1:]))
    return Table(path, rows, modalities, specs, report)


def _records(path: Path, kind: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, {column: value}) per data row."""
    if kind == "csv":
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            start = 2  # the header is line 1; a quoted cell may span lines
            for record in reader:
                yield start, {k: v for k, v in record.items() if k is not None}
                start = reader.line_num + 1
    elif kind == "jsonl":
        with path.open(encoding="utf-8") as f:
            for number, text in enumerate(f, start=1):
                if not text.strip():
                    continue
                try:
                    record = json.loads(text)
                except json.JSONDecodeError as e:
                    record = {"__error__": f"not JSON: {e.msg}"}
                if not isinstance(record, dict):
                    record = {"__error__": "not a JSON object"}
                yield number, record
    else:
        try:
            import pyarrow.parquet as pq
        except ImportError as e:
            raise ImportError(
                "reading Parquet needs pyarrow; install it with `pip install 'mmserve[fusion]'`"
            ) from e
        for number, record in enumerate(pq.read_table(path).to_pylist(), start=1):
            yield number, record


def _row(
    base: Path,
    line: int,
    record: Mapping[str, Any],
    columns: Mapping[str, str],
    modalities: Sequence[str],
    targets: Mapping[str, str | None],
    split_column: str | None,
) -> Row | BadRow:
    if "__error__" in record:
        return BadRow(line, record["__error__"])
    labels: dict[str, str | float] = {}
    for name in targets:
        value = _cell(record.get(name))
        if value is None:
            return BadRow(line, f"empty label in column {name!r}")
        labels[name] = value
    inputs: dict[str, str | Path] = {}
    for m in modalities:
        value = _cell(record.get(columns[m]))
        if value is None:
            continue  # a missing modality: masked, not an error
        if m in MEDIA:
            file = (base / value).resolve()
            if not file.is_file():
                return BadRow(line, f"{m} file {value!r} does not exist")
            inputs[m] = file
        else:
            inputs[m] = value
    if not inputs:
        return BadRow(line, f"no input: {', '.join(columns[m] for m in modalities)} all empty")
    split = None
    if split_column:
        raw = _cell(record.get(split_column))
        split = SPLITS.get((raw or "").lower())
        if split is None:
            return BadRow(line, f"{split_column} is {raw!r}; use train, val or test")
    return Row(line, inputs, labels, split)


def _cell(value: Any) -> str | None:
    """A cell as text; None for empty (None, NaN, '' or whitespace)."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip()
    return text or None


def _number(value: str | float) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def _target_spec(name: str, kind: str | None, rows: list[Row], report: TableReport) -> TargetSpec:
    values = [str(r.labels[name]) for r in rows]
    if kind is None:
        numeric = all(_number(v) is not None for v in values)
        kind = REGRESSION if numeric and len(set(values)) > AUTO_REGRESSION_DISTINCT else None
        kind = kind or CLASSIFICATION
    if kind == REGRESSION:
        for r in rows:
            if _number(r.labels[name]) is None:
                report.bad.append(BadRow(r.line, f"{name} is {r.labels[name]!r}, not a number"))
        return TargetSpec(name=name, kind=REGRESSION)
    classes = sorted(set(values), key=_natural)
    if len(classes) < 2:
        raise ConfigError(f"target {name!r} has one class ({classes}); it needs two or more")
    return TargetSpec(name=name, classes=tuple(classes))


def _valid(value: str | float, spec: TargetSpec) -> bool:
    return spec.kind == CLASSIFICATION or _number(value) is not None


def _natural(label: str) -> tuple[int, float, str]:
    """Numbers in numeric order ("2" before "10"), then text."""
    number = _number(label)
    return (0, number, "") if number is not None else (1, 0.0, label)
