"""The evaluation report of a trained model on its test split: report.json for machines,
report.html for people. The HTML page is self-contained (plots inlined as PNG data URIs, no
scripts, no external assets), so it can be mailed or attached to a CI run; the same PNGs are
written next to it for other uses."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mmserve.fusion.compare import Comparison
from mmserve.fusion.data import CLASSIFICATION, FeatureDataset
from mmserve.fusion.train import TrainResult, evaluate

REPORT_FORMAT = "mmserve-fusion-report/1"


@dataclass(frozen=True)
class ReportFiles:
    json: Path
    html: Path
    images: list[Path]


def build_report(
    result: TrainResult, dataset: FeatureDataset, *, comparison: Comparison | None = None
) -> dict[str, Any]:
    """Evaluate on the result's test rows; everything the report shows, as JSON-ready data."""
    return {
        "format": REPORT_FORMAT,
        "model": result.config.to_dict(),
        "train_config": asdict(result.train_config),
        "split": {k: len(v) for k, v in result.split.to_dict().items()},
        "training": result.summary(),
        "test": evaluate(result.model, dataset.take(result.split.test)),
        "modality_weights": _modality_weights(result),
        "comparison": comparison.to_dict() if comparison else None,
    }


def _modality_weights(result: TrainResult) -> Any:
    """The learned modality weights of the weighted and late strategies, else None."""
    weights = getattr(result.model.fusion, "modality_weights", None)
    return weights() if callable(weights) else None


def write_report(report: Mapping[str, Any], out_dir: str | Path) -> ReportFiles:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    images = _plots(report)
    paths = []
    for name, png in images.items():
        paths.append(out / name)
        paths[-1].write_bytes(png)
    json_path = out / "report.json"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    html_path = out / "report.html"
    html_path.write_text(_html(report, images))
    return ReportFiles(json_path, html_path, paths)


def _plots(report: Mapping[str, Any]) -> dict[str, bytes]:
    from mmserve.fusion import plots  # matplotlib is only needed when writing reports

    training = report["training"]
    images = {
        "training_curves.png": plots.training_curves_png(
            training["history"], training["best_epoch"]
        )
    }
    for target in report["model"]["targets"]:
        name, metrics = target["name"], report["test"][target["name"]]
        if target["kind"] == CLASSIFICATION:
            images[f"confusion_{name}.png"] = plots.confusion_matrix_png(
                metrics["confusion_matrix"], target["classes"], f"{name}: confusion matrix"
            )
            images[f"roc_{name}.png"] = plots.roc_png(metrics["roc"], f"{name}: ROC, one vs rest")
    return images


def _html(report: Mapping[str, Any], images: Mapping[str, bytes]) -> str:
    training = report["training"]
    title = f"Fusion model report: {training['strategy']}"
    body = [f"<h1>{_e(title)}</h1>", _summary_table(report)]
    body += [_figure(images, "training_curves.png", "Training curves")]
    for target in report["model"]["targets"]:
        name, metrics = target["name"], report["test"][target["name"]]
        body.append(f"<h2>Target {_e(name)} ({_e(target['kind'])})</h2>")
        if target["kind"] == CLASSIFICATION:
            body += [_classification_tables(metrics)]
            body += [_figure(images, f"confusion_{name}.png", "Confusion matrix")]
            body += [_figure(images, f"roc_{name}.png", "ROC curves")]
        else:
            body.append(
                _table(
                    ["MAE", "RMSE", "R2", "rows"],
                    [[metrics[k] for k in ("mae", "rmse", "r2", "n")]],
                )
            )
    if report.get("modality_weights"):
        body += ["<h2>Learned modality weights</h2>", _weights_table(report["modality_weights"])]
    if report.get("comparison"):
        comparison = report["comparison"]
        body.append("<h2>Comparison on the same split</h2>")
        body.append(
            _table(
                comparison["columns"],
                [[r[c] for c in comparison["columns"]] for r in comparison["rows"]],
            )
        )
    return _PAGE.format(title=_e(title), body="\n".join(body))


def _summary_table(report: Mapping[str, Any]) -> str:
    t, split = report["training"], report["split"]
    rows = [
        ["strategy", t["strategy"]],
        ["modalities", ", ".join(t["modalities"])],
        ["parameters", t["parameters"]],
        ["epochs run (best)", f"{t['epochs']} ({t['best_epoch']})"],
        ["stopped early", t["stopped_early"]],
        ["training seconds", t["seconds"]],
        ["rows train / val / test", f"{split['train']} / {split['val']} / {split['test']}"],
    ]
    return _table(["", ""], rows)


def _classification_tables(m: Mapping[str, Any]) -> str:
    overall = _table(
        ["accuracy", "macro precision", "macro recall", "macro F1", "macro AUC", "rows"],
        [
            [
                m["accuracy"],
                m["macro_precision"],
                m["macro_recall"],
                m["macro_f1"],
                m["macro_auc"],
                m["n"],
            ]
        ],
    )
    per_class = _table(
        ["class", "precision", "recall", "F1", "AUC", "support"],
        [
            [name, c["precision"], c["recall"], c["f1"], m["roc"][name]["auc"], c["support"]]
            for name, c in m["per_class"].items()
        ],
    )
    return overall + per_class


def _weights_table(weights: Mapping[str, Any]) -> str:
    """{modality: w} (weighted) or {target: {modality: w}} (late)."""
    by_row = weights if isinstance(next(iter(weights.values())), Mapping) else {"all": weights}
    modalities = list(next(iter(by_row.values())))
    rows = [[name, *(w[m] for m in modalities)] for name, w in by_row.items()]
    return _table(["target", *modalities], rows)


def _figure(images: Mapping[str, bytes], name: str, caption: str) -> str:
    data = base64.b64encode(images[name]).decode("ascii")
    return (
        f'<figure><img alt="{_e(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{_e(caption)} ({_e(name)})</figcaption></figure>"
    )


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "&ndash;" if value is None else _e(str(value))


def _e(text: str) -> str:
    return html.escape(str(text))


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1000px; margin: 2em auto; padding: 0 1em; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }}
th {{ background: #f3f3f3; }}
td:first-child {{ text-align: left; }}
figure {{ margin: 1em 0; }}
img {{ max-width: 100%; }}
</style>
</head>
<body>
{body}
</body>
</html>
"""
