"""The emptyDir audit controller against the dev cluster.

KWOK nodes have no kubelet: the static findings must appear and usage must show as unavailable,
never zero. Tests that need a real kubelet (usage, trend, eviction, tmpfs size) run only when a
node labelled ``podpilot.io/dev-node=real`` exists.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from tests.e2e.conftest import Kubectl, OperatorProcess, service_account_kubeconfig
from tests.e2e.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
PEERING_CRD = REPO / "helm" / "podpilot" / "crds" / "clusterkopfpeerings.kopf.dev.yaml"
SELECT_LABEL = "podpilot.io/emptydir-e2e"
POLL_SECONDS = 2
# Preloaded on real dev nodes (nothing is pulled there); KWOK nodes do not run images at all.
TESTBOX = "podpilot.dev/testbox:1"

KubectlJson = Callable[..., Any]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def kopf_peering_crd(kubectl: Kubectl) -> None:
    # `podpilot run --standalone` still names a peering, and kopf then pauses every watch until
    # the peering CRD exists (kopf.run sets peering.mandatory whenever peering_name is given).
    if PEERING_CRD.exists():
        kubectl("apply", "--server-side", "--force-conflicts", "-f", str(PEERING_CRD))


@pytest.fixture(scope="module")
def emptydir_crds(kubectl: Kubectl) -> None:
    """Only this controller's CRDs, so that someone else's CRD in progress cannot block these."""
    paths = [str(p) for p in sorted((REPO / "crds").glob("emptydir*.podpilot.io.yaml"))]
    kubectl("apply", "--server-side", "--force-conflicts", *(a for p in paths for a in ("-f", p)))
    kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/emptydirreports.podpilot.io",
        "crd/emptydirauditpolicies.podpilot.io",
    )


@pytest.fixture(scope="module")
def audit_operator(
    request: pytest.FixtureRequest,
    kopf_peering_crd: None,
    emptydir_crds: None,
    cluster: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    """The shared operator (all controllers) or, if it cannot start, one with only emptydir."""
    try:
        shared: OperatorProcess = request.getfixturevalue("operator")
    except Exception as error:  # whatever broke the shared fixture (other CRDs, controllers)
        own = OperatorProcess(cluster, tmp_path_factory.mktemp("emptydir-operator"))
        own.command.append("--controllers=emptydir")
        print(f"shared operator failed ({error}); running one with --controllers=emptydir")
        own.start()
        yield own
        own.stop()
        return
    yield shared


@pytest.fixture(scope="module")
def audit_policy(kubectl: Kubectl, kubectl_json: KubectlJson, audit_operator: Any) -> None:
    """EmptyDirAuditPolicy/default auditing only namespaces labelled for these tests.

    It is left in place afterwards: parallel test sessions share the singleton, and it selects
    nothing once the labelled test namespaces are gone.
    """
    policy = {
        "apiVersion": "podpilot.io/v1alpha1",
        "kind": "EmptyDirAuditPolicy",
        "metadata": {"name": "default"},
        "spec": {
            "namespaceSelector": {"matchLabels": {SELECT_LABEL: "true"}},
            "polling": {"interval": f"{POLL_SECONDS}s"},
        },
    }
    kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=json.dumps(policy))
    wait_until(
        lambda: (
            _get(kubectl_json, "emptydirauditpolicy", "default")
            .get("status", {})
            .get("lastFullScan")
        ),
        timeout=60,
        what="the policy's first scan",
    )


@pytest.fixture
def audited(namespace: str, kubectl: Kubectl, audit_policy: None) -> str:
    """A fresh namespace selected by the policy."""
    kubectl("label", "namespace", namespace, f"{SELECT_LABEL}=true")
    return namespace


# --------------------------------------------------------------------------- helpers


def _get(kubectl_json: KubectlJson, *args: str) -> dict[str, Any]:
    result: dict[str, Any] = kubectl_json("get", *args)
    return result


def _report(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any] | None:
    result = kubectl("get", "emptydirreport", name, "-n", namespace, "-o", "json", check=False)
    if result.returncode != 0:
        return None
    report: dict[str, Any] = json.loads(result.stdout)
    return report if report.get("status", {}).get("summary") else None


def _wait_report(
    kubectl: Kubectl,
    namespace: str,
    name: str,
    ready: Callable[[dict[str, Any]], bool] = lambda _: True,
    timeout: float = 60,
) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        report = _report(kubectl, namespace, name)
        return report if report is not None and ready(report) else None

    found = wait_until(probe, timeout=timeout, what=f"EmptyDirReport {name}")
    assert found is not None
    return found


def _finding_ids(report: dict[str, Any], volume: str | None = None) -> set[str]:
    return {
        f["id"]
        for f in report["status"].get("findings", [])
        if volume is None or f.get("volume") == volume
    }


def _deployment(
    name: str,
    volumes: list[dict[str, Any]],
    resources: dict[str, Any] | None = None,
    replicas: int = 1,
    command: list[str] | None = None,
    node_selector: dict[str, str] | None = None,
) -> str:
    container: dict[str, Any] = {
        "name": "app",
        "image": TESTBOX,
        "imagePullPolicy": "Never",
        "command": command or ["sleep", "3600"],
        "resources": resources or {},
        "volumeMounts": [{"name": v["name"], "mountPath": f"/mnt/{v['name']}"} for v in volumes],
    }
    pod_spec: dict[str, Any] = {
        "containers": [container],
        "volumes": volumes,
        "tolerations": [{"operator": "Exists"}],
        "terminationGracePeriodSeconds": 0,
    }
    if node_selector:
        pod_spec["nodeSelector"] = node_selector
    else:
        pod_spec["nodeSelector"] = {"type": "kwok"}
    return yaml.safe_dump(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec},
            },
        }
    )


def _metrics(url: str) -> list[tuple[str, dict[str, str], float]]:
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return [
        (sample.name, dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("podpilot_emptydir_")
    ]


def _series(
    samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str
) -> list[tuple[dict[str, str], float]]:
    return [
        (found, value)
        for metric, found, value in samples
        if metric == name and all(found.get(k) == v for k, v in labels.items())
    ]


def _scans(kubectl_json: KubectlJson, count: int) -> None:
    """Wait until the controller has finished ``count`` more full scans."""
    seen: set[str] = set()

    def probe() -> bool:
        status = _get(kubectl_json, "emptydirauditpolicy", "default").get("status", {})
        seen.add(str(status.get("lastFullScan")))
        return len(seen) > count

    wait_until(probe, timeout=30 + count * POLL_SECONDS * 3, what=f"{count} scans", interval=0.5)


def _events(kubectl_json: KubectlJson, namespace: str, pod: str, reason: str) -> int:
    listing = kubectl_json(
        "get",
        "events",
        "-n",
        namespace,
        "--field-selector",
        f"involvedObject.kind=Pod,involvedObject.name={pod},reason={reason}",
    )
    return sum(int(e.get("count") or 1) for e in listing["items"])


def _real_nodes(kubectl_json: KubectlJson) -> list[str]:
    listing = kubectl_json("get", "nodes", "-l", "podpilot.io/dev-node=real")
    return [
        n["metadata"]["name"]
        for n in listing["items"]
        if any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in n.get("status", {}).get("conditions", [])
        )
    ]


# --------------------------------------------------------------------------- KWOK nodes

NO_LIMITS = [
    {"name": "scratch", "emptyDir": {}},
    {"name": "shm", "emptyDir": {"medium": "Memory"}},
]
OVER_LIMITS = [
    {"name": "cache", "emptyDir": {"sizeLimit": "1Gi"}},
    {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}},
]
# KWOK nodes advertise no ephemeral-storage, so the request must be zero for the pod to schedule.
SMALL_LIMITS = {
    "limits": {"memory": "64Mi", "ephemeral-storage": "100Mi"},
    "requests": {"memory": "64Mi", "ephemeral-storage": "0"},
}


def test_static_findings_appear_in_the_workloads_report(audited: str, kubectl: Kubectl) -> None:
    kubectl("apply", "-n", audited, "-f", "-", input=_deployment("nolimits", NO_LIMITS, replicas=2))
    kubectl(
        "apply", "-n", audited, "-f", "-", input=_deployment("overlimit", OVER_LIMITS, SMALL_LIMITS)
    )

    nolimits = _wait_report(
        kubectl, audited, "deployment-nolimits", lambda r: r["status"]["summary"]["volumes"] == 4
    )
    status = nolimits["status"]
    assert status["workloadName"] == "Deployment/nolimits"
    assert status["summary"]["memoryBacked"] == 2
    assert status["summary"]["unbounded"] == 4
    assert status["summary"]["worstSeverity"] == "critical"
    assert "ED001" in _finding_ids(nolimits, "scratch")  # disk, no sizeLimit
    assert "ED002" in _finding_ids(nolimits, "shm")  # memory, no sizeLimit
    critical = {f["id"] for f in status["findings"] if f["severity"] == "critical"}
    assert {"ED001", "ED002"} <= critical  # and no pod limit either
    owner = nolimits["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"]) == ("Deployment", "nolimits")

    overlimit = _wait_report(kubectl, audited, "deployment-overlimit")
    assert "ED003" in _finding_ids(overlimit, "shm")  # sizeLimit above the pod memory limit
    assert "ED004" in _finding_ids(overlimit, "cache")  # sizeLimit above the ephemeral limit
    by_volume = {v["volume"]: v for v in overlimit["status"]["volumes"]}
    assert by_volume["shm"]["limitSource"] == "podMemoryLimit"
    assert by_volume["shm"]["effectiveLimitBytes"] == 64 * 1024**2
    assert by_volume["cache"]["limitSource"] == "podEphemeralStorageLimit"

    table = kubectl("get", "emptydirreports", "-n", audited).stdout
    assert "Deployment/nolimits" in table and "critical" in table and "Unavailable" in table


def test_kwok_stats_show_as_unavailable_never_zero(
    audited: str,
    kubectl: Kubectl,
    kubectl_json: KubectlJson,
    audit_operator: OperatorProcess,
) -> None:
    kubectl(
        "apply", "-n", audited, "-f", "-", input=_deployment("nostats", OVER_LIMITS, SMALL_LIMITS)
    )
    # ED030 needs the pod to be scheduled; before that, usage is simply not expected yet.
    report = _wait_report(
        kubectl, audited, "deployment-nostats", lambda r: "ED030" in _finding_ids(r)
    )
    status = report["status"]

    assert status["summary"]["stats"] == "Unavailable"
    assert "maxUtilization" not in status["summary"]
    for volume in status["volumes"]:
        assert volume["stats"] == "Unavailable"
        assert "usedBytes" not in volume and "utilization" not in volume
    stats_condition = next(c for c in status["conditions"] if c["type"] == "StatsComplete")
    assert (stats_condition["status"], stats_condition["reason"]) == ("False", "Unavailable")
    unavailable = [f for f in status["findings"] if f["id"] == "ED030"]
    assert {f["volume"] for f in unavailable} == {"cache", "shm"}
    assert all("KWOK" in f["message"] for f in unavailable)

    policy = _get(kubectl_json, "emptydirauditpolicy", "default")["status"]
    kwok = kubectl_json("get", "nodes", "-l", "type=kwok")["items"]
    assert policy["nodesFailing"] >= len(kwok) > 0

    samples = _metrics(audit_operator.metrics_url)
    owner = {"namespace": audited, "owner": "nostats"}
    assert _series(samples, "podpilot_emptydir_volumes", stats="Unavailable", **owner)
    assert not _series(samples, "podpilot_emptydir_volume_used_bytes", **owner)
    assert not _series(samples, "podpilot_emptydir_volume_utilization_ratio", **owner)
    pod_node = kubectl_json("get", "pods", "-n", audited)["items"][0]["spec"]["nodeName"]
    assert _series(samples, "podpilot_emptydir_kubelet_stats_requests_total", outcome="skipped")
    assert not _series(
        samples, "podpilot_emptydir_kubelet_stats_last_success_timestamp_seconds", node=pod_node
    )


def test_metrics_appear_and_go_away_with_the_workload(
    audited: str, kubectl: Kubectl, audit_operator: OperatorProcess
) -> None:
    kubectl(
        "apply", "-n", audited, "-f", "-", input=_deployment("metered", OVER_LIMITS, SMALL_LIMITS)
    )
    owner = {"namespace": audited, "owner_kind": "Deployment", "owner": "metered"}

    def present() -> list[tuple[str, dict[str, str], float]]:
        samples = _metrics(audit_operator.metrics_url)
        return samples if _series(samples, "podpilot_emptydir_findings", **owner) else []

    samples = wait_until(present, timeout=60, what="podpilot_emptydir_findings of the workload")
    limits = _series(samples, "podpilot_emptydir_volume_size_limit_bytes", volume="cache", **owner)
    assert [value for _, value in limits] == [1024**3]
    effective = _series(samples, "podpilot_emptydir_volume_effective_limit_bytes", **owner)
    assert {labels["limit_source"] for labels, _ in effective} == {
        "podMemoryLimit",
        "podEphemeralStorageLimit",
    }
    tmpfs = _series(samples, "podpilot_emptydir_tmpfs_size_bytes", kind="expected", **owner)
    assert [value for _, value in tmpfs] == [64 * 1024**2]
    assert _series(samples, "podpilot_emptydir_findings", finding="ED003", **owner)

    kubectl("delete", "deployment", "metered", "-n", audited)
    wait_until(
        lambda: (
            not [s for s in _metrics(audit_operator.metrics_url) if s[1].get("owner") == "metered"]
        ),
        timeout=60,
        what="the workload's series to be removed",
    )


def test_report_is_garbage_collected_with_its_workload(audited: str, kubectl: Kubectl) -> None:
    kubectl("apply", "-n", audited, "-f", "-", input=_deployment("shortlived", NO_LIMITS))
    _wait_report(kubectl, audited, "deployment-shortlived")

    kubectl("delete", "deployment", "shortlived", "-n", audited, "--cascade=background")
    wait_until(
        lambda: (
            kubectl(
                "get", "emptydirreport", "deployment-shortlived", "-n", audited, check=False
            ).returncode
            != 0
        ),
        timeout=60,
        what="the report to be deleted with the Deployment",
    )


def test_events_are_posted_on_transitions_only(
    audited: str, kubectl: Kubectl, kubectl_json: KubectlJson
) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "loner"},
        "spec": {
            "nodeSelector": {"type": "kwok"},
            "tolerations": [{"operator": "Exists"}],
            "containers": [
                {
                    "name": "app",
                    "image": TESTBOX,
                    "imagePullPolicy": "Never",
                    "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
                }
            ],
            "volumes": [{"name": "scratch", "emptyDir": {}}],
        },
    }
    kubectl("apply", "-n", audited, "-f", "-", input=json.dumps(pod))
    report = _wait_report(kubectl, audited, "pod-loner")
    assert report["metadata"]["ownerReferences"][0]["kind"] == "Pod"

    wait_until(
        lambda: _events(kubectl_json, audited, "loner", "DiskNoSizeLimit"),
        timeout=60,
        what="a DiskNoSizeLimit Event on the pod",
    )
    # Other operator processes (parallel test sessions) may post their own copy of the
    # transition: let them, then the count must stay put however many scans follow.
    _scans(kubectl_json, 2)
    first = _events(kubectl_json, audited, "loner", "DiskNoSizeLimit")
    _scans(kubectl_json, 4)
    assert _events(kubectl_json, audited, "loner", "DiskNoSizeLimit") == first
    # Stats plumbing is not a transition worth an Event.
    assert _events(kubectl_json, audited, "loner", "StatsUnavailable") == 0


# --------------------------------------------------------------------------- real kubelet nodes


@pytest.fixture
def real_node(kubectl_json: KubectlJson) -> str:
    nodes = _real_nodes(kubectl_json)
    if not nodes:
        pytest.skip(
            "no Ready node labelled podpilot.io/dev-node=real: usage, trend, eviction and tmpfs "
            "size need a real kubelet Summary API (KWOK nodes have none)"
        )
    return nodes[0]


def _volume(report: dict[str, Any], name: str) -> dict[str, Any]:
    volumes: list[dict[str, Any]] = report["status"].get("volumes", [])
    return next((v for v in volumes if v["volume"] == name), {})


def test_real_node_usage_rises_and_is_projected_full(
    audited: str, kubectl: Kubectl, real_node: str, audit_operator: OperatorProcess
) -> None:
    # A third of 96Mi at once (projections start at 33 %), then ~15 MiB a minute: several kubelet
    # volume-stats refreshes before the limit (every 5 s on dev nodes, every minute by default).
    fill = (
        "dd if=/dev/zero of=/mnt/data/base bs=1M count=32; i=0; "
        "while true; do dd if=/dev/zero of=/mnt/data/f$i bs=256k count=1; i=$((i+1)); sleep 1; done"
    )
    manifest = _deployment(
        "filler",
        [{"name": "data", "emptyDir": {"sizeLimit": "96Mi"}}],
        command=["sh", "-c", fill],
        node_selector={"kubernetes.io/hostname": real_node},
    )
    kubectl("apply", "-n", audited, "-f", "-", input=manifest)

    first = _wait_report(
        kubectl, audited, "deployment-filler", lambda r: "usedBytes" in _volume(r, "data"), 180
    )
    used = _volume(first, "data")["usedBytes"]
    _wait_report(
        kubectl,
        audited,
        "deployment-filler",
        lambda r: _volume(r, "data").get("usedBytes", 0) > used,
        180,
    )
    projected = _wait_report(
        kubectl, audited, "deployment-filler", lambda r: "ED011" in _finding_ids(r, "data"), 300
    )
    assert _volume(projected, "data")["stats"] == "Fresh"
    samples = _metrics(audit_operator.metrics_url)
    assert _series(samples, "podpilot_emptydir_volume_used_bytes", namespace=audited, volume="data")
    assert _series(samples, "podpilot_emptydir_volume_utilization_ratio", namespace=audited)


def test_real_node_eviction_is_traced_to_the_volume_after_the_pod_is_deleted(
    audited: str,
    kubectl: Kubectl,
    kubectl_json: KubectlJson,
    real_node: str,
    audit_operator: OperatorProcess,
) -> None:
    # 16 MiB into a 4 MiB volume: the kubelet evicts the pod at its next volume-stats refresh.
    manifest = _deployment(
        "overflow",
        [{"name": "data", "emptyDir": {"sizeLimit": "4Mi"}}],
        command=["sh", "-c", "dd if=/dev/zero of=/mnt/data/f bs=1M count=16; sleep 3600"],
        node_selector={"kubernetes.io/hostname": real_node},
    )
    kubectl("apply", "-n", audited, "-f", "-", input=manifest)
    report = _wait_report(
        kubectl, audited, "deployment-overflow", lambda r: "ED020" in _finding_ids(r), timeout=300
    )
    evicted = next(f for f in report["status"]["findings"] if f["id"] == "ED020")
    assert evicted["volume"] == "data"
    samples = _metrics(audit_operator.metrics_url)
    assert _series(
        samples, "podpilot_emptydir_evictions_total", namespace=audited, reason="emptydir"
    )

    # The ReplicaSet replaces the evicted pod (and would keep doing so): stop it, then delete
    # every pod of the workload. Only the kubelet's Evicted Event is left to tell the story.
    kubectl("scale", "deployment/overflow", "--replicas=0", "-n", audited)
    kubectl("delete", "pods", "-l", "app=overflow", "-n", audited, "--wait=true")
    wait_until(
        lambda: not kubectl_json("get", "pods", "-l", "app=overflow", "-n", audited)["items"],
        timeout=60,
        what="the overflow pods deleted",
    )
    _scans(kubectl_json, 2)

    def traced_from_event(found: dict[str, Any]) -> bool:
        return any(
            f["id"] == "ED020"
            and f["podUID"] == evicted["podUID"]
            and f.get("evidence", {}).get("tracedFrom") == "EvictedEvent"
            for f in found["status"].get("findings", [])
        )

    after = _wait_report(kubectl, audited, "deployment-overflow", traced_from_event, timeout=60)
    gone = next(f for f in after["status"]["findings"] if f["podUID"] == evicted["podUID"])
    assert (gone["id"], gone["volume"]) == ("ED020", "data")
    assert after["status"]["summary"]["volumes"] == 0  # no live pod left


def test_real_node_tmpfs_size_matches_the_expected_size(
    audited: str, kubectl: Kubectl, real_node: str
) -> None:
    manifest = _deployment(
        "tmpfs",
        [{"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "32Mi"}}],
        resources={"limits": {"memory": "128Mi"}},
        node_selector={"kubernetes.io/hostname": real_node},
    )
    kubectl("apply", "-n", audited, "-f", "-", input=manifest)
    report = _wait_report(
        kubectl,
        audited,
        "deployment-tmpfs",
        lambda r: "tmpfsSizeObservedBytes" in _volume(r, "shm"),
        timeout=180,
    )
    volume = _volume(report, "shm")
    assert volume["tmpfsSizeExpectedBytes"] == 32 * 1024**2
    assert volume["tmpfsSizeObservedBytes"] == volume["tmpfsSizeExpectedBytes"]
    assert "ED006" not in _finding_ids(report, "shm")


# --------------------------------------------------------------------------- RBAC


@contextmanager
def _audit_under(
    kubectl: Kubectl,
    audited: str,
    kubeconfig: Path,
    tmp_path: Path,
    audit_operator: OperatorProcess,
    *flags: str,
) -> Iterator[OperatorProcess]:
    """An operator running only the audit, with ``kubeconfig``'s identity and ``flags``.

    It must be the one that writes (create is authorized separately from patch), so the
    session's own operator pauses meanwhile.
    """
    from types import SimpleNamespace

    own = OperatorProcess(SimpleNamespace(kubeconfig=kubeconfig), tmp_path)  # type: ignore[arg-type]
    own.command += ["--controllers=emptydir", *flags]
    audit_operator.stop()
    try:
        own.start()
        yield own
    finally:
        own.stop()
        audit_operator.start()


@pytest.fixture
def auditor_kubeconfig(
    kubectl: Kubectl, cluster: Any, audited: str, tmp_path: Path
) -> Iterator[Path]:
    """A ServiceAccount holding exactly the documented rules (nodes/stats, no nodes/proxy)."""
    from podpilot.emptydir.api.rbac import KOPF_RULES, RULES

    role = f"podpilot-emptydir-{audited}"[:63]
    kubectl("create", "serviceaccount", "auditor", "-n", audited)
    manifests = [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": role},
            "rules": [*RULES, *KOPF_RULES],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": role},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": role,
            },
            "subjects": [{"kind": "ServiceAccount", "name": "auditor", "namespace": audited}],
        },
    ]
    kubectl("apply", "-f", "-", input=yaml.safe_dump_all(manifests))
    user = f"--as=system:serviceaccount:{audited}:auditor"
    for subresource, allowed in (("stats", "yes"), ("proxy", "no")):
        answer = kubectl(
            "auth", "can-i", "get", "nodes", f"--subresource={subresource}", user, check=False
        ).stdout.strip()
        assert answer == allowed, f"get nodes/{subresource}: {answer}"
    try:
        yield service_account_kubeconfig(
            kubectl, cluster.kubeconfig, audited, "auditor", tmp_path / "auditor.kubeconfig"
        )
    finally:
        kubectl("delete", "clusterrolebinding,clusterrole", role, check=False)


def test_the_documented_rbac_is_enough(
    audited: str,
    kubectl: Kubectl,
    kubectl_json: KubectlJson,
    auditor_kubeconfig: Path,
    tmp_path: Path,
    audit_operator: OperatorProcess,
) -> None:
    with _audit_under(kubectl, audited, auditor_kubeconfig, tmp_path, audit_operator) as own:
        # As on a fresh install, the policy does not carry kopf's finalizer yet: the restricted
        # operator must be allowed to put it there (kopf does for every daemon's object).
        kubectl("patch", "emptydirauditpolicy", "default", "--type=merge",
                "-p", '{"metadata":{"finalizers":null}}')  # fmt: skip
        wait_until(
            lambda: _get(kubectl_json, "emptydirauditpolicy", "default")["metadata"].get(
                "finalizers"
            ),
            timeout=30,
            what="the restricted operator to put kopf's finalizer on the policy",
        )
        kubectl("apply", "-n", audited, "-f", "-", input=_deployment("rbac", NO_LIMITS))
        owner = {"namespace": audited, "owner_kind": "Deployment", "owner": "rbac"}
        wait_until(
            lambda: _series(_metrics(own.metrics_url), "podpilot_emptydir_findings", **owner),
            timeout=60,
            what="the restricted operator's findings for the workload",
        )
        _wait_report(kubectl, audited, "deployment-rbac")
        log = own.log_path.read_text(errors="replace")
        assert "system:serviceaccount" not in log, own.log_tail()
        assert "emptydirreports/deployment-rbac/status?fieldManager" in log
        # 201 when it created the report; an operator of a parallel test session may win that race.
        assert re.search(r'emptydirreports/deployment-rbac\?fieldManager=\S+ HTTP/1.1" 20[01]', log)


# --------------------------------------------------------------------------- kubelet direct reads

WRITER = ["sh", "-c", "dd if=/dev/zero of=/mnt/data/f bs=1M count=8; sleep 3600"]


def _polls(operator: OperatorProcess, outcome: str) -> float:
    """Summary polls with ``outcome`` across every node (the counter has no node label; the
    only real nodes this operator can reach share the test's certificate setup)."""
    found = _series(
        _metrics(operator.metrics_url),
        "podpilot_emptydir_kubelet_stats_requests_total",
        outcome=outcome,
    )
    return sum(value for _, value in found)


def test_real_node_usage_is_read_through_nodes_stats_without_nodes_proxy(
    audited: str,
    kubectl: Kubectl,
    real_node: str,
    auditor_kubeconfig: Path,
    tmp_path: Path,
    audit_operator: OperatorProcess,
) -> None:
    """The auditor ServiceAccount cannot get nodes/proxy (checked by the fixture), yet its
    operator reads the real kubelet's Summary at the node's address and reports usage."""
    manifest = _deployment(
        "direct",
        [{"name": "data", "emptyDir": {"sizeLimit": "64Mi"}}],
        command=WRITER,
        node_selector={"kubernetes.io/hostname": real_node},
    )
    with _audit_under(kubectl, audited, auditor_kubeconfig, tmp_path, audit_operator) as own:
        kubectl("apply", "-n", audited, "-f", "-", input=manifest)
        owner = {"namespace": audited, "owner": "direct", "volume": "data"}

        def written() -> list[tuple[dict[str, str], float]]:
            # The first poll may come before dd has written (4 KiB then): wait for the 8 MiB.
            found = _series(
                _metrics(own.metrics_url), "podpilot_emptydir_volume_used_bytes", **owner
            )
            return found if found and found[0][1] >= 8 * 1024**2 else []

        used = wait_until(
            written,
            timeout=180,
            what="the 8 MiB written to the real node's emptyDir, read by the restricted operator",
        )
        assert used[0][1] >= 8 * 1024**2
        assert _polls(own, "ok") > 0
        log = own.log_path.read_text(errors="replace")
        assert '/stats/summary HTTP/1.1" 200' in log, own.log_tail()
        assert "/proxy/stats/summary" not in log


def test_a_wrong_kubelet_ca_leaves_usage_unavailable_with_a_clear_reason(
    audited: str,
    kubectl: Kubectl,
    cluster: Any,
    real_node: str,
    tmp_path: Path,
    audit_operator: OperatorProcess,
) -> None:
    from podpilot_dev import pki

    wrong = pki.create(tmp_path / "unrelated-ca")  # a CA that signed no kubelet's certificate
    manifest = _deployment(
        "wrongca",
        [{"name": "data", "emptyDir": {"sizeLimit": "64Mi"}}],
        command=WRITER,
        node_selector={"kubernetes.io/hostname": real_node},
    )
    flag = f"--kubelet-certificate-authority={wrong.ca_cert}"
    with _audit_under(kubectl, audited, cluster.kubeconfig, tmp_path, audit_operator, flag) as own:
        kubectl("apply", "-n", audited, "-f", "-", input=manifest)
        owner = {"namespace": audited, "owner": "wrongca"}
        wait_until(
            lambda: (
                _series(
                    _metrics(own.metrics_url),
                    "podpilot_emptydir_volumes",
                    stats="Unavailable",
                    **owner,
                )
                and _polls(own, "tls") >= 2
            ),
            timeout=120,
            what="the real node's polls refused for its certificate",
        )
        samples = _metrics(own.metrics_url)
        assert not _series(samples, "podpilot_emptydir_volume_used_bytes", **owner)
        assert _polls(own, "ok") == 0
        log = own.log_path.read_text(errors="replace")
        assert f"presented a certificate not verified by the CA bundle {wrong.ca_cert}" in log
        assert "certificate verify failed" in log
        assert "/stats/summary HTTP/1.1" not in log  # no request, so no credential, was sent
