"""`mmserve fusion ...`: demo data, train (optionally from a pretrained trunk), compare,
export, pretrain, distill, and the model registry.

Everything runs in-process and goes through the same code as the server and the
`fusion-train` job (fusion/pipeline.py, store/fusion_models.py). The registry commands work
whether or not a server runs on the data directory: a running server picks changes up at
its next request.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from mmserve.cli.common import CONFIG_OPTION, DATA_DIR_OPTION, cli_errors, load
from mmserve.cli.registry import ModelRegistry, add_registry_commands
from mmserve.config import Config

TARGET = click.option(
    "--target",
    "-t",
    "targets",
    multiple=True,
    required=True,
    help="Target column; repeat for multi-task. 'price:regression' forces the kind.",
)
SEED = click.option("--seed", type=int, default=0, show_default=True, help="Split, init, order.")
EPOCHS = click.option("--epochs", type=click.IntRange(1), default=100, show_default=True)
SPLIT_COLUMN = click.option(
    "--split-column", help="Column with train/val/test per row (else seeded)."
)
HIDDEN = click.option("--hidden", type=click.IntRange(4), help="Fusion width (default 128).")
ENCODER = click.option(
    "--encoder",
    "encoders",
    multiple=True,
    metavar="MODALITY=ID",
    help="Registry encoder per modality (defaults: text=minilm, image=efficientnet-lite0, "
    "audio=yamnet).",
)


@click.group("fusion")
def fusion_group() -> None:
    """Train, compare and serve text + image + audio fusion models."""


@fusion_group.command("demo-data")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--rows", type=click.IntRange(10), default=600, show_default=True)
@SEED
@click.option("--audio/--no-audio", default=False, help="Add an (uninformative) audio column.")
def demo_data(out: Path, rows: int, seed: int, audio: bool) -> None:
    """Write OUT/data.csv + OUT/images: captions that match their picture, or not."""
    from mmserve.fusion.demo import make_demo_data

    summary = make_demo_data(out, rows=rows, seed=seed, audio=audio)
    click.echo(f"wrote {summary.csv} ({summary.rows} rows, {summary.matches} matches)")


@fusion_group.command("train")
@click.argument("data", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@TARGET
@click.option("--strategy", default="attention", show_default=True, help="See docs/fusion.md.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Artifact dir.")
@click.option("--overwrite", is_flag=True, help="Replace a non-empty --out.")
@SEED
@EPOCHS
@HIDDEN
@SPLIT_COLUMN
@ENCODER
@click.option("--register", "register_as", metavar="NAME", help="Register the model as NAME.")
@click.option(
    "--init-from",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Start from a pretrained trunk (mmserve fusion pretrain) or a trained model; "
    "its strategy and sizes are used.",
)
@click.option(
    "--freeze",
    type=click.Choice(["trunk", "none"]),
    default="none",
    show_default=True,
    help="trunk: train the heads alone (with --init-from).",
)
@click.option(
    "--finetune-image",
    metavar="N|last-N-blocks",
    help="Also fine-tune the image encoder's last N blocks (of 16; torch, CPU); prints the "
    "estimated time before training. See docs/training.md.",
)
@click.option(
    "--ray",
    "ray_address",
    metavar="ADDRESS|auto",
    help="Encode the features the cache lacks with Ray Data on this cluster ([ray] config).",
)
@CONFIG_OPTION
@DATA_DIR_OPTION
def train_command(
    data: Path,
    targets: tuple[str, ...],
    strategy: str,
    out: Path | None,
    overwrite: bool,
    seed: int,
    epochs: int,
    hidden: int | None,
    split_column: str | None,
    encoders: tuple[str, ...],
    register_as: str | None,
    init_from: Path | None,
    freeze: str,
    finetune_image: str | None,
    ray_address: str | None,
    config_path: Path | None,
    data_dir: Path | None,
) -> None:
    """Train a fusion model on DATA (CSV, JSONL or Parquet); write it with its report."""
    from mmserve.fusion.pipeline import train_model
    from mmserve.fusion.train import TrainConfig

    config = load(config_path, data_dir=data_dir, ray=ray_address)
    out = out or Path(f"fusion-{data.stem}-{strategy}")
    with cli_errors():
        blocks = _finetune_blocks(finetune_image)
        loaded = _load(data, targets, config, split_column, encoders, finetune_image=blocks)
        tc = TrainConfig(seed=seed, epochs=epochs)
        outcome = train_model(
            loaded,
            out,
            strategy=strategy,
            train_config=tc,
            options=_options(hidden),
            overwrite=overwrite,
            init_from=init_from,
            freeze=freeze == "trunk",
            notify=lambda message: click.echo(message, err=True),
        )
    click.echo(
        f"model: {outcome.artifact}  (epochs {len(outcome.result.history)}, "
        f"best {outcome.result.best_epoch}, {outcome.result.seconds:.1f} s)"
    )
    for name, metrics in outcome.test.items():
        click.echo(f"test {name}: {_headline(metrics)}")
    if outcome.int8:
        i = outcome.int8
        click.echo(
            f"int8: {i['int8_bytes'] / i['fp32_bytes']:.2f}x the size, "
            f"{i['speedup']:.2f}x the speed of fp32 (batch {i['batch_size']})"
        )
    click.echo(f"report: {outcome.report_html}")
    if register_as:
        REGISTRY.register(config, outcome.artifact, register_as, activate=True)


@fusion_group.command("compare")
@click.argument("data", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@TARGET
@click.option("--strategies", help="Comma-separated (default: all).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Report dir.")
@SEED
@EPOCHS
@HIDDEN
@SPLIT_COLUMN
@ENCODER
@CONFIG_OPTION
@DATA_DIR_OPTION
def compare_command(
    data: Path,
    targets: tuple[str, ...],
    strategies: str | None,
    out: Path | None,
    seed: int,
    epochs: int,
    hidden: int | None,
    split_column: str | None,
    encoders: tuple[str, ...],
    config_path: Path | None,
    data_dir: Path | None,
) -> None:
    """Every strategy and each single modality on one split: what fusion buys you."""
    from mmserve.fusion.pipeline import compare_models
    from mmserve.fusion.train import TrainConfig

    config = load(config_path, data_dir=data_dir)
    out = out or Path(f"fusion-{data.stem}-compare")
    names = [s.strip() for s in strategies.split(",")] if strategies else None
    with cli_errors():
        loaded = _load(data, targets, config, split_column, encoders)
        tc = TrainConfig(seed=seed, epochs=epochs)
        table, html = compare_models(
            loaded, out, strategies=names, train_config=tc, options=_options(hidden)
        )
    click.echo(table.to_markdown())
    click.echo(f"report: {html}")


@fusion_group.command("export")
@click.argument("model_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
def export_command(model_dir: Path) -> None:
    """(Re)write MODEL_DIR's ONNX fp32 and int8 files from its torch weights."""
    from mmserve.fusion.artifact import ONNX, ONNX_INT8, load_model
    from mmserve.fusion.export import export_onnx, quantize_int8

    with cli_errors():
        model, _ = load_model(model_dir)
        export_onnx(model, model_dir / ONNX)
        quantize_int8(model_dir / ONNX, model_dir / ONNX_INT8)
    click.echo(f"wrote {model_dir / ONNX} and {model_dir / ONNX_INT8}")


@fusion_group.command("pretrain")
@click.argument("data", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--strategy", default="attention", show_default=True, help="See docs/fusion.md.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Trunk dir.")
@click.option("--overwrite", is_flag=True, help="Replace a non-empty --out.")
@SEED
@EPOCHS
@HIDDEN
@ENCODER
@CONFIG_OPTION
@DATA_DIR_OPTION
def pretrain_command(
    data: Path,
    strategy: str,
    out: Path | None,
    overwrite: bool,
    seed: int,
    epochs: int,
    hidden: int | None,
    encoders: tuple[str, ...],
    config_path: Path | None,
    data_dir: Path | None,
) -> None:
    """Pretrain a fusion trunk on DATA's rows without labels (cross-modal matching); then
    `mmserve fusion train ... --init-from OUT`."""
    from mmserve.fusion.pretrain import load_unlabeled, pretrain_model
    from mmserve.fusion.train import TrainConfig

    config = load(config_path, data_dir=data_dir)
    out = out or Path(f"trunk-{data.stem}-{strategy}")
    with cli_errors():
        with feature_bar() as progress:
            unlabeled = load_unlabeled(
                data,
                config.data_dir,
                encoders=parse_encoders(encoders),
                policy=config.media,
                progress=progress,
            )
        for line in unlabeled.table.report.lines():
            click.echo(line, err=True)
        outcome = pretrain_model(
            unlabeled,
            out,
            strategy=strategy,
            options=_options(hidden),
            train_config=TrainConfig(epochs=epochs),
            overwrite=overwrite,
        )
    r = outcome.result
    accuracy = outcome.test["pretext"]["accuracy"]
    click.echo(
        f"trunk: {outcome.artifact}  (epochs {len(r.history)}, best {r.best_epoch}, "
        f"{r.seconds:.1f} s; held-out matching accuracy {accuracy:.3f})"
    )


@fusion_group.command("distill")
@click.argument("teacher", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--student",
    "student",
    default="strategy=early,hidden=32,trunk=32",
    show_default=True,
    help="strategy=S,hidden=N,trunk=N,layers=N,modalities=text+image",
)
@click.option(
    "--data",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Labelled data (default: the file the teacher was trained on).",
)
@click.option(
    "--unlabeled",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="More rows, without labels: teacher targets only.",
)
@click.option("--temperature", type=click.FloatRange(0.1, 100), default=4.0, show_default=True)
@click.option(
    "--alpha",
    type=click.FloatRange(0, 1),
    default=0.7,
    show_default=True,
    help="Weight of the teacher's targets (1 - alpha: the labels).",
)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Student dir.")
@click.option("--overwrite", is_flag=True, help="Replace a non-empty --out.")
@EPOCHS
@click.option("--register", "register_as", metavar="NAME", help="Register the student.")
@CONFIG_OPTION
@DATA_DIR_OPTION
def distill_command(
    teacher: Path,
    student: str,
    data: Path | None,
    unlabeled: Path | None,
    temperature: float,
    alpha: float,
    out: Path | None,
    overwrite: bool,
    epochs: int,
    register_as: str | None,
    config_path: Path | None,
    data_dir: Path | None,
) -> None:
    """Distil TEACHER (a trained fusion model dir) into a smaller student, exported and
    reported like any fusion model."""
    from mmserve.fusion.distill import DistillConfig, StudentSpec
    from mmserve.fusion.distill_pipeline import distill_model
    from mmserve.fusion.train import TrainConfig

    config = load(config_path, data_dir=data_dir)
    out = out or Path(f"{teacher.name}-student")
    with cli_errors():
        spec = StudentSpec.parse(student)
        outcome = distill_model(
            teacher,
            out,
            spec,
            config.data_dir,
            data=data,
            unlabeled=unlabeled,
            config=DistillConfig(temperature=temperature, alpha=alpha),
            train_config=TrainConfig(epochs=epochs),
            policy=config.media,
            overwrite=overwrite,
        )
    click.echo(f"student: {outcome.artifact}")
    click.echo(
        "| | modalities | accuracy / R2 | parameters | int8 bytes | per s (batch 1) "
        "| per s (batch 64) |"
    )
    click.echo("|---|---|---|---|---|---|---|")
    for role, c in outcome.comparison.items():
        quality = [*c["accuracy"].values(), *c.get("r2", {}).values()]
        accuracy = ", ".join(f"{v:.3f}" for v in quality)
        click.echo(
            f"| {role} | {'+'.join(c['modalities'])} | {accuracy} | {c['parameters']} | "
            f"{c['int8_bytes']} | {c['per_s_batch1']} | {c['per_s_batch64']} |"
        )
    click.echo(f"report: {outcome.report_json.with_name('report.html')}")
    if register_as:
        REGISTRY.register(config, outcome.artifact, register_as, activate=True)


# --- helpers ---------------------------------------------------------------------------


def _check(model_dir: Path) -> dict[str, Any]:
    from mmserve.fusion.pipeline import check_servable

    return check_servable(model_dir)


def _describe(version: Any) -> str:
    metrics = "; ".join(
        f"{t} {_headline(m)}" for t, m in version.summary.get("test_metrics", {}).items()
    )
    return f"{version.summary.get('strategy')}  {metrics}"


def _load(
    data: Path,
    targets: tuple[str, ...],
    config: Config,
    split: str | None,
    encoders: tuple[str, ...],
    *,
    finetune_image: int = 0,
) -> Any:
    from mmserve.fusion.pipeline import DataOptions, load_data

    options = DataOptions(
        path=data,
        targets=targets,
        data_dir=config.data_dir,
        split_column=split,
        encoders=parse_encoders(encoders),
        finetune_image=finetune_image,
    )
    with feature_bar() as progress:
        loaded = load_data(options, policy=config.media, progress=progress, cluster=config)
    cache = loaded.cache
    for line in loaded.table.report.lines():
        click.echo(line, err=True)
    click.echo(f"features: {cache.hits} from the cache, {cache.misses} encoded", err=True)
    return loaded


def _finetune_blocks(value: str | None) -> int:
    """--finetune-image N or last-N-blocks -> N (0: not given)."""
    if value is None:
        return 0
    from mmserve.errors import ConfigError
    from mmserve.fusion.finetune import parse_blocks

    try:
        return parse_blocks(value)
    except ConfigError as e:
        raise click.BadParameter(str(e), param_hint="--finetune-image") from None


def parse_encoders(encoders: tuple[str, ...]) -> dict[str, str]:
    """('image=efficientnet-lite0', ...) -> {modality: registry id}."""
    chosen = {}
    for pair in encoders:
        modality, sep, encoder = pair.partition("=")
        if not sep or modality not in ("text", "image", "audio"):
            raise click.BadParameter(f"{pair!r}: write MODALITY=ID, e.g. image=efficientnet-lite0")
        chosen[modality] = encoder
    return chosen


@contextlib.contextmanager
def feature_bar() -> Iterator[Any]:
    """A tqdm bar over features made, as a progress(done, total) callback."""
    from tqdm import tqdm

    with tqdm(desc="features", unit="item", leave=False) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        yield progress


def _options(hidden: int | None) -> dict[str, Any]:
    return {"hidden": hidden} if hidden else {}


def _headline(metrics: dict[str, Any]) -> str:
    keep = ("accuracy", "macro_f1", "macro_auc", "r2", "mae")
    return ", ".join(f"{k} {metrics[k]:.3f}" for k in keep if isinstance(metrics.get(k), float))


REGISTRY = ModelRegistry("fusion", _check, _describe)
add_registry_commands(fusion_group, REGISTRY)
