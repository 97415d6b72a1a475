"""Running the app under granian, in one process with threads.

Why granian: its HTTP side is Rust (hyper, tokio) and hands each request to a pool of Python
threads, where gunicorn parsed HTTP and wrote sockets in Python, holding the GIL the model
threads and request threads need. Measured with benchmarks/bench_http.py (the same Flask app
and `minilm` model, alternating rounds, 2 busy cores, docs/benchmarks.md): against gunicorn's
gthread worker with 64 threads, granian's WSGI mode (16 threads) was 9% faster at
concurrency 1 and 10% at 16, used 8% less CPU per request, and its floor (GET /healthz at
c=1) was 0.33 ms against 0.54 ms. Under granian, 64 threads and 16 measured alike within
the noise of short runs (its pool grows only to the requests in flight; bench_http.py
compares them), and 64 keep minute-long requests (transcriptions) from holding them all.

Why one process: dynamic batching needs concurrent requests to meet in one queue, and the
inference workers (one single-threaded runtime call per core) release the GIL, so a single
process keeps both cores busy. Several processes would each hold a copy of every model and
split the traffic into smaller batches. `benchmarks/` measures this. granian forks that one
worker from a small master, which starts a new one if it dies (as gunicorn's did), stops it
on SIGTERM/SIGINT and kills it if it has not stopped within GRACEFUL_STOP_S.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import ipaddress
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from granian.constants import HTTPModes, Interfaces, SSLProtocols
from granian.http import HTTP1Settings
from granian.log import LogLevels
from granian.server import Server

from mmserve.config import Config
from mmserve.errors import ConfigError

log = logging.getLogger("mmserve.server")

WSGIApp = Callable[..., Any]
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# Keep-alive: an idle connection is kept this long for its next request (gunicorn's
# keepalive was 75 s too), longer than load balancers' idle timeouts (AWS ALB: 60 s), so the
# server is never the side that closes a pooled connection a client is about to reuse.
# hyper (granian's HTTP) has no separate idle timeout: its header read timeout runs from
# the end of one response until the next request's headers are in.
KEEPALIVE_S = 75
GRACEFUL_STOP_S = 30  # requests in flight may finish, and the app close, in this long

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


def setup_logging(level: str) -> None:
    """Our log lines on stderr (granian's own records included: granian_logging)."""
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format=LOG_FORMAT)


def limit_blas_threads() -> None:
    """One BLAS thread for numpy in the server. The products it runs (exact search, bridge
    mixing) are matrix-vector sized; OpenBLAS's threads spin between them, taking cores the
    request threads and models need, and concurrent searches already use every core.
    Measured (docs/benchmarks.md, Search): exact search of 20,000 384-d vectors on 2 busy
    cores, 14.5 ms a query with OpenBLAS's default threads, 4.0 ms with one."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def run_wsgi(config: Config, build_app: Callable[[], WSGIApp]) -> None:
    """Serve the app `build_app` returns under granian: one worker process of
    `config.threads` request threads, built in that process (see run_in_worker)."""
    config = with_a_port(config)
    setup_logging(config.log_level)  # granian's master logs through it too
    server = Server(
        "mmserve",  # granian's name for the target; the loader below builds the app
        address=config.host,
        port=config.port,
        interface=Interfaces.WSGI,
        workers=1,
        respawn_failed_workers=True,  # a worker killed (out of memory, a crash) is replaced
        blocking_threads=config.threads,
        # The most granian allows: an idle request thread is ended after this long, and a
        # thread that ends takes its per-thread state (SQLite connections) with it.
        blocking_threads_idle_timeout=600,
        http=HTTPModes.http1,
        websockets=False,
        http1_settings=HTTP1Settings(header_read_timeout=KEEPALIVE_S * 1000, keep_alive=True),
        log_level=LogLevels(config.log_level),
        log_dictconfig=granian_logging(config.log_level),
        log_access=False,
        # SIGTERM/SIGINT: stop accepting, let requests in flight finish, close the app
        # (app.create_app hooks its close to the worker's exit); a worker still busy after
        # this long is killed.
        workers_kill_timeout=GRACEFUL_STOP_S,
        **tls_options(config),
    )
    server.serve(target_loader=partial(run_in_worker, config, build_app), wrap_loader=False)


def with_a_port(config: Config) -> Config:
    """Port 0 ("any free port") made a real one here. granian binds the port in its worker
    (and again in each one that replaces it), so given 0 it would listen on a port nobody
    is told, and on another one after a restart."""
    if config.port != 0:
        return config
    with socket.socket(socket.AF_INET6 if ":" in config.host else socket.AF_INET) as probe:
        probe.bind((config.host.strip("[]"), 0))
        port = probe.getsockname()[1]
    return dataclasses.replace(config, port=port)


def run_in_worker(config: Config, build_app: Callable[[], WSGIApp]) -> WSGIApp:
    """Build the app in the worker process, after the fork, where its model threads and
    runtimes run (gunicorn's no-preload did the same)."""
    setup_logging(config.log_level)  # a no-op after a fork; a spawned worker starts bare
    tune_malloc()
    limit_blas_threads()
    return build_app()


def granian_logging(level: str) -> dict[str, Any]:
    """granian's log records go to the root logger (stderr, our format); it would print
    them to stdout in its own format otherwise. No access log (log_access=False)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"threads_warning": {"()": ThreadCountWarningFilter}},
        "handlers": {},
        "loggers": {
            "_granian": {
                "level": level.upper(),
                "handlers": [],
                "filters": ["threads_warning"],
                "propagate": True,
            }
        },
    }


class ThreadCountWarningFilter(logging.Filter):
    """Drop granian's warning that more request threads than 2 x cores + 1 are too many:
    our request threads mostly wait on batches and models, and [server] threads is sized
    so that minute-long requests (transcriptions) do not hold every thread."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Python threads, which seems quite high" not in record.getMessage()


def tls_options(config: Config) -> dict[str, Any]:
    """granian's TLS settings from [tls]: TLS 1.2 or later (granian's default is 1.3 only);
    client certificates required when client_ca is set."""
    tls = config.tls
    if not tls.enabled:
        return {}
    options: dict[str, Any] = {
        "ssl_cert": Path(tls.certfile),
        "ssl_key": Path(tls.keyfile),
        "ssl_protocol_min": SSLProtocols.tls12,
    }
    if tls.client_ca is not None:
        options |= {"ssl_ca": Path(tls.client_ca), "ssl_client_verify": True}
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
    config = with_a_port(config)
    check_exposure(config)
    scheme = "https" if config.tls.enabled else "http"
    log.info(
        "serving models %s on %s://%s:%d",
        ", ".join(m.id for m in config.models),
        scheme,
        config.host,
        config.port,
    )
    run_wsgi(config, partial(create_app_in_worker, config))


def create_app_in_worker(config: Config) -> WSGIApp:
    """mmserve's app; it closes itself when the worker process ends (app.create_app)."""
    from mmserve.app import create_app  # imported in the worker: nothing of it in the master

    return create_app(config)
