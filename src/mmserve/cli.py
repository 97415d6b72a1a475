"""The `mmserve` command line (a click group; Flask already depends on click)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click

from mmserve import __version__
from mmserve.config import LOG_LEVELS, load_config
from mmserve.errors import ConfigError


@click.group()
@click.version_option(__version__, prog_name="mmserve")
def main() -> None:
    """mmserve: multimodal models behind one HTTP API."""


@main.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML configuration file (also MMSERVE_CONFIG).",
)
@click.option("--host", help="Address to bind (default 127.0.0.1).")
@click.option("--port", type=int, help="Port to bind (default 8000; 0 picks a free one).")
@click.option("--models", help="Comma-separated models: 'minilm' or 'name=local:/dir'.")
@click.option("--threads", type=int, help="HTTP threads (default 64).")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where state is kept (also MMSERVE_DATA_DIR).",
)
@click.option("--log-level", type=click.Choice(LOG_LEVELS), help="Log level (default info).")
def serve(config_path: Path | None, **overrides: Any) -> None:
    """Start the HTTP server (gunicorn, one process, threads)."""
    from mmserve.models.registry import create_model
    from mmserve.server import serve as run_server

    config = _load(config_path, overrides)
    _setup_logging(config.log_level)
    try:  # fail here, with a readable message, rather than inside the server process
        for model in config.models:
            create_model(model.id, model.source)
    except ConfigError as e:
        raise click.ClickException(str(e)) from None
    run_server(config)


@main.command("models")
def models_command() -> None:
    """List the model sources this installation knows."""
    from mmserve.models.registry import list_models

    for name, description in list_models().items():
        click.echo(f"{name:<10} {description}")


def _add_search_commands() -> None:
    from mmserve.cli_search import index_command, search_command

    main.add_command(index_command)
    main.add_command(search_command)


_add_search_commands()


def _add_fusion_commands() -> None:
    from mmserve.fusion_cli import fusion_group

    main.add_command(fusion_group)


_add_fusion_commands()


def _load(config_path: Path | None, overrides: dict[str, Any]) -> Any:
    try:
        return load_config(config_path, overrides=overrides)
    except ConfigError as e:
        raise click.ClickException(str(e)) from None


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )


def _add_remote_commands() -> None:
    from mmserve.cli_remote import jobs_group

    main.add_command(jobs_group)


_add_remote_commands()
