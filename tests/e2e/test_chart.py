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
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.e2e.conftest import Kubectl
from tests.e2e.waiting import wait_until
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
    pods = wait_until(
        lambda: [
            pod
            for pod in kubectl_json("get", "pods", "-n", namespace, "-l", selector)["items"]
            if pod["status"].get("phase") == "Running"
        ],
        timeout=60,
        what="two operator pods Running",
    )
    assert len(pods) == 2
    assert len({pod["spec"]["nodeName"] for pod in pods}) == 2, "replicas should spread"
    events = kubectl_json("get", "events", "-n", namespace)["items"]
    assert not [e for e in events if e.get("reason") == "FailedCreate"]
    assert (
        kubectl_json("get", "pdb", release + "-podpilot", "-n", namespace)["spec"]["maxUnavailable"]
        == 1
    )


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
    ("create", "clusterkopfpeerings.kopf.dev", "-A"),
    ("create", "customresourcedefinitions.apiextensions.k8s.io", "-A"),
    ("get", "configmaps", "-n", "kube-system"),
    ("create", "clusterroles.rbac.authorization.k8s.io", "-A"),
    ("impersonate", "users", "-A"),
    ("*", "*", "-A"),
]


# Not in discovery here (the metrics APIs list per-metric resources; no KopfPeering CRD is
# installed), so kubectl cannot resolve them: these are asked as SubjectAccessReviews.
UNDISCOVERABLE = {"*", "kopfpeerings"}


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


@pytest.mark.parametrize(
    "combo",
    [("autoscaler", "emptydir", "flannel"), ("autoscaler",), ("emptydir", "flannel")],
    ids="+".join,
)
def test_service_account_can_do_exactly_what_enabled_controllers_need(
    helm: Helm,
    kubectl: Kubectl,
    namespace: str,
    release: str,
    crds_installed: None,
    combo: tuple[str, ...],
) -> None:
    secrets_namespace = namespace
    helm(
        "install",
        release,
        str(CHART),
        "-n",
        namespace,
        "--set=crds.install=false",
        *controller_values(combo),
        *in_namespace_values(namespace),
        f'--set-json=controllers.autoscaler.secrets=[{{"namespace":"{secrets_namespace}","names":["prom"]}}]',
    )
    user = f"system:serviceaccount:{namespace}:{release}-podpilot"

    # The flannel Role lives in the test namespace here; expectations follow.
    def localise(rules: set[Rule]) -> set[Rule]:
        return {(namespace if r[0] == "kube-flannel" else r[0], *r[1:]) for r in rules}  # type: ignore[misc]

    granted = localise(set(KOPF_RULES).union(*(RULES_BY_CONTROLLER[c] for c in combo)))
    if "autoscaler" in combo:
        granted.add((namespace, "", "secrets", "get", "prom"))
    denied = localise(
        set().union(*(RULES_BY_CONTROLLER[c] for c in CONTROLLERS if c not in combo)) - granted
    )
    if "autoscaler" not in combo:
        denied.add((namespace, "", "secrets", "get", "prom"))
    checks = [(r, can_i_args(r, namespace), True) for r in sorted(granted)]
    checks += [(r, can_i_args(r, namespace), False) for r in sorted(denied)]
    checks += [(args, list(args), False) for args in FORBIDDEN]
    checks.append(("other secret", ["get", "secrets/other", "-n", namespace], False))
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(
            pool.map(
                lambda check: (
                    review(kubectl, user, check[0])
                    if isinstance(check[0], tuple) and check[0][2] in UNDISCOVERABLE
                    else can_i(kubectl, user, check[1])
                ),
                checks,
            )
        )
    wrong = [
        f"{'cannot' if expected else 'can'} {label}"
        for (label, _, expected), answer in zip(checks, answers, strict=True)
        if answer != expected
    ]
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
    chart = tmp_path / "podpilot"
    shutil.copytree(CHART, chart)
    for path in (chart / "files" / "crds").glob("*.yaml"):
        path.unlink()
    (chart / "files" / "crds" / "keeptest.yaml").write_text(yaml.safe_dump(throwaway_crd(group)))
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
