"""The `mmserve` command line: a click group (mmserve.cli:main) and one module per command
family: serve.py (serve, models), search.py (index, search), fusion.py (mmserve fusion ...),
jobs.py (mmserve jobs ..., and search --url: a running server, through mmserve.client),
keys.py (mmserve keys ...).
common.py holds the one configuration loader and error translation they all use.

Commands call services/, jobs/ and the layers below, never api/; nothing imports cli/ but
the console script (and app.py, which gives `flask --app mmserve.app` the models command).
"""

from __future__ import annotations

import click

from mmserve import __version__
from mmserve.cli.fusion import fusion_group
from mmserve.cli.jobs import jobs_group
from mmserve.cli.keys import keys_group
from mmserve.cli.search import index_command, search_command
from mmserve.cli.serve import models_command, serve


@click.group()
@click.version_option(__version__, prog_name="mmserve")
def main() -> None:
    """mmserve: multimodal models behind one HTTP API."""


for command in (
    serve,
    models_command,
    index_command,
    search_command,
    fusion_group,
    jobs_group,
    keys_group,
):
    main.add_command(command)
