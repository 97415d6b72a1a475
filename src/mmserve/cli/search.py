"""`mmserve index` and `mmserve search`: the search store from the terminal, in-process.

They load models the way the server does (ModelPool.from_config -> registry.create_model)
and embed through the same function and embedding cache (services/store_embed.py), so an
item indexed here and one added over HTTP are alike. They open the store directly: it is safe
to use while a server runs on the same data directory (SQLite arbitrates the writes).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from mmserve.cli.common import CONFIG_OPTION, DATA_DIR_OPTION, cli_errors, load
from mmserve.config import Config, ModelConfig, replace


@click.command("index")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--collection", "-c", required=True, help="Collection to index into.")
@click.option("--model", "-m", help="Model for a new collection (default: the first served).")
@click.option("--batch", type=click.IntRange(1, 1024), default=16, help="Files per commit.")
@click.option(
    "--ray",
    "ray_address",
    metavar="ADDRESS|auto",
    help="Read and encode the files with Ray Data on this cluster ([ray] config).",
)
@CONFIG_OPTION
@DATA_DIR_OPTION
def index_command(
    path: Path,
    collection: str,
    model: str | None,
    batch: int,
    ray_address: str | None,
    config_path: Path | None,
    data_dir: Path | None,
) -> None:
    """Index the text, image and audio files under PATH into a collection.

    Resumes where an earlier run stopped and skips files already indexed (same size and
    mtime); files that cannot be read or embedded are listed with the reason, and the run
    goes on. Run it again to retry them.
    """
    from tqdm import tqdm

    from mmserve.jobs.folder import FolderReport
    from mmserve.jobs.index import ensure_collection, folder_indexer, media_policy

    config = load(config_path, data_dir=data_dir, ray=ray_address)
    with _Session(config, _model_for(config, collection, model)) as session:
        with cli_errors():
            ensure_collection(session.store, session.pool, collection, model)
            kinds = _collection_deidentify(config.data_dir, collection)
        indexer = folder_indexer(
            config,
            session.store,
            session.pool,
            collection,
            path.resolve(),
            policy=media_policy(config),
            timeout_s=config.limits.request_timeout_s,
            batch_files=batch,
            deidentify=kinds,
        )
        files = indexer.files()
        shown: set[str] = set()
        with tqdm(total=len(files), unit="file", desc=collection) as bar:

            def progress(report: FolderReport) -> None:
                for rel, why in (report.failed | report.unsupported).items():
                    if rel not in shown:
                        shown.add(rel)
                        bar.write(
                            f"{'failed' if rel in report.failed else 'skipped'}: {rel}: {why}"
                        )
                bar.update(report.done - bar.n)
                bar.set_postfix(new=report.indexed, unchanged=report.unchanged)

            report = indexer.run(progress)
    click.echo(
        f"{collection}: {report.indexed} indexed, {report.unchanged} already indexed, "
        f"{len(report.failed)} failed, {len(report.unsupported)} unsupported "
        f"({report.total} files)"
    )


@click.command("search")
@click.argument("collection")
@click.argument("query")
@click.option("--top-k", "-k", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.option(
    "--filter", "filter_json", help='Metadata filter as JSON: \'{"year": {"gte": 2020}}\''
)
@click.option("--id", "by_id", is_flag=True, help="QUERY is an item id: find items like it.")
@click.option("--url", help="Ask this running server instead of opening the data directory.")
@CONFIG_OPTION
@DATA_DIR_OPTION
def search_command(
    collection: str,
    query: str,
    top_k: int,
    filter_json: str | None,
    by_id: bool,
    url: str | None,
    config_path: Path | None,
    data_dir: Path | None,
) -> None:
    """Search COLLECTION for QUERY (a text) and print the hits as a table."""
    from mmserve.services.store_embed import embed_pieces, to_piece

    try:
        where = json.loads(filter_json) if filter_json else None
    except json.JSONDecodeError as e:
        raise click.BadParameter(f"not JSON: {e}", param_hint="--filter") from None
    if url is not None:  # no models loaded here: the server embeds the query
        from mmserve.cli.jobs import search_remote

        _print_hits(search_remote(url, collection, query, top_k=top_k, where=where, by_id=by_id))
        return
    config = load(config_path, data_dir=data_dir)
    model = None if by_id else _model_for(config, collection, None)
    with _Session(config, model) as session, cli_errors():
        if by_id:
            hits = session.store.search_by_item(collection, query, top_k=top_k, filter=where)
        else:
            found = session.store.get_collection(collection)
            piece = to_piece(query, "query", config)
            vector = embed_pieces(
                session.pool,
                session.store,
                found.model,
                [piece],
                timeout_s=config.limits.request_timeout_s,
            )[0]
            hits = session.store.search(collection, vector, top_k=top_k, filter=where)
    _print_hits(hits)


def _print_hits(hits: list[Any]) -> None:
    if not hits:
        click.echo("no hits")
        return
    rows = [
        (str(rank), f"{h.score:.4f}", h.modality, h.id, json.dumps(h.metadata, ensure_ascii=False))
        for rank, h in enumerate(hits, 1)
    ]
    header = ("#", "score", "modality", "id", "metadata")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)]
        click.echo("  ".join([*cells, _clip(row[4], 80)]).rstrip())


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _model_for(config: Config, collection: str, model: str | None) -> ModelConfig | None:
    """The one model to load: the collection's if it exists, else --model or the first
    configured; its batching settings come from the configuration when it names it."""
    from mmserve.services.state import open_search_store

    with open_search_store(config) as store:
        names = {c.name: c.model for c in store.list_collections()}
    model_id = names.get(collection) or model
    if model_id is None:
        if not config.models:
            raise click.ClickException("no model configured: pass --model")
        return config.models[0]
    return config.model(model_id) or ModelConfig(id=model_id)


class _Session:
    """The store and (when a model is needed) a started pool with that one model."""

    def __init__(self, config: Config, model: ModelConfig | None):
        from mmserve.batching.pool import ModelPool
        from mmserve.metrics import Metrics
        from mmserve.services.state import open_search_store

        self.pool = None
        if model is not None:
            with cli_errors():
                self.pool = ModelPool.from_config(replace(config, models=(model,)), Metrics())
        self.store = open_search_store(config)

    def __enter__(self) -> _Session:
        if self.pool is not None:
            self.pool.start(wait=True)
            failed = [r for r in self.pool.runners.values() if r.state == "failed"]
            if failed:
                self.__exit__()
                raise click.ClickException(
                    f"model {failed[0].model.id!r} failed to load: {failed[0].status()['error']}"
                )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.stop()
        self.store.close()


def _collection_deidentify(data_dir: Path, collection: str) -> tuple[str, ...]:
    """What a collection made with `deidentify` strips from every write (kept next to its
    grants in auth.sqlite3), so that files indexed here are stripped as the server's index
    jobs strip them; an error now if "faces" cannot be done."""
    from mmserve.services.deidentify import wants_faces
    from mmserve.store.access import CollectionAccess
    from mmserve.store.keys import open_auth_db

    db = open_auth_db(data_dir)
    try:
        kinds = tuple(CollectionAccess(db).deidentify(collection))
    finally:
        db.close()
    wants_faces(kinds)
    return kinds
