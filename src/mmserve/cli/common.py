"""What every command shares: the --config and --data-dir options, loading the
configuration, and turning mmserve's errors into one-line CLI errors."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from mmserve.config import Config, load_config
from mmserve.config_ray import require_ray
from mmserve.errors import ConfigError, MMServeError

CONFIG_OPTION = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML configuration file (also MMSERVE_CONFIG).",
)
DATA_DIR_OPTION = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where state is kept (also MMSERVE_DATA_DIR).",
)


@contextlib.contextmanager
def cli_errors() -> Iterator[None]:
    """ConfigError and client errors become one-line CLI errors, not tracebacks."""
    try:
        yield
    except ConfigError as e:
        raise click.ClickException(str(e)) from None
    except MMServeError as e:
        raise click.ClickException(e.message) from None


def load(config_path: Path | None, **overrides: Any) -> Config:
    """The configuration: the file (--config or MMSERVE_CONFIG), the environment, then the
    command line's options (None: not given)."""
    with cli_errors():
        config = load_config(config_path, overrides=overrides)
        if config.ray.enabled:
            require_ray()
        return config
