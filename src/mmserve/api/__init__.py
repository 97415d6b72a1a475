"""HTTP routes: one blueprint per resource."""

from flask import Flask

from mmserve.api import (
    audio,
    batches,
    classifications,
    collections,
    embeddings,
    files,
    fusion,
    health,
    hooks,
    images,
    job_reports,
    jobs,
    models,
    openapi,
    playground,
)


def init_app(app: Flask) -> None:
    hooks.init_app(app)
    collections.init_app(app)
    jobs.init_app(app)
    for module in (health, models, embeddings, collections, jobs, openapi):
        app.register_blueprint(module.bp)
    app.register_blueprint(images.bp)
    classifications.init_app(app)
    app.register_blueprint(classifications.bp)
    app.register_blueprint(audio.bp)
    fusion.init_app(app)
    app.register_blueprint(files.bp)
    app.register_blueprint(batches.bp)
    app.register_blueprint(playground.bp)
    app.register_blueprint(job_reports.bp)
