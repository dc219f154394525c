"""Process-wide handlers: kopf settings, API clients, the /metrics endpoint, health probes,
and the one start-up and shutdown of the enabled controllers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from functools import partial
from typing import Any

import aiohttp
import kopf
import kubernetes

from podpilot.apimachinery.group import GROUP
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
from podpilot.kube.exec_plugin import EXEC_PLUGIN_TIMEOUT, ExecPluginError
from podpilot.kube.lease import LeaderElector, LeaseLock
from podpilot.kube.pod_watch import PodWatch
from podpilot.kube.shards import Shards
from podpilot.observability.registry import (
    report_leadership,
    report_not_acting,
    report_shards,
    serve,
    stop_serving,
)
from podpilot.settings import OperatorSettings

PEERING_WAIT_ATTEMPTS = 120
# Loading credentials may run a kubeconfig's exec plugin (bounded on its own, with a clearer
# error) or read files on a slow mount; past this the start fails (and kopf retries it).
CONNECT_TIMEOUT = EXEC_PLUGIN_TIMEOUT + 10.0
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
    kubectl merges, and ``--context``), else ``$KUBECONFIG``, else in-cluster: kopf's own
    ``login_via_client`` knows neither several files nor a context. A token from a file (the
    ServiceAccount's) is read again as the file is replaced, for each request, as the other
    clients do. Should a request still get 401 (a token revoked before kubelet replaced the
    file), kopf invalidates this session and calls this login again, which reads the
    credentials afresh; meanwhile its requests wait for the new session.

    An exec plugin runs here, in a thread, for at most ``EXEC_PLUGIN_TIMEOUT`` (then
    ``LoginError``); its token is the session's header until the API server refuses it and
    kopf logs in again (a middleware would run the plugin on the event loop).
    """
    runtime: Runtime | None = getattr(memo, "runtime", None)
    kubeconfig = runtime.settings.kubeconfig if runtime is not None else None
    configuration = kubernetes.client.Configuration()
    try:
        pykube_config, token = await asyncio.to_thread(load_credentials, kubeconfig, configuration)
        # In a thread too: reading the token may run an exec plugin (its token expired already).
        info = await asyncio.to_thread(
            connection_info, configuration, settings, pykube_config.namespace
        )
    except (CredentialsError, ExecPluginError) as error:
        raise kopf.LoginError(str(error)) from error
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=KOPF_CONNECTIONS, ssl=info.as_ssl_context()),
        headers=info.as_http_headers(),
        trust_env=info.trust_env,
        middlewares=(current_token(token),) if isinstance(token, TokenFile) else (),
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
    """Configure kopf, then start the shared parts and every enabled controller.

    kopf calls this handler again when it raises: a failed attempt first undoes what it
    started (the Leases' tasks, the /metrics server, the clients), so that the next one begins
    from nothing, not with a Lease renewed for controllers that never started and its own
    port already bound.
    """
    runtime: Runtime = memo.runtime
    configure_kopf(settings, runtime.settings)
    try:
        await start_parts(runtime, settings, logger)
    except BaseException:  # also when cancelled: nothing it began may outlive it
        try:
            await undo_start(runtime, logger)
        except Exception:  # the start's own error (or cancel) is what kopf must see
            logger.exception("undoing the failed start failed too")
        raise


def configure_kopf(settings: kopf.OperatorSettings, own: OperatorSettings) -> None:
    settings.peering.lifetime = own.peering_lifetime
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 30
    settings.execution.max_workers = own.max_concurrent_api_calls
    # With --namespace the names are exact (patterns are refused), so kopf need not list the
    # cluster's namespaces nor watch its CRDs, which a namespaced install is not granted: it
    # logged eight refused attempts at ERROR, then fell back to these very names.
    settings.scanning.disabled = bool(own.namespaces)
    # Status is owned by each controller; kopf keeps its own bookkeeping in annotations.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )


async def start_parts(
    runtime: Runtime,
    settings: kopf.OperatorSettings,
    logger: logging.Logger | logging.LoggerAdapter[Any],
) -> None:
    own = runtime.settings
    # In a thread: an exec credential plugin may run for seconds, and the loop must not wait.
    connecting = asyncio.to_thread(
        connect,
        own.kubeconfig,
        max_concurrent_calls=own.max_concurrent_api_calls,
        timeouts=Timeouts.reading(own.api_timeout),
        # The leader Lease, this replica's member Lease, the members' LIST, one per shard.
        lease_calls=3 + (own.leader_election.shards if own.leader_election.shards > 1 else 0),
    )
    try:
        runtime.clients = await asyncio.wait_for(connecting, CONNECT_TIMEOUT)
    except TimeoutError:
        raise TimeoutError(
            f"loading the cluster credentials took over {CONNECT_TIMEOUT:g}s "
            "(a kubeconfig exec plugin that does not answer?)"
        ) from None
    runtime.metrics_server = serve(own.metrics_address, own.metrics_port)
    if own.leader_election.enabled:
        await start_leader_election(runtime, logger)
        if own.leader_election.shards > 1 and "autoscaler" in own.controllers:
            start_shards(runtime, logger)
    elif not own.standalone:
        for namespace in own.namespaces or (None,):
            await wait_for_peering_object(runtime, own.peering_name, namespace, logger)
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


async def undo_start(runtime: Runtime, logger: logging.Logger | logging.LoggerAdapter[Any]) -> None:
    """Stop what a failed start began (the Leases are handed back), let the /metrics port go,
    and forget it all."""
    logger.info("the start failed; stopping what it had started")
    try:
        await stop_parts(runtime, logger)
    finally:
        report_not_acting()
        try:
            if runtime.metrics_server is not None:
                await asyncio.to_thread(stop_serving, runtime.metrics_server)
        finally:
            runtime.forget_started_parts()


async def wait_for_peering_object(
    runtime: Runtime,
    name: str,
    namespace: str | None,
    logger: logging.Logger | logging.LoggerAdapter[Any],
) -> None:
    """Wait until kopf's peering object exists before kopf starts peering: the
    ClusterKopfPeering ``name``, or with ``--namespace`` the KopfPeering ``name`` in
    ``namespace`` (kopf then peers in each namespace it serves).

    kopf's first keep-alive fails quietly when the object is missing (helm creates it at
    the same moment as the pods), and the next one comes a lifetime later: until then every
    replica would act. Waiting here lets replicas see each other from the first second.
    """
    clients = runtime.api()
    api = kubernetes.client.CustomObjectsApi(clients.kubernetes)
    if namespace is None:
        what = f"ClusterKopfPeering {name}"
        read = partial(api.get_cluster_custom_object, "kopf.dev", "v1", "clusterkopfpeerings", name)
    else:
        what = f"KopfPeering {namespace}/{name}"
        read = partial(
            api.get_namespaced_custom_object, "kopf.dev", "v1", namespace, "kopfpeerings", name
        )
    for attempt in range(PEERING_WAIT_ATTEMPTS):
        try:
            await clients.call(read)
            return
        except kubernetes.client.ApiException as error:
            if error.status != 404:
                raise
        except TRANSPORT_ERRORS as error:  # each attempt is bounded by the clients' timeouts
            logger.warning(
                "%s not read: %s", what, no_answer(error, clients.server, clients.timeouts)
            )
        if attempt == 0:
            logger.info("waiting for %s before acting", what)
        await asyncio.sleep(1.0)
    raise kopf.PermanentError(
        f"{what} does not exist; install the chart's peering objects or run with --standalone"
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
    await stop_parts(memo.runtime, logger)


async def stop_parts(runtime: Runtime, logger: logging.Logger | logging.LoggerAdapter[Any]) -> None:
    """Stop every controller, even after one failed to, then the shared parts: a failure that
    ended the stop early would leave the others running and the Leases held. Parts never
    started are skipped."""
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
