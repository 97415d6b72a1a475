"""`mmserve fusion pretrain` and `mmserve fusion distill`: training beyond a head on frozen
features (docs/training.md). Same pipelines as the `fusion-pretrain` and `fusion-distill`
jobs (fusion/pretrain.py, fusion/distill_pipeline.py)."""

from __future__ import annotations

from pathlib import Path

import click

from mmserve.fusion_cli import (
    DATA_DIR,
    ENCODER,
    EPOCHS,
    HIDDEN,
    SEED,
    _config,
    _errors,
    _options,
    _register,
    feature_bar,
    parse_encoders,
)


@click.command("pretrain")
@click.argument("data", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--strategy", default="attention", show_default=True, help="See docs/fusion.md.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Trunk dir.")
@click.option("--overwrite", is_flag=True, help="Replace a non-empty --out.")
@SEED
@EPOCHS
@HIDDEN
@ENCODER
@DATA_DIR
def pretrain_command(
    data: Path,
    strategy: str,
    out: Path | None,
    overwrite: bool,
    seed: int,
    epochs: int,
    hidden: int | None,
    encoders: tuple[str, ...],
    data_dir: Path | None,
) -> None:
    """Pretrain a fusion trunk on DATA's rows without labels (cross-modal matching); then
    `mmserve fusion train ... --init-from OUT`."""
    from mmserve.fusion.pretrain import load_unlabeled, pretrain_model
    from mmserve.fusion.train import TrainConfig

    config = _config(data_dir)
    out = out or Path(f"trunk-{data.stem}-{strategy}")
    with _errors():
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


@click.command("distill")
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
@DATA_DIR
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
    data_dir: Path | None,
) -> None:
    """Distil TEACHER (a trained fusion model dir) into a smaller student, exported and
    reported like any fusion model."""
    from mmserve.fusion.distill import DistillConfig, StudentSpec
    from mmserve.fusion.distill_pipeline import distill_model
    from mmserve.fusion.train import TrainConfig

    config = _config(data_dir)
    out = out or Path(f"{teacher.name}-student")
    with _errors():
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
        "| | modalities | accuracy | parameters | int8 bytes | per s (batch 1) | per s (batch 64) |"
    )
    click.echo("|---|---|---|---|---|---|---|")
    for role, c in outcome.comparison.items():
        accuracy = ", ".join(f"{v:.3f}" for v in c["accuracy"].values())
        click.echo(
            f"| {role} | {'+'.join(c['modalities'])} | {accuracy} | {c['parameters']} | "
            f"{c['int8_bytes']} | {c['per_s_batch1']} | {c['per_s_batch64']} |"
        )
    click.echo(f"report: {outcome.report_json.with_name('report.html')}")
    if register_as:
        _register(config, outcome.artifact, register_as, activate=True)
