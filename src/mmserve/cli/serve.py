"""`mmserve serve` and `mmserve models`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mmserve.cli.common import CONFIG_OPTION, DATA_DIR_OPTION, cli_errors, load
from mmserve.config import LOG_LEVELS
from mmserve.security_config import AUTH_MODES


@click.command()
@CONFIG_OPTION
@click.option("--host", help="Address to bind (default 127.0.0.1).")
@click.option("--port", type=int, help="Port to bind (default 8000; 0 picks a free one).")
@click.option("--models", help="Comma-separated models: 'minilm' or 'name=local:/dir'.")
@click.option("--threads", type=int, help="HTTP threads (default 64).")
@DATA_DIR_OPTION
@click.option("--log-level", type=click.Choice(LOG_LEVELS), help="Log level (default info).")
@click.option(
    "--auth-mode",
    type=click.Choice(AUTH_MODES),
    help="Who may call: off (default), keys, oidc, keys+oidc ([auth] mode).",
)
@click.option(
    "--insecure",
    is_flag=True,
    default=None,
    help="Serve a non-loopback address with auth off (anyone who reaches it can use it).",
)
@click.option("--certfile", type=click.Path(dir_okay=False), help="TLS certificate (PEM).")
@click.option("--keyfile", type=click.Path(dir_okay=False), help="TLS private key (PEM).")
@click.option(
    "--client-ca",
    type=click.Path(dir_okay=False),
    help="Require client certificates signed by this CA (PEM).",
)
@click.option(
    "--ray",
    metavar="ADDRESS|auto",
    help="Run the models as Ray Serve replicas on this cluster ([ray] config; needs mmserve[ray]).",
)
def serve(config_path: Path | None, **overrides: Any) -> None:
    """Start the HTTP server (granian, one process, threads)."""
    from mmserve.models.registry import create_model
    from mmserve.server import serve as run_server
    from mmserve.server import setup_logging

    config = load(config_path, **overrides)
    setup_logging(config.log_level)
    with cli_errors():  # fail here, with a readable message, rather than inside the server
        for model in config.models:
            create_model(model.id, model.source)
    with cli_errors():  # e.g. a public address with auth off (server.check_exposure)
        run_server(config)


@click.command("models")
def models_command() -> None:
    """List the model sources this installation knows."""
    from mmserve.models.registry import list_models

    for name, description in list_models().items():
        click.echo(f"{name:<10} {description}")
