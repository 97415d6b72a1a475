"""mmserve: multimodal models behind one dependable HTTP API.

Importing the package builds no app and loads no CLI: the app factory is
mmserve.app.create_app, the console script mmserve.cli:main.
"""

__version__ = "0.1.0"
