"""`mmserve align ...`: contrastive alignment of text, image and audio features into one
space, and the registry of aligned models (served as `aligned/NAME`).

    mmserve align DATA [--register NAME]     (same as `mmserve align train DATA`)
    mmserve align demo-data OUT
    mmserve align register DIR --name N | list | activate N -v V | rollback N

The same pipeline as the `align` job (fusion/align_pipeline.py); the registry commands work
whether or not a server runs on the data directory: it picks changes up at its next request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mmserve.cli.common import CONFIG_OPTION, DATA_DIR_OPTION, cli_errors, load
from mmserve.cli.fusion import ENCODER, SEED, feature_bar, parse_encoders
from mmserve.cli.registry import ModelRegistry, add_registry_commands

KIND = "aligned"


class _DefaultTrain(click.Group):
    """`mmserve align DATA` runs `train DATA`: a first argument that is no subcommand is
    the data file."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["train", *args]
        return super().parse_args(ctx, args)


@click.group("align", cls=_DefaultTrain)
def align_group() -> None:
    """Learn one embedding space for text, images and audio from your own pairs.

    `mmserve align DATA [--register NAME]` is `mmserve align train DATA ...`; the model is
    served as aligned/NAME (docs/training.md)."""


@align_group.command("demo-data")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--rows", type=click.IntRange(40), default=800, show_default=True)
@SEED
@click.option(
    "--speech/--no-speech",
    default=None,
    help="Spoken captions (espeak-ng); default: when espeak-ng is installed.",
)
def demo_data(out: Path, rows: int, seed: int, speech: bool | None) -> None:
    """Write OUT/pairs.csv: scenes of coloured shapes with captions (and spoken ones)."""
    from mmserve.fusion.align_demo import make_align_demo

    with cli_errors():
        summary = make_align_demo(out, rows=rows, seed=seed, speech=speech)
    audio = " + spoken captions" if summary.speech else ""
    click.echo(f"wrote {summary.csv} ({summary.rows} pairs: text + image{audio})")


@align_group.command("train")
@click.argument("data", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Artifact dir.")
@click.option("--overwrite", is_flag=True, help="Replace a non-empty --out.")
@click.option("--dim", type=click.IntRange(2, 4096), default=256, show_default=True)
@click.option("--hidden", type=click.IntRange(0), default=512, show_default=True, help="0: linear")
@click.option("--epochs", type=click.IntRange(1), default=200, show_default=True)
@click.option("--patience", type=click.IntRange(1), default=15, show_default=True)
@click.option("--batch-size", type=click.IntRange(2), default=128, show_default=True)
@click.option(
    "--hard-negatives",
    type=click.FloatRange(0, 20),
    default=0.0,
    show_default=True,
    metavar="BETA",
    help="Weigh in-batch negatives by exp(BETA * cosine); 0: all alike.",
)
@click.option(
    "--mine-negatives",
    type=click.IntRange(0, 64),
    default=0,
    show_default=True,
    metavar="K",
    help="Add each row's K nearest non-partners in the whole training set (mined every "
    "epoch with the current heads) as negatives; 0: in-batch only.",
)
@SEED
@ENCODER
@click.option("--register", "register_as", metavar="NAME", help="Register as aligned/NAME.")
@CONFIG_OPTION
@DATA_DIR_OPTION
def train_command(
    data: Path,
    out: Path | None,
    overwrite: bool,
    dim: int,
    hidden: int,
    epochs: int,
    patience: int,
    batch_size: int,
    hard_negatives: float,
    mine_negatives: int,
    seed: int,
    encoders: tuple[str, ...],
    register_as: str | None,
    config_path: Path | None,
    data_dir: Path | None,
) -> None:
    """Align the modalities of DATA's rows (CSV, JSONL or Parquet: text, image, audio
    columns; two or more per row); write the model with its report."""
    from mmserve.fusion.align import AlignTrainConfig
    from mmserve.fusion.align_pipeline import PairOptions, align_model, load_pairs

    config = load(config_path, data_dir=data_dir)
    out = out or Path(f"aligned-{data.stem}")
    options = PairOptions(path=data, data_dir=config.data_dir, encoders=parse_encoders(encoders))
    with cli_errors():
        with feature_bar() as progress:
            pairs = load_pairs(options, policy=config.media, progress=progress)
        for line in pairs.table.report.lines():
            click.echo(line, err=True)
        cache = pairs.cache
        click.echo(f"features: {cache.hits} from the cache, {cache.misses} encoded", err=True)
        tc = AlignTrainConfig(
            seed=seed,
            epochs=epochs,
            patience=patience,
            batch_size=batch_size,
            hard_negatives=hard_negatives,
            mine_negatives=mine_negatives,
        )
        outcome = align_model(
            pairs, out, options={"dim": dim, "hidden": hidden}, train_config=tc, overwrite=overwrite
        )
    r = outcome.result
    click.echo(
        f"model: {outcome.artifact}  (epochs {len(r.history)}, best {r.best_epoch}, "
        f"{r.seconds:.1f} s)"
    )
    for direction, m in outcome.test.items():
        if "->" in direction:
            click.echo(
                f"test {direction}: R@1 {m['R@1']:.3f}  R@5 {m['R@5']:.3f}  "
                f"R@10 {m['R@10']:.3f}  ({m['n']} pairs)"
            )
    click.echo(f"report: {outcome.report_html}")
    if register_as:
        REGISTRY.register(config, outcome.artifact, register_as, activate=True)


def _check(model_dir: Path) -> dict[str, Any]:
    from mmserve.fusion.aligned import check_aligned

    return check_aligned(model_dir)


def _describe(version: Any) -> str:
    metrics = version.summary.get("test_metrics", {})
    recall = f"mean R@1 {metrics['mean_R@1']:.3f}" if "mean_R@1" in metrics else ""
    return f"{'+'.join(version.summary.get('modalities', {}))}  {recall}"


REGISTRY = ModelRegistry(KIND, _check, _describe)
add_registry_commands(align_group, REGISTRY)
