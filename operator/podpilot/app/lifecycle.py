"""Process-wide handlers: kopf settings, API clients, the /metrics endpoint, health probes,
and the one start-up and shutdown of the enabled controllers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import aiohttp
import kopf
import kubernetes

from podpilot.apimachinery.leader_election import ElectionConfig
from podpilot.app import enabled_modules
from podpilot.app.runtime import Runtime
from podpilot.kube.clients import (
    TRANSPORT_ERRORS,
    CredentialsError,
    Timeouts,
    TokenFile,
    connect,
    load_credentials,
    no_answer,
)
from podpilot.kube.lease import LeaderElector, LeaseLock
from podpilot.kube.pod_watch import PodWatch
from podpilot.kube.shards import Shards
from podpilot.observability.registry import report_leadership, report_shards, serve

PEERING_WAIT_ATTEMPTS = 120
# kopf's own HTTP connections (watches, finalizers, events). kopf's default pool is unbounded:
# a burst of per-object requests (a finalizer for each of 1,000 Autoscalers at start-up) kept
# a TLS connection, with its 128 KiB buffer, for each one (250 MiB at 1,000 Autoscalers).
KOPF_CONNECTIONS = 100


@kopf.on.login()
async def login(
    settings: kopf.OperatorSettings,
    logger: logging.Logger | logging.LoggerAdapter[Any],
    memo: kopf.Memo | None = None,
    **kwargs: Any,
) -> kopf.AiohttpSession | None:
    """kopf's login from the same credentials as the other clients, over a bounded pool.

    The credentials are the ones ``podpilot run`` was given (``--kubeconfig``, merged as
    kubectl merges, and ``--context``), else in-cluster, else ``$KUBECONFIG``: kopf's own
    ``login_via_client`` knows neither several files nor a context. A token from a file (the
    ServiceAccount's) is read again as the file is replaced, for each request, as the other
    clients do. Should a request still get 401 (a token revoked before kubelet replaced the
    file), kopf invalidates this session and calls this login again, which reads the
    credentials afresh; meanwhile its requests wait for the new session.
    """
    runtime: Runtime | None = getattr(memo, "runtime", None)
    kubeconfig = runtime.settings.kubeconfig if runtime is not None else None
    configuration = kubernetes.client.Configuration()
    try:
        pykube_config, token = await asyncio.to_thread(load_credentials, kubeconfig, configuration)
    except CredentialsError as error:
        raise kopf.LoginError(str(error)) from error
    info = connection_info(configuration, settings, pykube_config.namespace)
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=KOPF_CONNECTIONS, ssl=info.as_ssl_context()),
        headers=info.as_http_headers(),
        trust_env=info.trust_env,
        middlewares=() if token is None else (current_token(token),),
    )
    return kopf.AiohttpSession(
        server=info.server,
        default_namespace=info.default_namespace,
        priority=info.priority,
        aiohttp_session=session,
    )


def connection_info(
    configuration: kubernetes.client.Configuration,
    settings: kopf.OperatorSettings,
    namespace: str,
) -> kopf.ConnectionInfo:
    """kopf's view of a loaded client configuration, read as kopf's ``login_via_client``
    reads it (the bearer token under either of the client's keys)."""
    header = configuration.get_api_key_with_prefix(
        "BearerToken"
    ) or configuration.get_api_key_with_prefix("authorization")
    scheme, _, token = (header or "").rpartition(" ")
    return kopf.ConnectionInfo(
        server=configuration.host,
        ca_path=configuration.ssl_ca_cert,
        insecure=not configuration.verify_ssl,
        username=configuration.username or None,
        password=configuration.password or None,
        scheme=scheme or None,
        token=token or None,
        certificate_path=configuration.cert_file,
        private_key_path=configuration.key_file,
        default_namespace=namespace,
        trust_env=settings.networking.trust_env,
    )


def current_token(token: TokenFile) -> aiohttp.ClientMiddlewareType:
    """An aiohttp middleware that sends the file's current token (a ``stat`` per request, a
    read only when the file was replaced)."""

    async def authorize(
        request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        request.headers[aiohttp.hdrs.AUTHORIZATION] = token.authorization()
        return await handler(request)

    return authorize


@kopf.on.startup()
async def start(
    settings: kopf.OperatorSettings,
    memo: kopf.Memo,
    logger: logging.Logger | logging.LoggerAdapter[Any],
    **_: Any,
) -> None:
    runtime: Runtime = memo.runtime
    own = runtime.settings
    settings.peering.lifetime = own.peering_lifetime
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 30
    settings.execution.max_workers = own.max_concurrent_api_calls
    # Status is owned by each controller; kopf keeps its own bookkeeping in annotations.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="podpilot.io")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="podpilot.io", key="last-handled-configuration"
    )
    runtime.clients = connect(
        own.kubeconfig,
        max_concurrent_calls=own.max_concurrent_api_calls,
        timeouts=Timeouts.reading(own.api_timeout),
        # The leader Lease, this replica's member Lease, the members' LIST, one per shard.
        lease_calls=3 + (own.leader_election.shards if own.leader_election.shards > 1 else 0),
    )
    serve(own.metrics_address, own.metrics_port)
    if own.leader_election.enabled:
        await start_leader_election(runtime, logger)
        if own.leader_election.shards > 1 and "autoscaler" in own.controllers:
            start_shards(runtime, logger)
    elif not own.standalone and not own.namespaces:
        await wait_for_peering_object(runtime, own.peering_name, logger)
    # Only now: until the elector exists, may_act() would say yes to a standby.
    report_leadership(runtime.may_act)
    if "autoscaler" in own.controllers:
        count = runtime.shards.count if runtime.shards is not None else 1
        report_shards(count, lambda: len(runtime.acted_for()))
    runtime.pods = PodWatch(runtime.clients, own.namespaces)
    for module in enabled_modules(own).values():
        module.configure(settings)
        await module.start(runtime)
    runtime.pods.start()  # once every controller has subscribed


async def wait_for_peering_object(
    runtime: Runtime, name: str, logger: logging.Logger | logging.LoggerAdapter[Any]
) -> None:
    """Wait until the ClusterKopfPeering object exists before kopf starts peering.

    kopf's first keep-alive fails quietly when the object is missing (helm creates it at
    the same moment as the pods), and the next one comes a lifetime later: until then every
    replica would act. Waiting here lets replicas see each other from the first second.
    """
    clients = runtime.api()
    api = kubernetes.client.CustomObjectsApi(clients.kubernetes)
    for attempt in range(PEERING_WAIT_ATTEMPTS):
        try:
            await clients.call(
                api.get_cluster_custom_object, "kopf.dev", "v1", "clusterkopfpeerings", name
            )
            return
        except kubernetes.client.ApiException as error:
            if error.status != 404:
                raise
        except TRANSPORT_ERRORS as error:  # each attempt is bounded by the clients' timeouts
            logger.warning(
                "ClusterKopfPeering %s not read: %s",
                name,
                no_answer(error, clients.server, clients.timeouts),
            )
        if attempt == 0:
            logger.info("waiting for ClusterKopfPeering %s before acting", name)
        await asyncio.sleep(1.0)
    raise kopf.PermanentError(
        f"ClusterKopfPeering {name} does not exist; install the chart's peering object or run "
        "with --standalone"
    )


async def start_leader_election(
    runtime: Runtime, logger: logging.Logger | logging.LoggerAdapter[Any]
) -> None:
    """Start competing for the Lease; wait for the first attempt, so that a lone replica acts
    from its first evaluation (kopf's peering still pauses and resumes the handlers, but only
    the Lease holder writes)."""
    own = runtime.settings.leader_election
    config = ElectionConfig(own.lease_duration, own.renew_deadline, own.retry_period)
    lock = LeaseLock(runtime.api(), own.namespace, own.lease_name, config)
    runtime.leader = elector = LeaderElector(lock, own.identity, config)
    runtime.leader_task = asyncio.create_task(elector.run(), name="leader-election")
    logger.info("leader election as %s on %s", own.identity, lock.describe())
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(config.renew_deadline):
            await elector.attempted.wait()


def start_shards(runtime: Runtime, logger: logging.Logger | logging.LoggerAdapter[Any]) -> None:
    """Compete for the Autoscalers' shards, each on a Lease of its own, beside the leader
    Lease (which the other controllers still act on). No wait: a shard is taken only once
    the members were listed, and its loops evaluate from that moment."""
    own = runtime.settings.leader_election
    config = ElectionConfig(own.lease_duration, own.renew_deadline, own.retry_period)
    runtime.shards = shards = Shards(
        runtime.api(), own.namespace, own.lease_name, own.identity, config, own.shards
    )
    runtime.shards_task = asyncio.create_task(shards.run(), name="shards")
    logger.info(
        "the Autoscalers are split into %d shards (Leases %s-shard-*)", own.shards, own.lease_name
    )


@kopf.on.cleanup()
async def stop(
    memo: kopf.Memo, logger: logging.Logger | logging.LoggerAdapter[Any], **_: Any
) -> None:
    """Stop every controller, even after one failed to, then the shared parts: a failure that
    ended the stop early would leave the others running and the Leases held."""
    runtime: Runtime = memo.runtime
    for name, module in reversed(enabled_modules(runtime.settings).items()):
        try:
            await module.stop(runtime)
        except Exception:
            logger.exception("stopping the %s controller failed; stopping the rest", name)
    if runtime.pods is not None:
        runtime.pods.stop()
    settled = False
    try:
        # The writes sent land before the Leases go back; one still unanswered may land later.
        settled = runtime.clients is None or await runtime.clients.drain()
    finally:
        if not settled:
            for holder in (runtime.leader, runtime.shards):
                if holder is not None:
                    holder.let_expire_on_stop()
        if runtime.shards_task is not None:
            runtime.shards_task.cancel()  # every shard held is handed back
            await asyncio.gather(runtime.shards_task, return_exceptions=True)
        if runtime.leader_task is not None:
            runtime.leader_task.cancel()  # a leader hands the Lease back as it stops
            await asyncio.gather(runtime.leader_task, return_exceptions=True)
        if runtime.clients is not None:
            runtime.clients.close()


@kopf.on.probe(id="api")
def api_clients_ready(memo: kopf.Memo, **_: Any) -> bool:
    runtime: Runtime = memo.runtime
    return runtime.clients is not None
