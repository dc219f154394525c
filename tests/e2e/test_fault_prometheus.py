"""Fault case F4 and issue #18's hostile-Prometheus cases, on the dev cluster.

One Autoscaler (``web``, steady at 3 above its minimum of 1) reads a Prometheus metric through
a ``PrometheusServer`` at the fault proxy (``prometheus_fault_proxy``) in front of the dev
cluster's Prometheus, with basic-auth credentials the proxy echoes back in its 401 and 500
answers. The proxy cycles through every failure mode, a few evaluation periods each: each
mode must hold the count (never a decrease), set ``ScalingActive`` with a message naming the
failure's kind, and leak no answer text and no credential in any encoding. Meanwhile:
three more Autoscalers in the namespace load the same server (distinct queries, so they are
not shared), the operator's RSS is sampled during the 50 MB answer, and a second namespace's
Autoscaler on a healthy PrometheusServer straight at Prometheus must keep reacting within
its normal time during the slow and trickling modes.

The operator runs with ``--prometheus-allowed-url=127.0.0.1`` for this module, so a server
at ``localhost`` (the same Prometheus by another name) is refused with ``url_refused``.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from tests.e2e.conftest import Kubectl, OperatorProcess, fresh_namespace
from tests.e2e.faults import ReplicaRecord, autoscaler_status, status_condition
from tests.e2e.prometheus_fault_proxy import (
    LEAKED_TEXT,
    OPERATOR_REASONS,
    Mode,
    fault_proxy,
)
from tests.e2e.prometheus_helpers import prometheus_metric, prometheus_server
from tests.e2e.test_fault_matrix import measured
from tests.e2e.waiting import wait_until
from tests.e2e.workloads import (
    FAST_SCALE_DOWN,
    apply,
    autoscaler,
    deployment,
    put_series,
    spec_replicas,
    wait_ready,
)

from podpilot_dev.cluster import ClusterState

Json = Callable[..., Any]
PERIOD = 5  # evaluationPeriodSeconds of workloads.autoscaler
SCRAPE = 2  # the dev Prometheus scrapes the test exporter every 2 s
SERIES = "podpilot_e2e_f4_load"
USER, PASSWORD = "f4-tenant-e2e", "pw/F4+e2e:9Zq!"
ALLOWED = "--prometheus-allowed-url=127.0.0.1"
HOLD = PERIOD + 2  # each mode is held this long after its failure is named
# A healthy Autoscaler sees a changed series within a scrape and acts at its next period.
NORMAL_REACTION = 2 * PERIOD + SCRAPE + 3
RSS_GROWTH_LIMIT_MIB = 96  # answers are refused at 10 MiB; 2 in flight per server


def forbidden_texts() -> list[str]:
    """Everything the proxy sends or is sent that must not surface anywhere."""
    pair = f"{USER}:{PASSWORD}".encode()
    return [
        LEAKED_TEXT, "10.0.0.7", "Authorization was", USER, PASSWORD,
        base64.b64encode(pair).decode(), base64.b64encode(PASSWORD.encode()).decode(),
        quote(PASSWORD, safe=""), quote_plus(PASSWORD),
    ]  # fmt: skip


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for process {pid}")


def load_query(namespace: str, extra: str = "") -> str:
    return f'sum({SERIES}{{namespace="{namespace}"{extra}}})'


def scaling_active(kubectl: Kubectl, namespace: str) -> dict[str, Any]:
    return status_condition(autoscaler_status(kubectl, namespace), "ScalingActive")


def reading(kubectl: Kubectl, namespace: str) -> bool:
    """The Autoscaler ``web`` read its metrics at its last evaluation."""
    return scaling_active(kubectl, namespace).get("status") == "True"


@pytest.fixture(scope="module")
def guarded_operator(operator: OperatorProcess) -> Iterator[OperatorProcess]:
    """The shared operator, restarted with an allowlist of 127.0.0.1 for this module."""
    with operator.restarted_with({}, flags=[ALLOWED]):
        yield operator


class Guarded:
    """The namespace behind the fault proxy and what the test observes in it."""

    def __init__(self, kubectl: Kubectl, namespace: str, pid: int) -> None:
        self.kubectl, self.namespace, self.pid = kubectl, namespace, pid
        self.record = ReplicaRecord(kubectl, namespace, "web")
        self.rss: list[float] = []

    def scaling_active(self) -> dict[str, Any]:
        return scaling_active(self.kubectl, self.namespace)

    def observe(self) -> None:
        self.record.read()
        self.rss.append(rss_mib(self.pid))

    def names(self, kind: str, words: str) -> bool:
        self.observe()
        found = self.scaling_active()
        message = str(found.get("message", ""))
        return (
            found.get("reason") == "FailedGetPrometheusMetric"
            and f"Prometheus server {self.namespace}/guarded: {kind}: " in message
            and words in message
        )

    def hold(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.observe()
            time.sleep(1)


def reaction_seconds(
    cluster: ClusterState, kubectl_json: Json, namespace: str, value: float, replicas: int
) -> float:
    """Seconds from setting the healthy series to ``value`` until ``web`` has ``replicas``."""
    started = time.monotonic()
    put_series(cluster, SERIES, {"namespace": namespace}, value)
    wait_until(
        lambda: spec_replicas(kubectl_json, namespace, "web") == replicas,
        timeout=3 * NORMAL_REACTION,
        what=f"the healthy Autoscaler in {namespace} scaling to {replicas}",
        interval=0.5,
    )
    return time.monotonic() - started


def test_f4_every_prometheus_failure_holds_names_itself_and_leaks_nothing(
    cluster: ClusterState, kubectl: Kubectl, kubectl_json: Json, namespace: str,
    guarded_operator: OperatorProcess, record_property: Callable[[str, object], None],
) -> None:  # fmt: skip
    assert guarded_operator.process is not None
    secret = {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "basic"},
        "stringData": {"username": USER, "password": PASSWORD},
    }  # fmt: skip
    put_series(cluster, SERIES, {"namespace": namespace}, 30)
    pressure = [
        autoscaler(
            f"p{i}", f"p{i}", min_replicas=1, max_replicas=2,
            metrics=[prometheus_metric("guarded", load_query(namespace, f',pressure="{i}"'),
                                       average_value="10", emptyResult="Zero")],
        )
        for i in range(3)
    ]  # fmt: skip
    with (
        fault_proxy(cluster.prometheus_url) as proxy,
        fresh_namespace(kubectl, "f4-healthy") as healthy,
    ):
        apply(
            kubectl, namespace, secret,
            prometheus_server("guarded", proxy.url, allowInsecureHttp=True,
                              auth={"basicAuthSecretRef": {"name": "basic"}}),
            deployment("web", 3), *(deployment(f"p{i}", 1) for i in range(3)),
            autoscaler("web", "web", min_replicas=1, max_replicas=6, behavior=FAST_SCALE_DOWN,
                       metrics=[prometheus_metric("guarded", load_query(namespace),
                                                  average_value="10")]),
            *pressure,
        )  # fmt: skip
        put_series(cluster, SERIES, {"namespace": healthy}, 20)
        apply(
            kubectl, healthy,
            prometheus_server("main", cluster.prometheus_url),
            deployment("web", 2),
            autoscaler("web", "web", min_replicas=1, max_replicas=6, behavior=FAST_SCALE_DOWN,
                       metrics=[prometheus_metric("main", load_query(healthy),
                                                  average_value="10")]),
        )  # fmt: skip
        wait_ready(kubectl_json, namespace, "web", 3)
        guarded = Guarded(kubectl, namespace, guarded_operator.process.pid)
        for ns in (namespace, healthy):
            wait_until(
                partial(reading, kubectl, ns),
                timeout=60,
                what=f"the Autoscaler in {ns} reading its metric",
            )
        assert spec_replicas(kubectl_json, namespace, "web") == 3
        baseline = reaction_seconds(cluster, kubectl_json, healthy, 40, 4)
        healthy_replicas, reactions = 4, {"pass": baseline}
        rss_before_large = large_peak = 0.0

        for mode, kind, words in OPERATOR_REASONS:
            if mode is Mode.LARGE:
                rss_before_large = rss_mib(guarded.pid)
                guarded.rss.clear()
            proxy.set_mode(mode)
            wait_until(
                partial(guarded.names, kind, words),
                timeout=4 * PERIOD,
                what=f"mode {mode.value}: ScalingActive naming {kind} ({words})",
            )
            held_from = time.monotonic()
            if mode in (Mode.SLOW, Mode.TRICKLE):
                healthy_replicas = 2 if healthy_replicas == 4 else 4
                reactions[mode.value] = reaction_seconds(
                    cluster, kubectl_json, healthy, 10 * healthy_replicas, healthy_replicas
                )
            guarded.hold(max(0.0, HOLD - (time.monotonic() - held_from)))
            if mode is Mode.LARGE:
                large_peak = max(guarded.rss)
            assert not guarded.record.decreases(), (mode, guarded.record.seen)

        proxy.set_mode(Mode.PASS)
        wait_until(
            partial(reading, kubectl, namespace),
            timeout=4 * PERIOD,
            what="the guarded Autoscaler reading again once the proxy passes answers on",
        )
        guarded.record.read()
        assert not guarded.record.decreases(), guarded.record.seen
        assert {replicas for _, replicas in guarded.record.seen} == {3}

        growth = large_peak - rss_before_large
        measured(record_property, "F4", **{f"healthy_{m}": v for m, v in reactions.items()})
        record_property("F4_rss_growth_mib", round(growth))
        print(f"F4 measured: RSS {rss_before_large:.0f} -> {large_peak:.0f} MiB (50 MB answer)")
        # Normal: what a healthy Autoscaler takes anyway, or its pass-mode time on a loaded
        # machine plus a period.
        normal = max(NORMAL_REACTION, baseline + PERIOD)
        slow = {mode: seconds for mode, seconds in reactions.items() if mode != "pass"}
        assert all(seconds <= normal for seconds in slow.values()), reactions
        assert growth < RSS_GROWTH_LIMIT_MIB, (rss_before_large, large_peak)

        texts = [
            str(item.get("status"))
            for ns in (namespace, healthy)
            for item in kubectl_json("get", "autoscalers", "-n", ns)["items"]
        ]
        texts += [
            str(event.get("message", ""))
            for ns in (namespace, healthy)
            for event in kubectl_json("get", "events", "-n", ns)["items"]
        ]
        log = guarded_operator.log_tail(20_000)
        for text in forbidden_texts():
            assert not [t for t in texts if text in t], text
            assert text not in log, text
        assert guarded_operator.healthy()


def test_a_url_outside_the_allowlist_is_refused_with_a_condition(
    cluster: ClusterState, kubectl: Kubectl, kubectl_json: Json, namespace: str,
    guarded_operator: OperatorProcess,
) -> None:  # fmt: skip
    outside = cluster.prometheus_url.replace("127.0.0.1", "localhost")
    put_series(cluster, SERIES, {"namespace": namespace}, 30)
    metric = prometheus_metric("outside", load_query(namespace), average_value="10")
    apply(
        kubectl, namespace,
        prometheus_server("outside", outside),
        deployment("web", 2),
        autoscaler("web", "web", min_replicas=1, max_replicas=6, metrics=[metric]),
    )  # fmt: skip

    def refused() -> dict[str, Any]:
        found = scaling_active(kubectl, namespace)
        return found if ": url_refused: " in str(found.get("message", "")) else {}

    found = wait_until(refused, timeout=4 * PERIOD, what="the URL refused with url_refused")
    assert found["reason"] == "FailedGetPrometheusMetric" and found["status"] == "False"
    assert "--prometheus-allowed-url" in found["message"]
    assert spec_replicas(kubectl_json, namespace, "web") == 2


def test_credentials_over_plain_http_are_refused_by_the_apiserver(
    kubectl: Kubectl, namespace: str, guarded_operator: OperatorProcess
) -> None:
    import yaml

    server = prometheus_server(
        "plain", "http://127.0.0.1:9", auth={"bearerTokenSecretRef": {"name": "token"}}
    )
    result = kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(server), check=False)
    assert result.returncode != 0 and "spec.allowInsecureHttp" in result.stderr
    server["spec"]["allowInsecureHttp"] = True
    kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(server))
