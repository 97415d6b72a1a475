"""The HTTP side: routes/ (one Blueprint per resource: parse, call a service, encode),
schemas/ (one pydantic module per resource), hooks.py (request ids, body limits, latency),
security.py (hooks: who calls, scopes, rates, quotas, metering, audit, CORS), scopes.py
(the scope each route needs), openapi.py, low_priority.py (batch lines call the routes after
clients' requests), the playground's static/ files, and the request helpers common.py and
media_input.py.

May import services/, jobs/ and everything below them; nothing but app.py imports api/.
"""

from flask import Flask

from mmserve.api import hooks, openapi, security
from mmserve.api.routes import (
    aligned,
    audio,
    batches,
    chat,
    classifications,
    collections,
    embeddings,
    files,
    fusion,
    health,
    images,
    job_reports,
    jobs,
    models,
    playground,
    rerank,
    usage,
)

BLUEPRINTS = (
    health.bp,
    models.bp,
    embeddings.bp,
    collections.bp,
    jobs.bp,
    openapi.bp,
    images.bp,
    classifications.bp,
    audio.bp,
    fusion.bp,
    aligned.bp,
    usage.bp,
    files.bp,
    batches.bp,
    playground.bp,
    job_reports.bp,
    chat.bp,
    rerank.bp,
)


def init_app(app: Flask) -> None:
    hooks.init_app(app)
    security.init_app(app)  # after hooks: its errors carry the request id
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
