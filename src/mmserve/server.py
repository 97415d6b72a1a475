"""Running the app under gunicorn, in one process with threads.

Why one process: dynamic batching needs concurrent requests to meet in one queue, and the
inference workers (one single-threaded runtime call per core) release the GIL, so a single
process keeps both cores busy. Several processes would each hold a copy of every model and
split the traffic into smaller batches. `benchmarks/` measures this.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import ipaddress
import logging
import ssl
import threading
import time
from typing import Any

from gunicorn.app.base import BaseApplication

from mmserve.config import Config
from mmserve.errors import ConfigError

log = logging.getLogger("mmserve.server")

# glibc mallopt parameters (malloc.h). Measured by benchmarks/bench_memory.py with every
# default model (RSS loaded / after one client ran every route / after 8 clients did):
# untuned 1.03 / 1.82 / 2.46 GB, these settings 0.87 / 1.25 / 1.86 GB. A lower mmap
# threshold (256 KiB) saved more memory but made transcription 28% slower (CTranslate2's
# buffers were mapped and faulted in on every call), so large blocks stay in the heap.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8
MALLOC_SETTINGS = {
    # Few heaps for many request threads: each thread's arena otherwise keeps its own peak.
    M_ARENA_MAX: 2,
    # Fixed at glibc's own ceiling: setting the trim threshold would otherwise freeze the
    # mmap threshold at its 128 KiB start (mallopt(3)).
    M_MMAP_THRESHOLD: 32 * 1024 * 1024,
    M_TRIM_THRESHOLD: 1024 * 1024,  # give a heap's free top back to the system past 1 MiB
}
# malloc_trim(0) (free pages within the heaps too) after a quiet TRIM_CHECK_S: _trim_forever.
TRIM_CHECK_S = 1.0
QUIET_CPU = 0.25  # cores: less than this used by the whole process is quiet


def tune_malloc() -> None:
    """Keep the server's memory near its working set (glibc only; elsewhere a no-op)."""
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    if libc is None or not hasattr(libc, "mallopt"):
        return
    for parameter, value in MALLOC_SETTINGS.items():
        if not libc.mallopt(parameter, value):
            log.warning("mallopt(%d, %d) was refused; memory use may be higher", parameter, value)
    if hasattr(libc, "malloc_trim"):
        trimmer = threading.Thread(target=_trim_forever, args=(libc,), name="malloc-trim")
        trimmer.daemon = True
        trimmer.start()


def _trim_forever(libc: ctypes.CDLL) -> None:
    """Give the free pages inside the heaps back to the system once the process goes quiet.

    The trim threshold only returns a heap's free top; the pages freed in its middle (a
    decoded page of text, a window of audio, the activations of a big batch, each freed
    between longer-lived blocks) stay resident until malloc_trim(0) releases them. A trim
    holds each heap's lock for 10-50 ms (measured on a 1 GB heap), which would stall request
    threads under load, so it runs only after a second in which the process used under
    QUIET_CPU of a core, once per quiet spell."""
    last_cpu, trimmed = time.process_time(), True
    while True:
        time.sleep(TRIM_CHECK_S)
        cpu = time.process_time()
        quiet = cpu - last_cpu < QUIET_CPU * TRIM_CHECK_S
        last_cpu = cpu
        if not quiet:
            trimmed = False
        elif not trimmed:
            libc.malloc_trim(0)
            trimmed = True


def limit_blas_threads() -> None:
    """One BLAS thread for numpy in the server. The products it runs (exact search, bridge
    mixing) are matrix-vector sized; OpenBLAS's threads spin between them, taking cores the
    request threads and models need, and concurrent searches already use every core.
    Measured (docs/benchmarks.md, Search): exact search of 20,000 384-d vectors on 2 busy
    cores, 14.5 ms a query with OpenBLAS's default threads, 4.0 ms with one."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


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
            **tls_options(self.config),
        }
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        # Imported and built in the worker process (no preload), so the model threads and
        # runtimes are created after the fork, where they run.
        from mmserve.app import create_app

        tune_malloc()
        limit_blas_threads()
        return create_app(self.config)


def tls_options(config: Config) -> dict[str, Any]:
    """gunicorn's TLS settings from [tls]: TLS 1.2 or later; client certificates required
    when client_ca is set."""
    tls = config.tls
    if not tls.enabled:
        return {}
    options: dict[str, Any] = {"certfile": str(tls.certfile), "keyfile": str(tls.keyfile)}
    if tls.client_ca is not None:
        options |= {"ca_certs": str(tls.client_ca), "cert_reqs": ssl.CERT_REQUIRED}
    return options


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def check_exposure(config: Config) -> None:
    """Refuse to serve a non-loopback address with auth off, unless asked to."""
    if config.auth.enabled:
        log.info("auth %s", config.auth.mode)
        return
    if not is_loopback(config.host) and not config.auth.insecure:
        raise ConfigError(
            f"refusing to serve {config.host} with auth off: anyone who reaches that address "
            "could embed, read and delete every collection, register models and start jobs. "
            'Turn auth on ([auth] mode = "keys", then `mmserve keys create`), or pass '
            "--insecure ([auth] insecure = true) if a proxy in front does the checking"
        )
    log.warning(
        "auth off: anyone who reaches %s:%d may use every route%s",
        config.host,
        config.port,
        " (--insecure)" if not is_loopback(config.host) else "",
    )


def serve(config: Config) -> None:
    check_exposure(config)
    scheme = "https" if config.tls.enabled else "http"
    log.info(
        "serving models %s on %s://%s:%d",
        ", ".join(m.id for m in config.models),
        scheme,
        config.host,
        config.port,
    )
    GunicornServer(config).run()
