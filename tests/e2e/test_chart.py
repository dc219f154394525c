"""The Helm chart against the dev cluster: server-side validation, restricted admission, RBAC.

What these tests prove and what they do not:

- The dev cluster's nodes are KWOK nodes: a pod scheduled there is marked Running without any
  container being started. So the install test proves that the API server *admits* the pod
  under the ``restricted`` Pod Security Standard and that every object the chart renders is
  accepted; it does not prove the operator runs in a container (that needs a real kubelet
  node and an imported image, left for later).
- The podpilot CRDs are shared with every other e2e test, so Helm never takes them over here:
  installs use ``crds.install=false`` on top of the session's ``crds_installed`` fixture, and
  the keep/delete behaviour of CRD templates is proven on a copy of the chart whose CRD is a
  throw-away one. That the real CRDs render identically to ``crds/`` is a unit test.
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.e2e.conftest import Kubectl, OperatorProcess, service_account_kubeconfig
from tests.e2e.waiting import wait_until
from tests.e2e.workloads import (
    apply,
    autoscaler,
    cpu_utilization,
    deployment,
    put_series,
    spec_replicas,
    wait_ready,
)
from tests.unit.test_chart import (
    CONTROLLERS,
    KOPF_RULES,
    RULES_BY_CONTROLLER,
    Rule,
    controller_values,
)

from podpilot_dev.cluster import ClusterState

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "podpilot"
KOPF_CRD = CHART / "crds" / "clusterkopfpeerings.kopf.dev.yaml"
COMBINATIONS = [
    combo
    for size in range(1, len(CONTROLLERS) + 1)
    for combo in itertools.combinations(CONTROLLERS, size)
]
Helm = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def helm(cluster: ClusterState, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    home = tmp_path_factory.mktemp("helm-home")
    env = {
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
        "KUBECONFIG": str(cluster.kubeconfig),
        "PATH": "/usr/bin:/bin",
    }

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(cluster.binaries["helm"]), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stderr}")
        return result

    return run


@pytest.fixture(scope="session")
def kopf_crd(kubectl: Kubectl) -> None:
    """kopf's peering CRD, which `helm install` puts in place from the chart's crds/ first."""
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(KOPF_CRD))
    kubectl("wait", "--for=condition=Established", "crd/clusterkopfpeerings.kopf.dev")


@pytest.fixture
def release(helm: Helm, namespace: str) -> Iterator[str]:
    """A release name unique in the cluster (ClusterRoles are named after it), uninstalled after."""
    name = f"pp-{uuid.uuid4().hex[:8]}"
    yield name
    helm("uninstall", name, "-n", namespace, "--wait", "--timeout=120s", check=False)


def in_namespace_values(namespace: str) -> list[str]:
    """The dev cluster has no kube-flannel namespace: point the flannel Role at the test's."""
    return [
        f"--set=controllers.flannel.namespace={namespace}",
        "--set=image.repository=podpilot.local/podpilot",
        "--set=image.pullPolicy=Never",
    ]


@pytest.mark.parametrize("combo", COMBINATIONS, ids="+".join)
def test_rendered_manifests_pass_server_side_dry_run(
    helm: Helm,
    kubectl: Kubectl,
    namespace: str,
    kopf_crd: None,
    combo: tuple[str, ...],
) -> None:
    """Every object of every controller combination, CRDs included, is valid for the server."""
    rendered = helm(
        "template",
        "dry",
        str(CHART),
        f"--namespace={namespace}",
        *controller_values(combo),
        *in_namespace_values(namespace),
        f'--set-json=controllers.autoscaler.secrets=[{{"namespace":"{namespace}","names":["prom"]}}]',
    ).stdout
    kinds = {doc["kind"] for doc in yaml.safe_load_all(rendered) if doc}
    assert {"Deployment", "ServiceAccount", "ClusterRole", "CustomResourceDefinition"} <= kinds
    # Server-side apply with force: the shared CRDs have other field managers; dry-run
    # means nothing is persisted.
    result = kubectl(
        "apply",
        "--dry-run=server",
        "--server-side",
        "--force-conflicts",
        "--field-manager=chart-dry-run",
        "-f",
        "-",
        input=rendered,
    )
    assert "serverside-applied (server dry run)" in result.stdout


def label_restricted(kubectl: Kubectl, namespace: str) -> None:
    kubectl(
        "label",
        "namespace",
        namespace,
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/enforce-version=latest",
    )


def test_install_is_admitted_in_a_restricted_namespace(
    helm: Helm,
    kubectl: Kubectl,
    kubectl_json: Callable[..., Any],
    namespace: str,
    release: str,
    crds_installed: None,
) -> None:
    """helm install into an enforce=restricted namespace: the pods are admitted and scheduled.

    On KWOK nodes "Running" means the pod was admitted and bound, not that a container runs.
    A privileged pod in the same namespace is refused, so the label really is enforced.
    """
    label_restricted(kubectl, namespace)
    refused = kubectl(
        "run",
        "privileged",
        "--image=registry.invalid/x",
        "--privileged",
        "-n",
        namespace,
        check=False,
    )
    assert refused.returncode != 0 and "violates PodSecurity" in refused.stderr
    helm(
        "install",
        release,
        str(CHART),
        "-n",
        namespace,
        "--set=crds.install=false",
        "--set=replicaCount=2",
        *in_namespace_values(namespace),
        "--wait",
        "--timeout=120s",
    )
    selector = f"app.kubernetes.io/instance={release}"

    def running() -> list[dict[str, Any]] | None:
        items = kubectl_json("get", "pods", "-n", namespace, "-l", selector)["items"]
        up = [pod for pod in items if pod["status"].get("phase") == "Running"]
        return up if len(up) == 4 else None

    # Two replicas each of the operator and of the emptyDir audit (its own Deployment).
    pods = wait_until(running, timeout=60, what="four pods Running")
    for name in ("podpilot", "podpilot-emptydir"):
        mine = [p for p in pods if p["metadata"]["labels"]["app.kubernetes.io/name"] == name]
        assert len(mine) == 2, name
        assert len({pod["spec"]["nodeName"] for pod in mine}) == 2, f"{name} should spread"
        pdb = kubectl_json("get", "pdb", f"{release}-{name}", "-n", namespace)
        assert pdb["spec"]["maxUnavailable"] == 1
    events = kubectl_json("get", "events", "-n", namespace)["items"]
    assert not [e for e in events if e.get("reason") == "FailedCreate"]


# --- RBAC: a kubectl auth can-i matrix ----------------------------------------------------


def can_i_args(rule: Rule, namespace: str) -> list[str]:
    scope, group, resource, verb, name = rule
    resource, _, subresource = resource.partition("/")
    if resource == "*":
        resource = "pods"  # a concrete resource of the metrics APIs
    target = f"{resource}.{group}" if group else resource
    if name:
        target = f"{target}/{name}"
    args = [verb, target]
    if subresource:
        args.append(f"--subresource={subresource}")
    args += ["-A"] if scope == "cluster" else ["-n", scope]
    return args


# Never granted, whatever is enabled.
FORBIDDEN = [
    ("get", "secrets", "-A"),
    ("list", "secrets", "-A"),
    ("get", "secrets", "-n", "kube-system"),
    ("create", "nodes", "-A"),
    ("patch", "nodes", "-A"),
    ("update", "nodes", "-A"),
    ("delete", "nodes", "-A"),
    ("patch", "nodes", "--subresource=status", "-A"),
    ("delete", "pods", "-A"),
    ("create", "pods", "-A"),
    ("create", "pods", "--subresource=eviction", "-A"),
    ("patch", "deployments.apps", "-A"),
    ("update", "deployments.apps", "--subresource=scale", "-A"),  # /scale is only patched
    ("get", "pods", "-A"),  # pods come from list and watch
    ("get", "namespaces", "-A"),
    ("patch", "leases.coordination.k8s.io", "-A"),  # Leases are updated, never patched
    ("create", "events.events.k8s.io", "-A"),  # Events are core v1
    ("create", "clusterkopfpeerings.kopf.dev", "-A"),
    ("patch", "clusterkopfpeerings.kopf.dev", "-A"),  # kopf runs standalone under the Lease
    ("create", "customresourcedefinitions.apiextensions.k8s.io", "-A"),
    ("get", "configmaps", "-n", "kube-system"),
    ("create", "clusterroles.rbac.authorization.k8s.io", "-A"),
    ("impersonate", "users", "-A"),
    ("*", "*", "-A"),
]


# Not in discovery here (the metrics APIs list per-metric resources), so kubectl cannot resolve
# them: these are asked as SubjectAccessReviews.
UNDISCOVERABLE = {"*"}


def review(kubectl: Kubectl, user: str, rule: Rule) -> bool:
    scope, group, resource, verb, name = rule
    attributes = {"group": group, "resource": resource, "verb": verb, "name": name}
    if scope != "cluster":
        attributes["namespace"] = scope
    namespace = user.split(":")[2]
    body = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": user,
            "groups": ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"],
            "resourceAttributes": attributes,
        },
    }
    result = kubectl("create", "-o", "json", "-f", "-", input=json.dumps(body))
    return bool(json.loads(result.stdout)["status"].get("allowed"))


def can_i(kubectl: Kubectl, user: str, args: tuple[str, ...] | list[str]) -> bool:
    result = kubectl("auth", "can-i", *args, f"--as={user}", check=False)
    answer = result.stdout.strip()
    assert answer in ("yes", "no"), f"can-i {args}: {result.stdout} {result.stderr}"
    return answer == "yes"


def can_i_list(kubectl: Kubectl, user: str, namespace: str) -> dict[str, list[str]]:
    """``kubectl auth can-i --list``: each resource row's resource names, as printed."""
    result = kubectl("auth", "can-i", "--list", f"--as={user}", "-n", namespace)
    rows: dict[str, list[str]] = {}
    for line in result.stdout.splitlines()[1:]:
        columns = line.split()
        if columns and not columns[0].startswith("/"):  # non-resource URLs start with /
            rows.setdefault(columns[0], []).append(" ".join(columns[1:]))
    return rows


# (controllers, controllers.emptydir.ownDeployment, controllers.emptydir.kubelet.apiserverProxy)
TOGGLES = [
    (("autoscaler", "emptydir", "flannel"), True, False),  # the chart's defaults
    (("autoscaler", "emptydir", "flannel"), False, False),
    (("autoscaler", "emptydir", "flannel"), True, True),
    (("emptydir", "flannel"), False, True),
    (("autoscaler",), True, False),
]
PROXY: Rule = ("cluster", "", "nodes/proxy", "get", "")


@pytest.mark.parametrize(
    ("combo", "own", "proxy"),
    TOGGLES,
    ids=[
        f"{'+'.join(c)}-{'apart' if o else 'inside'}-{'proxy' if p else 'stats'}"
        for c, o, p in TOGGLES
    ],
)
def test_each_service_account_can_do_exactly_what_its_controllers_need(
    helm: Helm,
    kubectl: Kubectl,
    namespace: str,
    release: str,
    crds_installed: None,
    combo: tuple[str, ...],
    own: bool,
    proxy: bool,
) -> None:
    """The RBAC matrix: every ServiceAccount the chart creates, asked through the API server."""
    helm(
        "install",
        release,
        str(CHART),
        "-n",
        namespace,
        "--set=crds.install=false",
        *controller_values(combo),
        f"--set=controllers.emptydir.ownDeployment={str(own).lower()}",
        f"--set=controllers.emptydir.kubelet.apiserverProxy={str(proxy).lower()}",
        *in_namespace_values(namespace),
        f'--set-json=controllers.autoscaler.secrets=[{{"namespace":"{namespace}","names":["prom"]}}]',
    )
    runs = {f"{release}-podpilot": [c for c in combo if not (own and c == "emptydir")]}
    if own and "emptydir" in combo:
        runs[f"{release}-podpilot-emptydir"] = ["emptydir"]
    runs = {account: controllers for account, controllers in runs.items() if controllers}
    created = kubectl("get", "serviceaccounts", "-n", namespace, "-o", "name").stdout.split()
    assert sorted(f"serviceaccount/{a}" for a in runs) == sorted(
        c for c in created if c.startswith(f"serviceaccount/{release}")
    )

    # The flannel Role lives in the test namespace here; expectations follow.
    def localise(rules: set[Rule]) -> set[Rule]:
        return {(namespace if r[0] == "kube-flannel" else r[0], *r[1:]) for r in rules}  # type: ignore[misc]

    wrong: list[str] = []
    for account, controllers in runs.items():
        user = f"system:serviceaccount:{namespace}:{account}"
        granted = localise(set(KOPF_RULES).union(*(RULES_BY_CONTROLLER[c] for c in controllers)))
        secret = (namespace, "", "secrets", "get", "prom")
        if "autoscaler" in controllers:
            granted.add(secret)
        if proxy and "emptydir" in controllers:
            granted.add(PROXY)
        every = set().union(*RULES_BY_CONTROLLER.values()) | {secret, PROXY}
        denied = localise(every) - granted
        checks = [(r, can_i_args(r, namespace), True) for r in sorted(granted)]
        checks += [(r, can_i_args(r, namespace), False) for r in sorted(denied)]
        checks += [(args, list(args), False) for args in FORBIDDEN]
        checks.append(("other secret", ["get", "secrets/other", "-n", namespace], False))
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(
                pool.map(
                    lambda check, user=user: (
                        review(kubectl, user, check[0])
                        if isinstance(check[0], tuple) and check[0][2] in UNDISCOVERABLE
                        else can_i(kubectl, user, check[1])
                    ),
                    checks,
                )
            )
        wrong += [
            f"{account} {'cannot' if expected else 'can'} {label}"
            for (label, _, expected), answer in zip(checks, answers, strict=True)
            if answer != expected
        ]

        # The same, as an admin reads it: kubectl auth can-i --list.
        here, elsewhere = (
            can_i_list(kubectl, user, namespace),
            can_i_list(kubectl, user, "kube-system"),
        )
        if (PROXY in granted) != ("nodes/proxy" in here):
            wrong.append(f"{account} can-i --list: nodes/proxy {here.get('nodes/proxy')}")
        if "nodes/stats" in here and "emptydir" not in controllers:
            wrong.append(f"{account} can-i --list: nodes/stats without the audit")
        secrets = here.get("secrets", [])
        if secrets != (["[] [prom] [get]"] if secret in granted else []):
            wrong.append(f"{account} can-i --list -n {namespace}: secrets {secrets}")
        if "secrets" in elsewhere:
            wrong.append(f"{account} can-i --list -n kube-system: secrets {elsewhere['secrets']}")
    assert wrong == [], "\n".join(wrong)


# --- uninstall ----------------------------------------------------------------------------


def throwaway_crd(group: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"keeptests.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"kind": "KeepTest", "plural": "keeptests", "singular": "keeptest"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object"}},
                }
            ],
        },
    }


def chart_with_throwaway_crd(tmp_path: Path, group: str) -> Path:
    """A copy of the chart whose only CRD is throwaway_crd(group)."""
    chart = tmp_path / "podpilot"
    shutil.copytree(CHART, chart)
    for path in (chart / "files" / "crds").glob("*.yaml"):
        path.unlink()
    (chart / "files" / "crds" / "keeptest.yaml").write_text(yaml.safe_dump(throwaway_crd(group)))
    return chart


@pytest.mark.parametrize("keep", [True, False], ids=["keep", "no-keep"])
def test_uninstall_leaves_nothing_but_kept_crds(
    helm: Helm,
    kubectl: Kubectl,
    kubectl_json: Callable[..., Any],
    namespace: str,
    release: str,
    tmp_path: Path,
    keep: bool,
) -> None:
    group = f"{release}.e2e.podpilot.io"
    crd_name = f"keeptests.{group}"
    chart = chart_with_throwaway_crd(tmp_path, group)
    try:
        helm(
            "install",
            release,
            str(chart),
            "-n",
            namespace,
            f"--set=crds.keep={str(keep).lower()}",
            *in_namespace_values(namespace),
        )
        selector = f"app.kubernetes.io/instance={release}"
        assert kubectl_json("get", "crd", crd_name)["metadata"]["name"] == crd_name
        helm("uninstall", release, "-n", namespace, "--wait", "--timeout=120s")

        cluster_kinds = "clusterroles,clusterrolebindings,clusterkopfpeerings,crd"
        left = kubectl_json("get", cluster_kinds, "-l", selector)["items"]
        assert [item["metadata"]["name"] for item in left] == ([crd_name] if keep else [])
        namespaced = "all,serviceaccounts,roles,rolebindings,poddisruptionbudgets,configmaps"
        wait_until(
            lambda: not kubectl_json("get", namespaced, "-n", namespace, "-l", selector)["items"],
            timeout=60,
            what="every namespaced object of the release gone",
        )
        if not keep:
            wait_until(
                lambda: kubectl("get", "crd", crd_name, check=False).returncode != 0,
                timeout=30,
                what="the unkept CRD deleted",
            )
    finally:
        kubectl("delete", "crd", crd_name, "--ignore-not-found", "--wait=false", check=False)


@pytest.mark.parametrize("origin", ["kubectl-apply", "kept-by-another-release"])
def test_a_crd_that_is_not_the_releases_is_left_alone_instead_of_failing_the_install(
    helm: Helm,
    kubectl: Kubectl,
    kubectl_json: Callable[..., Any],
    namespace: str,
    release: str,
    tmp_path: Path,
    origin: str,
) -> None:
    """Issue #20's Helm traps: `kubectl apply -f crds/` before `helm install`, and reinstalling
    under another name after an uninstall kept the CRDs. With crds.skipUnowned (the default)
    the install goes through, the CRD keeps its owner, and NOTES names it; without it, Helm
    refuses as it always did."""
    group = f"{release}.e2e.podpilot.io"
    crd_name = f"keeptests.{group}"
    chart = chart_with_throwaway_crd(tmp_path, group)
    values = in_namespace_values(namespace)
    earlier, strict = f"{release}-old", f"{release}-strict"
    try:
        if origin == "kubectl-apply":
            crd = yaml.safe_dump(throwaway_crd(group))
            kubectl("apply", "--server-side", "-f", "-", input=crd)
            owner = None
        else:
            helm("install", earlier, str(chart), "-n", namespace, *values)
            helm("uninstall", earlier, "-n", namespace, "--wait", "--timeout=120s")
            owner = earlier
        installed = helm("install", release, str(chart), "-n", namespace, *values)
        assert f"CRDs left out (crds.skipUnowned): {crd_name}" in installed.stdout
        upgraded = helm("upgrade", release, str(chart), "-n", namespace, *values)
        assert crd_name in upgraded.stdout
        annotations = kubectl_json("get", "crd", crd_name)["metadata"].get("annotations") or {}
        assert annotations.get("meta.helm.sh/release-name") == owner

        refused = helm(
            "install",
            strict,
            str(chart),
            "-n",
            namespace,
            "--set=crds.skipUnowned=false",
            *values,
            check=False,
        )
        assert refused.returncode != 0 and "invalid ownership metadata" in refused.stderr
    finally:
        for name in (earlier, strict):
            helm("uninstall", name, "-n", namespace, "--wait", "--timeout=120s", check=False)
        kubectl("delete", "crd", crd_name, "--ignore-not-found", "--wait=false", check=False)


# --- the autoscaler's RBAC at work ---------------------------------------------------------


def every_metric_read(kubectl_json: Callable[..., Any], namespace: str, count: int) -> bool:
    status = kubectl_json("get", "autoscaler", "web", "-n", namespace).get("status") or {}
    read = (status.get("lastDecision") or {}).get("metrics") or []
    return len(read) == count and all("error" not in item for item in read)


def earlier_tests_namespaces(kubectl_json: Callable[..., Any], own: str) -> list[str]:
    """The e2e namespaces of earlier tests that are still being deleted."""
    found = kubectl_json("get", "namespaces", "-l", "podpilot.io/e2e=true")["items"]
    return [n["metadata"]["name"] for n in found if n["metadata"]["name"] != own]


@contextmanager
def acting_instead(
    operator: OperatorProcess,
    replacement: OperatorProcess,
    kubectl_json: Callable[..., Any],
    namespace: str,
) -> Iterator[None]:
    """``replacement`` runs while the session's operator is stopped, so that one writer acts;
    the session's operator is back afterwards. It starts once earlier tests' namespaces are
    gone: an Autoscaler left in one being deleted would have it post Events there, which the
    API server refuses (Forbidden) whatever the RBAC."""
    wait_until(
        lambda: not earlier_tests_namespaces(kubectl_json, namespace),
        timeout=120,
        what="earlier tests' namespaces to be deleted",
    )
    operator.stop()
    try:
        replacement.start()
        yield
    finally:
        replacement.stop()
        operator.start()


def assert_never_forbidden(process: OperatorProcess) -> None:
    log = process.log_path.read_text(errors="replace")
    assert "forbidden" not in log.lower(), process.log_tail()


def test_the_autoscalers_rbac_reads_every_metrics_api_and_scales(
    helm: Helm,
    kubectl: Kubectl,
    kubectl_json: Callable[..., Any],
    namespace: str,
    release: str,
    crds_installed: None,
    cluster: ClusterState,
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    """The chart's ServiceAccount, with no other permission, runs the Autoscaler controller
    through every metrics API (metrics.k8s.io, custom.metrics.k8s.io for a Pods and an
    Object metric, external.metrics.k8s.io) and patches /scale: the rules the chart grants,
    narrowed to the verbs the code uses, are enough. The chart's own pod runs nothing (the dev
    cluster's nodes are KWOK's): a ``podpilot run`` here takes its identity instead, while
    the session's operator is stopped, so that one writer acts."""
    helm(
        "install", release, str(CHART), "-n", namespace, "--set=crds.install=false",
        *controller_values(("autoscaler",)),
        *in_namespace_values(namespace),
    )  # fmt: skip
    account = f"{release}-podpilot"
    kubeconfig = service_account_kubeconfig(
        kubectl, cluster.kubeconfig, namespace, account, tmp_path / "chart.kubeconfig"
    )
    queue = {"namespace": namespace, "queue": "jobs"}
    put_series(cluster, "podpilot_test_external_queue_depth", queue, 20)
    described = {"namespace": namespace, "deployment": "web"}
    put_series(cluster, "podpilot_test_object_queue_length", described, 100)
    apply(kubectl, namespace, deployment("web", 2))
    wait_ready(kubectl_json, namespace, "web", 2)
    for pod in kubectl_json("get", "pods", "-n", namespace, "-l", "app=web")["items"]:
        labels = {"namespace": namespace, "pod": pod["metadata"]["name"]}
        put_series(cluster, "podpilot_test_pod_requests_per_second", labels, 10)
    metrics = [
        cpu_utilization(50),
        {"type": "Pods", "pods": {"metric": {"name": "requests_per_second"},
                                  "target": {"type": "AverageValue", "averageValue": "10"}}},
        {"type": "Object", "object": {
            "describedObject": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "metric": {"name": "queue_length"}, "target": {"type": "Value", "value": "100"}}},
        {"type": "External", "external": {
            "metric": {"name": "queue_depth", "selector": {"matchLabels": {"queue": "jobs"}}},
            "target": {"type": "AverageValue", "averageValue": "10"}}},
    ]  # fmt: skip
    apply(kubectl, namespace, autoscaler("web", "web", min_replicas=1, max_replicas=4,
                                         metrics=metrics))  # fmt: skip

    restricted = OperatorProcess(cluster, tmp_path, name="chart-identity", kubeconfig=kubeconfig)
    restricted.command.append("--controllers=autoscaler")
    with acting_instead(operator, restricted, kubectl_json, namespace):
        wait_until(
            lambda: every_metric_read(kubectl_json, namespace, len(metrics)),
            timeout=90,
            what="an evaluation reading all four metrics under the chart's RBAC",
        )
        put_series(cluster, "podpilot_test_external_queue_depth", queue, 40)  # wants 4
        wait_until(
            lambda: spec_replicas(kubectl_json, namespace, "web") == 4,
            timeout=90,
            what="a /scale patch under the chart's RBAC",
        )
        assert_never_forbidden(restricted)


def test_kopf_peering_runs_under_the_charts_rbac_limited_to_its_own_peering_object(
    helm: Helm,
    kubectl: Kubectl,
    kubectl_json: Callable[..., Any],
    namespace: str,
    release: str,
    kopf_crd: None,
    crds_installed: None,
    cluster: ClusterState,
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    """Leader election off, so kopf peers on the ClusterKopfPeering the chart creates: under
    the chart's ServiceAccount, whose get and patch name only that object, kopf writes its
    keep-alive record into it, and the account may not patch any other peering object."""
    peering = f"{release}-peering"
    helm(
        "install", release, str(CHART), "-n", namespace, "--set=crds.install=false",
        "--set=leaderElection.enabled=false", f"--set=peering.name={peering}",
        *controller_values(("autoscaler",)),
        *in_namespace_values(namespace),
    )  # fmt: skip
    account = f"{release}-podpilot"
    kubeconfig = service_account_kubeconfig(
        kubectl, cluster.kubeconfig, namespace, account, tmp_path / "chart.kubeconfig"
    )
    impersonated = ("--as", f"system:serviceaccount:{namespace}:{account}")
    refused = kubectl("auth", "can-i", "patch", "clusterkopfpeerings.kopf.dev/someone-else",
                      *impersonated, check=False)  # fmt: skip
    assert refused.stdout.strip() == "no", refused.stdout
    allowed = kubectl("auth", "can-i", "patch", f"clusterkopfpeerings.kopf.dev/{peering}",
                      *impersonated, check=False)  # fmt: skip
    assert allowed.stdout.strip() == "yes", allowed.stdout

    peer = OperatorProcess(
        cluster, tmp_path, name="chart-peering", kubeconfig=kubeconfig,
        mode=("--no-leader-election", f"--peering-name={peering}"),
    )  # fmt: skip
    peer.command.append("--controllers=autoscaler")
    with acting_instead(operator, peer, kubectl_json, namespace):
        wait_until(
            lambda: bool(kubectl_json("get", "clusterkopfpeering", peering).get("status")),
            timeout=60,
            what="kopf's keep-alive record in the chart's ClusterKopfPeering",
        )
        assert_never_forbidden(peer)
