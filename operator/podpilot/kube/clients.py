"""The two API clients, built once from the same credentials, each with one job.

* ``kubernetes`` (the official client) does every typed call: the ``/scale`` subresource of
  any workload, status patches of podpilot's own resources, CRD installation, the node
  proxy the emptyDir audit reads, and the list-and-watch of pods and Deployments behind the
  Autoscaler's caches (``list_watch.py``).
* ``pykube-ng`` does the generic, read-only calls: API discovery and the aggregated metrics
  APIs (metrics.k8s.io, custom.metrics.k8s.io, external.metrics.k8s.io).

Both are synchronous, so every call runs in a bounded thread pool off the event loop. Status
writes have a small pool of their own: on a loaded apiserver they answer several times slower
than reads, and a burst of them must not hold up the reads (and ``/scale`` patches) of
evaluations.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

import kubernetes
import pykube

T = TypeVar("T")

MAX_CONCURRENT_STATUS_WRITES = 4
# The Autoscaler's pod and Deployment watches each hold a connection while they stream.
WATCH_CONNECTIONS = 2
SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


@dataclass(frozen=True)
class ApiClients:
    """The shared clients and the pools their blocking calls run in."""

    kubernetes: kubernetes.client.ApiClient
    pykube: pykube.HTTPClient
    pool: ThreadPoolExecutor
    status_pool: ThreadPoolExecutor

    async def call(self, function: Callable[..., T], /, *args: object, **kwargs: object) -> T:
        """Run a blocking client call in the pool and await its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, partial(function, *args, **kwargs))

    async def write_status(
        self, function: Callable[..., T], /, *args: object, **kwargs: object
    ) -> T:
        """Run a blocking status write in the status pool and await its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.status_pool, partial(function, *args, **kwargs))

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.status_pool.shutdown(wait=False, cancel_futures=True)
        self.kubernetes.close()  # type: ignore[no-untyped-call]
        self.pykube.session.close()


def in_cluster() -> bool:
    return SERVICE_ACCOUNT_TOKEN.exists() and "KUBERNETES_SERVICE_HOST" in os.environ


def connect(
    kubeconfig: str | None = None,
    max_concurrent_calls: int = 16,
    max_concurrent_status_writes: int = MAX_CONCURRENT_STATUS_WRITES,
) -> ApiClients:
    """Build both clients from in-cluster credentials or a kubeconfig (``$KUBECONFIG``).

    Each client's connection pool holds a connection per thread that may use it, so no
    connection is opened and dropped again during a burst.
    """
    configuration = kubernetes.client.Configuration()
    if kubeconfig is None and in_cluster():
        kubernetes.config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        pykube_config = pykube.KubeConfig.from_service_account()
    else:
        path = kubeconfig or os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
        kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=path, client_configuration=configuration
        )
        pykube_config = pykube.KubeConfig.from_file(path)
    configuration.connection_pool_maxsize = (
        max_concurrent_calls + max_concurrent_status_writes + WATCH_CONNECTIONS
    )
    adapter = pykube.http.KubernetesHTTPAdapter(pykube_config, pool_maxsize=max_concurrent_calls)
    http = pykube.HTTPClient(pykube_config, timeout=10, http_adapter=adapter)
    return ApiClients(
        kubernetes=kubernetes.client.ApiClient(configuration),
        pykube=http,
        pool=ThreadPoolExecutor(max_concurrent_calls, thread_name_prefix="podpilot-api"),
        status_pool=ThreadPoolExecutor(
            max_concurrent_status_writes, thread_name_prefix="podpilot-status"
        ),
    )
