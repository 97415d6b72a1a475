"""The registry commands that fusion and aligned models share: register, list, activate,
rollback. One `ModelRegistry` per kind says how to check a model folder and how to show a
version; `add_registry_commands(group, registry)` puts the four commands on its group.

The registry modules are imported when a command runs, so `mmserve --help` stays quick.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from mmserve.cli.common import CONFIG_OPTION, DATA_DIR_OPTION, cli_errors, load
from mmserve.config import Config


@dataclass(frozen=True)
class ModelRegistry:
    kind: str  # "fusion" or "aligned": the folder in the data dir and the id prefix
    check: Callable[[Path], dict[str, Any]]  # model folder -> summary, or raises
    describe: Callable[[Any], str]  # a version -> the rest of its line in `list`

    def open(self, config: Config) -> Any:
        from mmserve.store.fusion_models import FusionRegistry

        return FusionRegistry(config.data_dir, self.kind)

    def register(self, config: Config, model_dir: Path, name: str, *, activate: bool) -> None:
        with cli_errors():
            summary = self.check(model_dir)
            version = self.open(config).register(
                name, model_dir, activate=activate, summary=summary
            )
        state = "active" if activate else "inactive"
        click.echo(
            f"registered {self.kind}/{name} v{version.version} ({state}) in {config.data_dir}"
        )


def add_registry_commands(group: click.Group, registry: ModelRegistry) -> None:
    kind = registry.kind

    @group.command("register")
    @click.argument("model_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
    @click.option("--name", "-n", required=True, help=f"Served as {kind}/NAME.")
    @click.option("--activate/--no-activate", default=True, show_default=True)
    @CONFIG_OPTION
    @DATA_DIR_OPTION
    def register_command(
        model_dir: Path, name: str, activate: bool, config_path: Path | None, data_dir: Path | None
    ) -> None:
        """Copy a trained model into the registry as NAME's next version."""
        registry.register(load(config_path, data_dir=data_dir), model_dir, name, activate=activate)

    @group.command("list")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @CONFIG_OPTION
    @DATA_DIR_OPTION
    def list_command(as_json: bool, config_path: Path | None, data_dir: Path | None) -> None:
        """Registered models and their versions (* = active)."""
        entries = registry.open(load(config_path, data_dir=data_dir)).entries()
        if as_json:
            click.echo(json.dumps([e.as_dict() for e in entries], indent=2))
            return
        if not entries:
            click.echo(f"no {kind} models registered")
        for e in entries:
            click.echo(f"{kind}/{e.name}")
            for v in e.versions:
                mark = "*" if v.version == e.active else " "
                click.echo(f"  {mark} v{v.version}  {registry.describe(v)}")

    @group.command("activate")
    @click.argument("name")
    @click.option("--version", "-v", "version", type=click.IntRange(1), required=True)
    @CONFIG_OPTION
    @DATA_DIR_OPTION
    def activate_command(
        name: str, version: int, config_path: Path | None, data_dir: Path | None
    ) -> None:
        """Serve VERSION of NAME."""
        with cli_errors():
            entry = registry.open(load(config_path, data_dir=data_dir)).activate(name, version)
        click.echo(f"{kind}/{name}: v{entry.active} active")

    @group.command("rollback")
    @click.argument("name")
    @CONFIG_OPTION
    @DATA_DIR_OPTION
    def rollback_command(name: str, config_path: Path | None, data_dir: Path | None) -> None:
        """Serve the version of NAME that was active before the current one."""
        with cli_errors():
            entry = registry.open(load(config_path, data_dir=data_dir)).rollback(name)
        click.echo(f"{kind}/{name}: rolled back to v{entry.active}")
