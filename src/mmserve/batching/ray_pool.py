"""The served models as Ray Serve deployments, behind the ModelPool interface the routes use.

`mmserve serve --ray ADDRESS` builds a ModelPool of RemoteRunners instead of ModelRunners:
ModelRunners themselves (same queue, limits and `infer`), with a front copy of the model
loaded in the ingress for preprocessing, postprocessing and descriptions, whose collected
batches run on replicas instead of in-process; so no route changes. Each model is
a Serve application "<namespace>-<model id>" with one deployment (batching/ray_replica.py),
called through a DeploymentHandle. Several ingress processes or machines share the
deployments: the first deploys them, later ones attach to the running applications.

Errors keep their meaning: the ingress queue (queue_size), Serve's queue (max_queued_requests,
counted per ingress) or a replica's batcher full -> Overloaded (429 + Retry-After); a replica
that dies mid-batch -> the batch is sent once more (inference is idempotent, and Serve's
router drops the dead replica), and its requests fail with 503 if that dies too.

Only imported when Ray is configured: nothing else in mmserve imports Ray.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from ray import serve
from ray.exceptions import GetTimeoutError, RayActorError
from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError

from mmserve.batching.pool import ModelPool
from mmserve.batching.ray_replica import ModelReplica, Reply
from mmserve.batching.runner import ModelRunner, ModelState, WorkItem
from mmserve.cluster import join
from mmserve.config import Config, ModelConfig
from mmserve.config_ray import RayConfig, ReplicaSettings
from mmserve.errors import (
    DeadlineExceeded,
    MMServeError,
    ModelFailed,
    ModelNotReady,
    Overloaded,
)
from mmserve.metrics import Metrics
from mmserve.models.base import Model
from mmserve.models.registry import create_model

log = logging.getLogger("mmserve.ray")
STATUS_TTL_S = 1.0  # serve.status() is a controller round trip: readyz and metrics share one
ATTEMPTS = 2  # a request whose replica died is sent once more
DEPTH_TTL_S = 30.0  # a replica silent this long (idle, or gone) is left out of the depths


def ray_pool(config: Config, metrics: Metrics) -> ModelPool:
    """Every configured model as a RemoteRunner (built, not deployed: `start` deploys)."""
    status = ServeStatus(config.ray)
    runners = {
        m.id: RemoteRunner(
            create_model(m.id, m.source), m, config.ray.for_model(m.id), status, metrics
        )
        for m in config.models
    }
    metrics.registry.register(ReplicaCollector(list(runners.values())))
    return RayPool(runners, config.ray, status)


class RayPool(ModelPool):
    def __init__(self, runners: dict[str, Any], ray_config: RayConfig, status: ServeStatus):
        super().__init__(runners)
        self.ray_config = ray_config
        self.status = status

    def start(self, wait: bool = False) -> None:
        """Connect, then deploy the models one after another, in the background."""
        thread = threading.Thread(target=self._deploy_all, name="ray-deploy", daemon=True)
        thread.start()
        if wait:
            thread.join()

    def _deploy_all(self) -> None:
        try:
            connect(self.ray_config)
        except Exception as e:  # noqa: BLE001 - every model reports it in /readyz
            log.exception("cannot connect to the Ray cluster at %s", self.ray_config.address)
            for runner in self.runners.values():
                runner.fail(f"cannot connect to Ray at {self.ray_config.address}: {e}")
            return
        self.status.connected.set()
        for runner in self.runners.values():
            runner._load()

    def stop(self) -> None:
        """Stop the senders; the deployments stay: other ingresses may use them (`serve
        shutdown` ends them)."""
        for runner in self.runners.values():
            runner.stop()


def connect(ray_config: RayConfig) -> None:
    join(ray_config)
    # No Serve HTTP proxy: Flask is the ingress, and deployments are called by handle.
    serve.start(proxy_location="Disabled")


class ServeStatus:
    """serve.status(), cached for STATUS_TTL_S; nothing before the pool has connected, since
    Serve's API would join a cluster by itself (ray.init with no address) on first use, and a
    /readyz poll during start-up would race the pool's own ray.init."""

    def __init__(self, ray_config: RayConfig):
        self.ray_config = ray_config
        self.connected = threading.Event()
        self._lock = threading.Lock()
        self._at = 0.0
        self._apps: dict[str, Any] = {}

    def running_replicas(self, model_id: str) -> int:
        app = self.applications().get(self.ray_config.app_name(model_id))
        if app is None:
            return 0
        return sum(d.replica_states.get("RUNNING", 0) for d in app.deployments.values())

    def applications(self, fresh: bool = False) -> dict[str, Any]:
        if not self.connected.is_set():
            return {}
        with self._lock:
            if fresh or time.monotonic() - self._at > STATUS_TTL_S:
                try:
                    self._apps = dict(serve.status().applications)
                except Exception:  # noqa: BLE001 - cluster unreachable: no replicas known
                    log.warning("serve.status() failed", exc_info=True)
                    self._apps = {}
                self._at = time.monotonic()
            return self._apps


class RemoteRunner(ModelRunner):
    """A ModelRunner whose batches run on Serve replicas. Request threads queue items here
    exactly as in-process (same queue_size 429, deadlines, 504s); sender threads collect
    batches with collect_batch and send each batch in one handle call, so the hop is paid
    per batch, not per request; replicas answer per item (an output or that item's error),
    so one poison input still fails only its own request; `postprocess` runs here."""

    def __init__(
        self,
        model: Model,
        config: ModelConfig,
        settings: ReplicaSettings,
        serve_status: ServeStatus,
        metrics: Metrics,
    ):
        self.settings = settings
        self.serve_status = serve_status
        self.handle: Any = None
        self._depths: dict[str, tuple[int, float]] = {}  # replica -> (depth, when) last reply
        super().__init__(model, config, metrics)
        # a sender waits a round trip per batch: enough of them to keep every replica busy
        self.senders = max(config.workers, 2 * settings.max_replicas)
        # Every sender may have a batch out at once (the base class allows `workers` forward
        # passes at a time, which here would leave replicas idle).
        self._slots = threading.Semaphore(self.senders)

    @property
    def app_name(self) -> str:
        return self.serve_status.ray_config.app_name(self.model.id)

    @property  # type: ignore[override]
    def state(self) -> ModelState:
        """As in-process, and DEGRADED while Serve runs no replica of the model."""
        if self._state is not ModelState.READY:
            return self._state
        running = self.serve_status.running_replicas(self.model.id)
        return ModelState.READY if running else ModelState.DEGRADED

    @state.setter
    def state(self, value: ModelState) -> None:
        self._state = value

    # --- lifecycle ---------------------------------------------------------------------

    def _load(self) -> None:
        """Load the front copy (preprocessing, dimensions), deploy the replicas (or attach to
        those another ingress deployed), wait until Serve runs them, start the senders."""
        started = time.monotonic()
        try:
            self.model.load()
            self.handle = self._attach() or self._deploy()
        except Exception as e:  # noqa: BLE001 - reported by /readyz, the server stays up
            log.exception("model %s could not be deployed on Ray", self.model.id)
            self.fail(f"{type(e).__name__}: {e}")
            return
        for index in range(self.senders):
            thread = threading.Thread(
                target=self._work, name=f"send-{self.model.id}-{index}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        self.state = ModelState.READY
        log.info("model %s on Ray in %.2f s", self.model.id, time.monotonic() - started)

    def _attach(self) -> Any:
        """The running application's handle, when one is there already. Serve would roll every
        replica on a second `serve.run`, so ingresses after the first share what runs; a
        changed [ray] configuration takes `serve delete <app>` (or `serve shutdown`) first."""
        app = self.serve_status.applications(fresh=True).get(self.app_name)
        if app is None or app.status not in ("RUNNING", "DEPLOYING"):
            return None
        log.info("model %s: attaching to the running application %s", self.model.id, self.app_name)
        return serve.get_app_handle(self.app_name)

    def _deploy(self) -> Any:
        deployment = serve.deployment(ModelReplica).options(
            name=self.model.id, **self.settings.deployment_options()
        )
        return serve.run(deployment.bind(self.config), name=self.app_name, route_prefix=None)

    def fail(self, error: str) -> None:
        self.error = error
        self.state = ModelState.FAILED

    # --- sender side -------------------------------------------------------------------

    def _forward(self, items: list[WorkItem]) -> bool:
        """One handle call for the batch; each item gets its output or its own error."""
        remaining = max(item.deadline for item in items) - time.monotonic()
        try:
            reply = self._call([item.payload for item in items], remaining, items[0].request_id)
        except MMServeError as e:  # the call as a whole was refused or lost
            for item in items:
                item.future.set_exception(copy.copy(e))
            return not isinstance(e, ModelNotReady | ModelFailed)
        for item, output in zip(items, reply.outputs, strict=True):
            if isinstance(output, MMServeError):
                item.future.set_exception(output)
            else:
                item.future.set_result(output)
        return not all(isinstance(o, MMServeError) for o in reply.outputs)

    def _call(self, payloads: list[Any], timeout_s: float, request_id: str | None) -> Reply:
        deadline = time.monotonic() + timeout_s
        for attempt in range(1, ATTEMPTS + 1):
            remaining = max(deadline - time.monotonic(), 0.001)
            response = self.handle.infer.remote(payloads, remaining, request_id)
            try:
                reply: Reply = response.result(timeout_s=remaining)
            except RayActorError:
                log.warning(
                    "replica of %s died during request %s (attempt %d of %d)",
                    self.model.id,
                    request_id,
                    attempt,
                    ATTEMPTS,
                )
                continue
            except BackPressureError:
                raise Overloaded(
                    f"model {self.model.id!r} has {self.settings.max_queued_requests} requests "
                    "waiting for a replica, its max_queued_requests limit; retry after a second",
                    retry_after_s=1,
                ) from None
            except DeploymentUnavailableError:
                raise ModelNotReady(
                    f"model {self.model.id!r} has no running replica; see GET /readyz"
                ) from None
            except (GetTimeoutError, TimeoutError):
                response.cancel()
                raise DeadlineExceeded(
                    f"model {self.model.id!r} did not answer within request_timeout_s; "
                    "its replicas are busy or the input is very large"
                ) from None
            self._depths[reply.replica] = (reply.queue_depth, time.monotonic())
            if reply.error is not None:
                raise reply.error
            return reply
        raise ModelNotReady(
            f"model {self.model.id!r}: the replicas serving this request died twice; retry"
        )

    # --- reporting ---------------------------------------------------------------------

    def replica_depths(self) -> dict[str, int]:
        """Queue depth per replica, as each reported it with its last answer."""
        recent = time.monotonic() - DEPTH_TTL_S
        return {r: depth for r, (depth, at) in list(self._depths.items()) if at > recent}

    def status(self) -> dict[str, Any]:
        return super().status() | {
            "ray": {
                "application": self.app_name,
                "replicas": self.serve_status.running_replicas(self.model.id),
                "min_replicas": self.settings.min_replicas,
                "max_replicas": self.settings.max_replicas,
                "senders": self.senders,
                "queue_depth_by_replica": self.replica_depths(),
            },
        }


class ReplicaCollector:
    """/metrics: running replicas per model, and each replica's last reported queue depth."""

    def __init__(self, runners: list[RemoteRunner]):
        self.runners = runners

    def collect(self) -> Iterator[GaugeMetricFamily]:
        replicas = GaugeMetricFamily(
            "mmserve_ray_replicas", "Running Ray Serve replicas of the model", labels=["model"]
        )
        depth = GaugeMetricFamily(
            "mmserve_ray_replica_queue_depth",
            "Items waiting in a replica's batcher, as of its last answer",
            labels=["model", "replica"],
        )
        for runner in self.runners:
            model_id = runner.model.id
            replicas.add_metric([model_id], runner.serve_status.running_replicas(model_id))
            for replica, queued in runner.replica_depths().items():
                depth.add_metric([model_id, replica], queued)
        yield replicas
        yield depth

    def describe(self) -> list[GaugeMetricFamily]:
        return []  # collected on scrape only: no serve.status() call at registration
