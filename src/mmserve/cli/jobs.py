"""Commands that talk to a running server through mmserve.client: `mmserve jobs ...` and
`mmserve search --url`. Errors print as the server words them (with its request id)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # the client (httpx2, the [client] extra) is imported when a command runs
    from mmserve.client import Client
    from mmserve.client import types as t

DEFAULT_URL = "http://127.0.0.1:8000"
URL_OPTION = click.option(
    "--url", default=DEFAULT_URL, show_default=True, help="The running mmserve server."
)


@contextmanager
def remote(url: str) -> Iterator[Client]:
    """A client whose errors end the command with the server's message."""
    try:
        from mmserve.client import Client, MMServeClientError
    except ImportError as e:
        raise click.ClickException(str(e)) from None
    try:
        with Client(url) as client:
            yield client
    except MMServeClientError as e:
        raise click.ClickException(str(e)) from None


def search_remote(
    url: str, collection: str, query: str, *, top_k: int, where: Any, by_id: bool
) -> list[Any]:
    """`mmserve search --url`: the same search, run by the server."""
    key = "item_id" if by_id else "text"
    with remote(url) as client:
        hits: list[Any] = client.search(collection, top_k=top_k, filter=where, **{key: query})
    return hits


@click.group("jobs")
def jobs_group() -> None:
    """Background jobs on a running server (index a folder, train a fusion model...)."""


@jobs_group.command("list")
@URL_OPTION
@click.option("--state", help="queued, running, succeeded, failed, cancelled, interrupted")
@click.option("--type", "job_type", help="Only jobs of this type.")
def list_jobs(url: str, state: str | None, job_type: str | None) -> None:
    """The newest jobs, one per line."""
    with remote(url) as client:
        for job in client.jobs.list(state=state, type=job_type):
            click.echo(_line(job))


@jobs_group.command("start")
@click.argument("job_type")
@click.option("--params", "params_json", default="{}", help='The params as JSON: \'{"path": "x"}\'')
@click.option("--wait/--no-wait", default=True, show_default=True, help="Follow its progress.")
@URL_OPTION
def start_job(job_type: str, params_json: str, wait: bool, url: str) -> None:
    """Start a JOB_TYPE job (e.g. index); with --wait, show a progress bar until it ends."""
    try:
        params = json.loads(params_json)
    except json.JSONDecodeError as e:
        raise click.BadParameter(f"not JSON: {e}", param_hint="--params") from None
    with remote(url) as client:
        job = client.jobs.create(job_type, params)
        click.echo(f"started {job.id}")
        if wait:
            _finish(client.jobs.wait(job.id, progress_bar=True))


@jobs_group.command("wait")
@click.argument("job_id")
@URL_OPTION
def wait_job(job_id: str, url: str) -> None:
    """Show JOB_ID's progress until it ends; exit 1 unless it succeeded."""
    with remote(url) as client:
        _finish(client.jobs.wait(job_id, progress_bar=True))


@jobs_group.command("show")
@click.argument("job_id")
@URL_OPTION
def show_job(job_id: str, url: str) -> None:
    """JOB_ID as JSON."""
    with remote(url) as client:
        job = client.jobs.get(job_id)
    click.echo(json.dumps(job.__dict__, indent=2, ensure_ascii=False))


@jobs_group.command("cancel")
@click.argument("job_id")
@URL_OPTION
def cancel_job(job_id: str, url: str) -> None:
    """Cancel JOB_ID (a running job stops at its next checkpoint)."""
    with remote(url) as client:
        click.echo(_line(client.jobs.cancel(job_id)))


def _line(job: t.Job) -> str:
    done, total = job.progress.get("done", 0), job.progress.get("total")
    progress = f"{done}/{total}" if total else str(done)
    return f"{job.id}  {job.type:<12} {job.state:<11} {progress}"


def _finish(job: t.Job) -> None:
    if job.state != "succeeded":
        raise click.ClickException(f"job {job.id} {job.state}: {job.error or ''}".rstrip(": "))
    click.echo(json.dumps(job.result, indent=2, ensure_ascii=False))
