"""HTTP routes: one blueprint per resource."""

from flask import Flask

from mmserve.api import embeddings, health, hooks, models, openapi


def init_app(app: Flask) -> None:
    hooks.init_app(app)
    for module in (health, models, embeddings, openapi):
        app.register_blueprint(module.bp)
