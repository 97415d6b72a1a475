"""mmserve's app under gunicorn, served as it was before granian: one process, the gthread
worker, `threads` request threads, keep-alive 75 s. The comparison row of bench_http.py;
needs gunicorn (the `bench` extra). The app reads its settings from MMSERVE_* variables.

    .venv/bin/python benchmarks/gunicorn_app.py --port 8001 [--threads 64]
"""

from __future__ import annotations

import argparse
from functools import partial
from typing import Any

from gunicorn.app.base import BaseApplication

from mmserve.config import Config, load_config
from mmserve.server import create_app_in_worker, run_in_worker


class GunicornServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, config: Config):
        self.config = config
        super().__init__()

    def load_config(self) -> None:
        options: dict[str, Any] = {
            "bind": f"{self.config.host}:{self.config.port}",
            "workers": 1,
            "worker_class": "gthread",
            "threads": self.config.threads,
            "timeout": 120,
            "graceful_timeout": 30,
            "keepalive": 75,
            "loglevel": self.config.log_level,
            "accesslog": None,
            "errorlog": "-",
            "control_socket_disable": True,
        }
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        # Built in the worker, after the fork, as mmserve's own server builds it.
        return run_in_worker(self.config, partial(create_app_in_worker, self.config))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=64)
    args = parser.parse_args()
    GunicornServer(load_config(overrides={"port": args.port, "threads": args.threads})).run()


if __name__ == "__main__":
    main()
