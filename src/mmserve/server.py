"""Running the app under gunicorn, in one process with threads.

Why one process: dynamic batching needs concurrent requests to meet in one queue, and the
inference workers (one single-threaded runtime call per core) release the GIL, so a single
process keeps both cores busy. Several processes would each hold a copy of every model and
split the traffic into smaller batches. `benchmarks/` measures this.
"""

from __future__ import annotations

import logging
from typing import Any

from gunicorn.app.base import BaseApplication

from mmserve.config import Config

log = logging.getLogger("mmserve.server")


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
            # gthread's main thread keeps the heartbeat, so long requests are not killed;
            # this only catches a wedged process.
            "timeout": 120,
            "graceful_timeout": 30,
            "keepalive": 75,  # keep load balancers' and clients' pooled connections
            "loglevel": self.config.log_level,
            "accesslog": None,
            "errorlog": "-",
            "control_socket_disable": True,  # one server per port; nothing to steer at run time
        }
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        # Imported and built in the worker process (no preload), so the model threads and
        # runtimes are created after the fork, where they run.
        from mmserve.app import create_app

        return create_app(self.config)


def serve(config: Config) -> None:
    log.info(
        "serving models %s on http://%s:%d",
        ", ".join(m.id for m in config.models),
        config.host,
        config.port,
    )
    GunicornServer(config).run()
