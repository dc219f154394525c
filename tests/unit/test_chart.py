"""The Helm chart, rendered offline: lint, schema, RBAC per controller, pod security, CRDs.

These tests run the helm binary the dev-cluster toolchain builds (no cluster needed) and skip,
saying so, only when it has not been built yet.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import itertools
import json
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import kopf
import pytest
import yaml
from kopf._core.engines.peering import guess_selectors
from tests.chart_rbac_docs import Grant, documented, holds
from tests.chart_rbac_docs import rendered as rendered_rbac
from tests.chart_render import (
    CHART,
    PROMETHEUS_OPERATOR_APIS,
    REPO,
    VALUES,
    Helm,
    Render,
    of_kind,
)

from podpilot.app import kopf_standalone
from podpilot.cli import build_parser
from podpilot.commands.run import settings_from
from podpilot.settings import OperatorSettings, PrometheusLimits

CONTROLLERS = ("autoscaler", "emptydir", "flannel")
# Every non-empty subset of controllers; the empty one is a bad values file.
COMBINATIONS = [
    combo
    for size in range(1, len(CONTROLLERS) + 1)
    for combo in itertools.combinations(CONTROLLERS, size)
]

Rule = tuple[str, str, str, str, str]  # (scope, apiGroup, resource, verb, resourceName)

# The chart's default release below is "rel" in namespace "ops".
OPERATOR = "rel-podpilot"
AUDIT = "rel-podpilot-emptydir"  # the emptyDir audit's Deployment and ServiceAccount
SECURITY = REPO / "docs" / "security.md"
# What each part of the operator may do is docs/security.md's tables (parsed by
# tests/chart_rbac_docs.py), written independently of the templates: the one list of rules.
# Here they are read for the default values, by the role that holds them; which role belongs
# to which part is the only thing this file says.
KOPF_ROLE = f"{OPERATOR}-kopf"
CONTROLLER_ROLES = {name: f"{OPERATOR}-{name}" for name in CONTROLLERS}
OPERATOR_LEASE_ROLE = f"{OPERATOR}-leader-election"
AUDIT_LEASE_ROLE = f"{OPERATOR}-emptydir-leader-election"


def documented_grants(lease: str = f"{OPERATOR}-leader") -> dict[str, set[Grant]]:
    """docs/security.md's grants for the chart's default values, by role name."""
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    shards = defaults["leaderElection"]["shards"] or defaults["replicaCount"]
    grants, _ = documented(
        SECURITY.read_text(),
        fixed={
            "<fullname>": OPERATOR,
            "<release namespace>": "ops",
            "<leaseName>": lease,
            "<shards>": str(shards),
            "<watched namespaces>": "0",
            "<operator Deployment>": "1",
            "<operator account>": OPERATOR,
            "<audit account>": AUDIT,
        },
        lists={"secrets": [], "scaleTargets": [], "watched": []},
        is_true=lambda condition: holds(defaults, condition),
    )
    by_role: dict[str, set[Grant]] = {}
    for grant in grants:
        by_role.setdefault(grant[2], set()).add(grant)
    return by_role


def as_rules(grants: Iterable[Grant]) -> set[Rule]:
    """Grants as (scope, group, resource, verb, name): "cluster" for a ClusterRole's."""
    return {
        ("cluster" if kind == "ClusterRole" else namespace, group, resource, verb, name)
        for kind, namespace, _, group, resource, verb, name in grants
    }


DOCUMENTED = documented_grants()
# As rules without their role's name, for the checks per ServiceAccount (and the e2e can-i matrix).
KOPF_RULES = as_rules(DOCUMENTED[KOPF_ROLE])
RULES_BY_CONTROLLER = {name: as_rules(DOCUMENTED[role]) for name, role in CONTROLLER_ROLES.items()}
LEADER_ELECTION_RULES = as_rules(DOCUMENTED[OPERATOR_LEASE_ROLE] | DOCUMENTED[AUDIT_LEASE_ROLE])


def controller_values(enabled: Iterable[str]) -> list[str]:
    chosen = set(enabled)
    return [
        f"--set=controllers.{name}.enabled={str(name in chosen).lower()}" for name in CONTROLLERS
    ]


@pytest.fixture(scope="session")
def render(
    helm: Helm,
) -> Render:
    def run(*args: str, chart: Path = CHART) -> list[dict[str, Any]]:
        out = helm("template", "rel", str(chart), "--namespace=ops", *args).stdout
        return [doc for doc in yaml.safe_load_all(out) if doc]

    return run


def rbac_rules(docs: list[dict[str, Any]]) -> set[Rule]:
    """Flatten every ClusterRole and Role into (scope, group, resource, verb, name) tuples."""
    flat: set[Rule] = set()
    for doc in docs:
        if doc["kind"] not in ("ClusterRole", "Role"):
            continue
        scope = "cluster" if doc["kind"] == "ClusterRole" else doc["metadata"]["namespace"]
        for rule in doc["rules"]:
            names = rule.get("resourceNames") or [""]
            for group, resource, verb, name in itertools.product(
                rule["apiGroups"], rule["resources"], rule["verbs"], names
            ):
                flat.add((scope, group, resource, verb, name))
    return flat


def deployment(docs: list[dict[str, Any]], name: str = OPERATOR) -> dict[str, Any]:
    (found,) = [d for d in of_kind(docs, "Deployment") if d["metadata"]["name"] == name]
    return found


def container(docs: list[dict[str, Any]], name: str = OPERATOR) -> dict[str, Any]:
    (found,) = deployment(docs, name)["spec"]["template"]["spec"]["containers"]
    return found


def rules_by_account(docs: list[dict[str, Any]]) -> dict[str, set[Rule]]:
    """Every ServiceAccount's rules, through the bindings that name it."""
    roles = {
        (d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): rbac_rules([d])
        for d in docs
        if d["kind"] in ("ClusterRole", "Role")
    }
    held: dict[str, set[Rule]] = {}
    for binding in of_kind(docs, "ClusterRoleBinding") + of_kind(docs, "RoleBinding"):
        namespace = binding["metadata"].get("namespace")
        rules = roles[(binding["roleRef"]["kind"], namespace, binding["roleRef"]["name"])]
        for subject in binding["subjects"]:
            held.setdefault(subject["name"], set()).update(rules)
    return held


# --- lint and render ----------------------------------------------------------------------


@pytest.mark.parametrize("combo", COMBINATIONS, ids="+".join)
def test_lint_is_clean_for_every_controller_combination(helm: Helm, combo: tuple[str, ...]) -> None:
    result = helm("lint", "--strict", str(CHART), *controller_values(combo))
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("path", sorted((VALUES / "good").glob("*.yaml")), ids=lambda p: p.stem)
def test_good_values_files_lint_and_render(
    helm: Helm,
    render: Render,
    path: Path,
) -> None:
    helm("lint", "--strict", str(CHART), "-f", str(path))
    assert of_kind(render("-f", str(path)), "Deployment")


@pytest.mark.parametrize("path", sorted((VALUES / "bad").glob("*.yaml")), ids=lambda p: p.stem)
def test_bad_values_files_are_refused_with_a_clear_message(helm: Helm, path: Path) -> None:
    first_line = path.read_text().splitlines()[0]
    assert first_line.startswith("# expect: "), f"{path.name} must start with '# expect: '"
    expected = first_line.removeprefix("# expect: ")
    result = helm("template", "rel", str(CHART), "-f", str(path), check=False)
    assert result.returncode != 0, f"{path.name} was accepted"
    assert expected in result.stderr, result.stderr


# --- RBAC ---------------------------------------------------------------------------------


@pytest.mark.parametrize("combo", COMBINATIONS, ids="+".join)
def test_rbac_is_exactly_the_enabled_controllers_rules(
    render: Render, combo: tuple[str, ...]
) -> None:
    docs = render(*controller_values(combo))
    operator = [name for name in combo if name != "emptydir"]
    roles = {KOPF_ROLE, *(CONTROLLER_ROLES[name] for name in combo)}
    if operator:
        roles.add(OPERATOR_LEASE_ROLE)
    if "emptydir" in combo:
        roles.add(AUDIT_LEASE_ROLE)
    expected = set().union(*(DOCUMENTED[role] for role in roles))
    granted, _ = rendered_rbac(docs)
    assert sorted(granted - expected) == [], "granted but not needed"
    assert sorted(expected - granted) == [], "needed but not granted"
    if operator:
        assert f"--controllers={','.join(operator)}" in container(docs)["args"]
    if "emptydir" in combo:
        assert "--controllers=emptydir" in container(docs, AUDIT)["args"]
    assert len(of_kind(docs, "Deployment")) == bool(operator) + ("emptydir" in combo)


def test_every_documented_role_belongs_to_a_part_of_the_operator() -> None:
    """No role docs/security.md grants by default is left out of the expectations above, and
    none of them is empty."""
    parts = {KOPF_ROLE, OPERATOR_LEASE_ROLE, AUDIT_LEASE_ROLE, *CONTROLLER_ROLES.values()}
    assert DOCUMENTED.keys() == parts
    assert all(DOCUMENTED.values())


@pytest.mark.parametrize("own", [True, False], ids=["audit-apart", "audit-inside"])
@pytest.mark.parametrize("combo", COMBINATIONS, ids="+".join)
def test_every_role_is_bound_to_a_service_account_the_chart_runs_a_pod_as(
    render: Render, combo: tuple[str, ...], own: bool
) -> None:
    docs = render(*controller_values(combo), f"--set=controllers.emptydir.ownDeployment={own}")
    accounts = {a["metadata"]["name"] for a in of_kind(docs, "ServiceAccount")}
    pods = {
        d["spec"]["template"]["spec"]["serviceAccountName"] for d in of_kind(docs, "Deployment")
    }
    assert accounts == pods
    roles = {
        (d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"])
        for d in docs
        if d["kind"] in ("ClusterRole", "Role")
    }
    bound = set()
    for binding in of_kind(docs, "ClusterRoleBinding") + of_kind(docs, "RoleBinding"):
        assert {s["name"] for s in binding["subjects"]} <= accounts
        assert {(s["kind"], s["namespace"]) for s in binding["subjects"]} == {
            ("ServiceAccount", "ops")
        }
        namespace = binding["metadata"].get("namespace")
        bound.add((binding["roleRef"]["kind"], namespace, binding["roleRef"]["name"]))
    assert bound == roles


NODE_ACCESS = ("nodes/stats", "nodes/proxy")


@pytest.mark.parametrize("proxy", [False, True], ids=["stats-only", "proxy-asked"])
@pytest.mark.parametrize("own", [True, False], ids=["audit-apart", "audit-inside"])
def test_node_access_and_scale_or_secrets_never_share_a_service_account_when_apart(
    render: Render, own: bool, proxy: bool
) -> None:
    docs = render(
        "-f",
        str(VALUES / "good" / "autoscaler-with-secrets.yaml"),
        *controller_values(CONTROLLERS),
        f"--set=controllers.emptydir.ownDeployment={own}",
        f"--set=controllers.emptydir.kubelet.apiserverProxy={proxy}",
    )
    held = rules_by_account(docs)
    proxied = {name for name, rules in held.items() if any(r[2] == "nodes/proxy" for r in rules)}
    assert proxied == ({AUDIT if own else OPERATOR} if proxy else set())
    if own:
        assert held.keys() == {OPERATOR, AUDIT}
        assert not [r for r in held[OPERATOR] if r[2] in NODE_ACCESS]
        assert not [r for r in held[AUDIT] if r[2] == "secrets" or r[2].endswith("/scale")]
    else:
        assert held.keys() == {OPERATOR}


def test_the_kubelet_ca_bundle_and_the_insecure_opt_out_reach_the_audit(
    render: Render, tmp_path: Path
) -> None:
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    values = tmp_path / "ca.yaml"
    values.write_text(yaml.safe_dump({"controllers": {"emptydir": {"kubelet": {"caBundle": pem}}}}))
    docs = render("-f", str(values))
    (bundle,) = of_kind(docs, "ConfigMap")
    assert bundle["data"]["ca.crt"].strip() == pem.strip()
    audit = container(docs, AUDIT)
    settings = settings_from(build_parser(only="run").parse_args(audit["args"])).kubelet
    assert settings.ca_file == "/etc/podpilot/kubelet-ca/ca.crt" and not settings.insecure_tls
    mount = {m["name"]: m for m in audit["volumeMounts"]}["kubelet-ca"]
    assert (mount["mountPath"], mount["readOnly"]) == ("/etc/podpilot/kubelet-ca", True)
    assert not [a for a in container(docs)["args"] if a.startswith("--kubelet-")]

    insecure = container(render("--set=controllers.emptydir.kubelet.insecureTLS=true"), AUDIT)
    assert "--kubelet-insecure-tls" in insecure["args"]
    default = container(render(), AUDIT)
    assert not [a for a in default["args"] if a.startswith("--kubelet-")]


def test_secrets_are_readable_only_by_configured_namespace_and_name(
    render: Render,
) -> None:
    docs = render("-f", str(VALUES / "good" / "autoscaler-with-secrets.yaml"))
    secret_rules = {rule for rule in rbac_rules(docs) if rule[2] == "secrets"}
    assert secret_rules == {
        ("monitoring", "", "secrets", "get", "prometheus-basic-auth"),
        ("team-a", "", "secrets", "get", "prom-ca"),
        ("team-a", "", "secrets", "get", "prom-token"),
    }
    scale = {rule for rule in rbac_rules(docs) if rule[1] == "argoproj.io"}
    assert scale == {("cluster", "argoproj.io", "rollouts/scale", v, "") for v in ("get", "patch")}


def test_secrets_entries_for_one_namespace_make_one_role_with_every_name(
    render: Render,
) -> None:
    """Two Roles of one name in one namespace would fail the install: entries are merged."""
    secrets = [
        {"namespace": "team-a", "names": ["prom-token", "prom-ca"]},
        {"namespace": "monitoring", "names": ["basic-auth"]},
        {"namespace": "team-a", "names": ["prom-ca", "prom-cert"]},
    ]
    docs = render("--set-json", f"controllers.autoscaler.secrets={json.dumps(secrets)}")
    for kind in ("Role", "RoleBinding"):
        keys = [(d["metadata"]["namespace"], d["metadata"]["name"]) for d in of_kind(docs, kind)]
        assert sorted(k for k in keys if k[1] == f"{OPERATOR}-autoscaler-secrets") == [
            ("monitoring", f"{OPERATOR}-autoscaler-secrets"),
            ("team-a", f"{OPERATOR}-autoscaler-secrets"),
        ], kind
    (team_a,) = [d for d in of_kind(docs, "Role") if d["metadata"]["namespace"] == "team-a"]
    assert team_a["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": ["prom-ca", "prom-cert", "prom-token"],
            "verbs": ["get"],
        }
    ]


@pytest.mark.parametrize("path", sorted((VALUES / "good").glob("*.yaml")), ids=lambda p: p.stem)
def test_no_values_file_grants_cluster_wide_secrets_or_node_writes(
    render: Render, path: Path
) -> None:
    rules = rbac_rules(render("-f", str(path)))
    read_only = {"get", "list", "watch"}
    assert not [r for r in rules if r[2] == "secrets" and (r[0] == "cluster" or not r[4])]
    assert not [r for r in rules if r[2] == "nodes" and r[3] not in read_only]
    assert not [r for r in rules if r[2] == "nodes/proxy"]  # only when asked for
    assert not [r for r in rules if "*" in (r[1], r[3]) or (r[2] == "*" and "metrics" not in r[1])]


def rules_by_role(docs: list[dict[str, Any]]) -> dict[str, set[Rule]]:
    return {
        d["metadata"]["name"]: rbac_rules([d]) for d in docs if d["kind"] in ("ClusterRole", "Role")
    }


def test_the_default_install_grants_no_verb_the_operator_never_uses(render: Render) -> None:
    """/scale is only merge-patched (kube/scale.py) and the Lease only replaced (kube/lease.py);
    the Autoscaler's pods come from one list and watch (kube/pod_watch.py) and its PodMetrics
    from one list per namespace. kopf, standalone under the Lease and cluster-wide, reads no
    namespaces and no peering; the Events it posts (from handler logs at WARNING and above) are
    core v1 creates, as podpilot's own are: never events.k8s.io."""
    docs = render()
    rules = rbac_rules(docs)
    assert not [r for r in rules if r[2].endswith("/scale") and r[3] == "update"]
    assert not [r for r in rules if r[2] == "leases" and r[3] == "patch"]
    roles = rules_by_role(docs)
    autoscaler = roles[CONTROLLER_ROLES["autoscaler"]]
    assert not [r for r in autoscaler if r[2] == "pods" and r[3] == "get"]
    assert {r[3] for r in autoscaler if r[1:3] == ("", "pods")} == {"list", "watch"}
    assert {r[3] for r in autoscaler if r[1:3] == ("metrics.k8s.io", "pods")} == {"list"}
    kopf = roles[KOPF_ROLE]
    unused = {"namespaces", "kopfpeerings", "clusterkopfpeerings"}
    assert not [r for r in kopf if r[2] in unused or r[1] in ("events.k8s.io", "kopf.dev")]
    crds = ("apiextensions.k8s.io", "customresourcedefinitions")
    assert kopf == {("cluster", *crds, verb, "") for verb in ("list", "watch")} | {
        ("cluster", "", "events", "create", "")
    }


def test_a_namespaced_install_grants_kopf_no_crd_read(render: Render) -> None:
    """With --namespace, podpilot turns kopf's scanning off (app/lifecycle.py): kopf reads no
    CRD and no namespace, and the chart grants it only the Events it posts."""
    docs = render("--set-json", 'extraArgs=["--namespace=team-a"]')
    assert rules_by_role(docs)[KOPF_ROLE] == {("cluster", "", "events", "create", "")}
    assert not [r for r in rbac_rules(docs) if r[1] == "apiextensions.k8s.io"]


@pytest.mark.parametrize(
    ("values", "kopf_peers"),
    [
        ([], False),
        (["--set=leaderElection.enabled=false"], True),
        (["--set=peering.enabled=false"], False),
        (["--set=peering.enabled=false", "--set=leaderElection.enabled=false"], False),
        (["--set-json", 'extraArgs=["--namespace=team-a"]'], False),
    ],
    ids=["lease", "no-lease", "standalone", "standalone-no-lease", "lease-in-one-namespace"],
)
def test_kopf_peering_objects_and_their_rbac_render_only_when_kopf_peers(
    render: Render, values: list[str], kopf_peers: bool
) -> None:
    """kopf peers only with peering.enabled and leader election off: with the Lease,
    `podpilot run` runs kopf standalone (app.kopf_standalone), which reads no peering."""
    docs = render(*values)
    for name in (OPERATOR, AUDIT):
        settings = settings_from(build_parser(only="run").parse_args(container(docs, name)["args"]))
        assert kopf_standalone(settings) is not kopf_peers
    peerings = {p["metadata"]["name"] for p in of_kind(docs, "ClusterKopfPeering")}
    peering_rules = {r for r in rbac_rules(docs) if r[1] == "kopf.dev"}
    assert not of_kind(docs, "KopfPeering")
    if kopf_peers:
        # One each: sharing a peering, kopf would keep only one of the two Deployments active.
        assert peerings == {OPERATOR, AUDIT}
        assert "--peering-name=rel-podpilot" in container(docs)["args"]
        assert "--peering-name=rel-podpilot-emptydir" in container(docs, AUDIT)["args"]
        # kopf lists and watches them all; podpilot gets, and kopf patches, only its own.
        assert peering_rules == {
            ("cluster", "kopf.dev", "clusterkopfpeerings", verb, "") for verb in ("list", "watch")
        } | {
            ("cluster", "kopf.dev", "clusterkopfpeerings", verb, name)
            for verb in ("get", "patch")
            for name in (OPERATOR, AUDIT)
        }
    else:
        assert peerings == set()
        assert peering_rules == set()


def kopf_peering_resources(settings: OperatorSettings) -> set[str]:
    """The kopf.dev peering resources kopf reads when `podpilot run` starts it with these
    settings: app.run_operator starts kopf cluster-wide unless it was given namespaces."""
    peering = kopf.OperatorSettings()
    peering.peering.clusterwide = not settings.namespaces
    return {s.any_name for s in guess_selectors(settings=peering) if s.group == "kopf.dev"}


# `podpilot run`'s spellings of "watch team-a and team-b" that the chart reads from extraArgs.
NAMESPACE_SPELLINGS = {
    "equals": ["--namespace=team-a", "--namespace=team-b"],
    "separate": ["--namespace", "team-a", "-n", "team-b"],
    "short-attached-and-repeated": ["-nteam-a", "-nteam-b", "-nteam-a"],
}


@pytest.mark.parametrize("spelling", NAMESPACE_SPELLINGS)
def test_kopf_peers_on_a_kopf_peering_in_each_namespace_the_operator_is_limited_to(
    render: Render, spelling: str
) -> None:
    """kopf peers where it watches: given namespaces, on a KopfPeering in each of them, never
    on the ClusterKopfPeering. The chart creates those objects and a Role in each namespace with
    the verbs used there (kopf lists and watches the namespace's peering objects; podpilot gets
    its own before it starts and kopf patches its keep-alive into it, named), for the namespaces
    `podpilot run` itself reads."""
    extra_args = NAMESPACE_SPELLINGS[spelling]
    docs = render(
        "--set=leaderElection.enabled=false", "--set-json", f"extraArgs={json.dumps(extra_args)}"
    )
    watched = {"team-a", "team-b"}
    for name in (OPERATOR, AUDIT):
        settings = settings_from(build_parser(only="run").parse_args(container(docs, name)["args"]))
        assert not kopf_standalone(settings)
        assert set(settings.namespaces) == watched
        assert kopf_peering_resources(settings) == {"kopfpeerings"}
    assert not of_kind(docs, "ClusterKopfPeering")
    peerings = {
        (p["metadata"]["namespace"], p["metadata"]["name"]) for p in of_kind(docs, "KopfPeering")
    }
    assert peerings == {(namespace, name) for namespace in watched for name in (OPERATOR, AUDIT)}
    expected = {
        (namespace, "kopf.dev", "kopfpeerings", verb, "")
        for namespace in watched
        for verb in ("list", "watch")
    } | {
        (namespace, "kopf.dev", "kopfpeerings", verb, name)
        for namespace in watched
        for verb in ("get", "patch")
        for name in (OPERATOR, AUDIT)
    }
    assert {r for r in rbac_rules(docs) if r[1] == "kopf.dev"} == expected
    held = rules_by_account(docs)
    for account in (OPERATOR, AUDIT):
        assert {r for r in held[account] if r[1] == "kopf.dev"} == expected


@pytest.mark.parametrize(
    "values",
    [
        [],
        ["--set=peering.name=pilot"],
        ["--set=controllers.emptydir.ownDeployment=false"],
        ["--set=controllers.autoscaler.enabled=false", "--set=controllers.flannel.enabled=false"],
        ["--set=controllers.emptydir.enabled=false"],
        ["--set-json", 'extraArgs=["--namespace=team-a", "-n", "team-b"]'],
    ],
    ids=["both", "named", "audit-inside", "audit-alone", "no-audit", "in-namespaces"],
)
def test_kopf_may_get_and_patch_only_the_peering_objects_the_chart_creates(
    render: Render, values: list[str]
) -> None:
    """kopf lists and watches the peering resource (its watch names no object) but patches its
    keep-alive only into the object `--peering-name` names (kopf's engines/peering.py, touch and
    clean), and podpilot gets only that one (wait_for_peering_object). So get and patch name the
    chart's own peering objects, exactly those the Deployments peer on: a patch of any other would
    let podpilot's accounts pause another kopf operator with a made-up peer."""
    docs = render("--set=leaderElection.enabled=false", *values)
    created = {
        (p["metadata"].get("namespace", "cluster"), p["metadata"]["name"])
        for p in of_kind(docs, "ClusterKopfPeering") + of_kind(docs, "KopfPeering")
    }
    used = set()
    for found in of_kind(docs, "Deployment"):
        (pod_container,) = found["spec"]["template"]["spec"]["containers"]
        settings = settings_from(build_parser(only="run").parse_args(pod_container["args"]))
        used |= {
            (namespace, settings.peering_name) for namespace in settings.namespaces or ["cluster"]
        }
    assert created == used != set()
    rules = {r for r in rbac_rules(docs) if r[1] == "kopf.dev"}
    assert {(r[0], r[4], r[3]) for r in rules if r[4]} == {
        (scope, name, verb) for scope, name in created for verb in ("get", "patch")
    }
    assert {r[3] for r in rules if not r[4]} == {"list", "watch"}


def test_without_namespaces_kopf_peers_on_the_cluster_kopf_peering() -> None:
    """The other half of kopf's rule, which the cluster-wide objects and rules rely on."""
    assert kopf_peering_resources(OperatorSettings()) == {"clusterkopfpeerings"}


@pytest.mark.parametrize(
    ("extra_args", "refusal"),
    [
        (["--names=team-a"], 'write "--names=team-a" as --namespace=NAME'),
        (["-vnteam-a"], 'write "-vnteam-a" as --namespace=NAME'),
        (["--log-format=json", "-n"], "-n is the last argument and names no namespace"),
        (["-n=team-a"], '"=team-a" is not a namespace name'),
    ],
    ids=["abbreviated", "after-another-short-flag", "no-name", "not-a-name"],
)
@pytest.mark.parametrize(
    "mode", [[], ["--set=leaderElection.enabled=false"]], ids=["lease", "peering"]
)
def test_a_namespace_the_chart_cannot_read_is_refused(
    helm: Helm, extra_args: list[str], refusal: str, mode: list[str]
) -> None:
    """argparse also reads -n after other short flags (and `podpilot run` refuses abbreviations,
    but only as it starts); the chart, which must know the namespaces for kopf's RBAC (CRDs
    are read only cluster-wide) and, when kopf peers, to create its peering objects in them,
    refuses what it does not read rather than guess."""
    extra = ("--set-json", f"extraArgs={json.dumps(extra_args)}")
    result = helm("template", "rel", str(CHART), *mode, *extra, check=False)
    assert result.returncode != 0
    assert refusal in result.stderr


def test_the_short_flags_the_chart_refuses_are_a_namespace_to_podpilot_run() -> None:
    assert build_parser(only="run").parse_args(["run", "-vnteam-a"]).namespace == ["team-a"]


def test_the_abbreviation_the_chart_refuses_is_refused_by_podpilot_run_too() -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser(only="run").parse_args(["run", "--names=team-a"])
    assert exited.value.code == 2


def test_rbac_create_false_renders_no_rbac(render: Render) -> None:
    kinds = {doc["kind"] for doc in render("--set=rbac.create=false")}
    assert not kinds & {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}


def test_flannel_namespace_is_passed_to_the_reporter(
    render: Render,
) -> None:
    docs = render("--set=controllers.flannel.namespace=net")
    assert "--flannel-configmap-namespace=net" in container(docs)["args"]


# --- the pod ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [OPERATOR, AUDIT])
def test_pod_meets_the_restricted_pod_security_standard(render: Render, name: str) -> None:
    docs = render()
    pod = deployment(docs, name)["spec"]["template"]["spec"]
    main = container(docs, name)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = main["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert {"name": "tmp", "mountPath": "/tmp"} in main["volumeMounts"]
    assert {v["name"]: v for v in pod["volumes"]}["tmp"]["emptyDir"]
    assert not any(key in pod for key in ("hostNetwork", "hostPID", "hostIPC"))
    assert main["resources"]["requests"].keys() == {"cpu", "memory"}
    assert "memory" in main["resources"]["limits"]


def test_probes_use_kopf_health_endpoint_and_ports_match_flags(
    render: Render,
) -> None:
    main = container(render("--set=health.port=8181", "--set=metrics.port=9999"))
    ports = {p["name"]: p["containerPort"] for p in main["ports"]}
    assert ports == {"health": 8181, "metrics": 9999}
    for probe in ("livenessProbe", "readinessProbe"):
        assert main[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert {"--health-port=8181", "--metrics-port=9999"} <= set(main["args"])


@pytest.mark.parametrize("path", sorted((VALUES / "good").glob("*.yaml")), ids=lambda p: p.stem)
def test_rendered_command_line_is_accepted_by_podpilot_run(render: Render, path: Path) -> None:
    """The chart and `podpilot run` agree on flags: parse the rendered args with the real parser."""
    for found in of_kind(render("-f", str(path)), "Deployment"):
        (main,) = found["spec"]["template"]["spec"]["containers"]
        assert main["command"] == ["podpilot"]
        args = build_parser(only="run").parse_args(main["args"])
        assert args.command == "run"


def test_peering_lifetime_is_accepted_by_podpilot_run(
    render: Render,
) -> None:
    main = container(render("--set=peering.lifetime=20"))
    assert "--peering-lifetime=20" in main["args"]
    build_parser(only="run").parse_args(main["args"])


def test_sharding_passes_the_replica_count_or_the_shards_to_the_autoscalers_deployment(
    render: Render,
) -> None:
    sharded = ("--set=leaderElection.sharding=true", "--set=replicaCount=3")
    main = container(render(*sharded))
    assert "--shards=3" in main["args"]
    assert build_parser(only="run").parse_args(main["args"]).shards == 3
    assert "--shards=7" in container(render(*sharded, "--set=leaderElection.shards=7"))["args"]
    assert not [arg for arg in container(render())["args"] if arg.startswith("--shards")]
    strategies = {
        found["metadata"]["name"]: found["spec"]["strategy"]["type"]
        for found in of_kind(render(*sharded), "Deployment")
    }
    assert strategies["rel-podpilot"] == "Recreate"  # never two shard counts at once
    assert set(strategies.values()) - {"Recreate"} <= {"RollingUpdate"}
    emptydir_apart = render(*sharded, "--set=controllers.emptydir.enabled=true")
    for found in of_kind(emptydir_apart, "Deployment"):
        (main,) = found["spec"]["template"]["spec"]["containers"]
        runs_autoscaler = "autoscaler" in next(a for a in main["args"] if "--controllers" in a)
        assert ("--shards=3" in main["args"]) == runs_autoscaler


def test_image_pull_policy_and_reference(render: Render) -> None:
    main = container(render("-f", str(VALUES / "good" / "dev-cluster.yaml")))
    assert main["image"] == "podpilot.local/podpilot:dev"
    assert main["imagePullPolicy"] == "Never"
    digest = "sha256:" + "a" * 64
    assert container(render(f"--set=image.digest={digest}"))["image"].endswith(f"@{digest}")
    assert container(render())["image"].endswith(":0.1.0")  # appVersion


# --- HA -----------------------------------------------------------------------------------


def test_one_replica_with_peering_has_no_pdb_and_starts_the_new_pod_first(
    render: Render,
) -> None:
    docs = render()
    assert "--peering-name=rel-podpilot" in container(docs)["args"]
    assert "--peering-name=rel-podpilot-emptydir" in container(docs, AUDIT)["args"]
    assert not of_kind(docs, "PodDisruptionBudget")
    assert deployment(docs)["spec"]["strategy"]["rollingUpdate"] == {
        "maxSurge": 1,
        "maxUnavailable": 0,
    }


def test_two_replicas_get_a_pdb_and_spread_over_nodes(
    render: Render,
) -> None:
    docs = render("-f", str(VALUES / "good" / "ha.yaml"))
    pdbs = {p["metadata"]["name"]: p for p in of_kind(docs, "PodDisruptionBudget")}
    assert pdbs.keys() == {OPERATOR, AUDIT}
    for name in (OPERATOR, AUDIT):
        assert deployment(docs, name)["spec"]["replicas"] == 2
        assert pdbs[name]["spec"]["maxUnavailable"] == 1
        assert pdbs[name]["spec"]["selector"] == deployment(docs, name)["spec"]["selector"]
        anti = deployment(docs, name)["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
        term = anti["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]
        assert term["topologyKey"] == "kubernetes.io/hostname"
        assert term["labelSelector"] == deployment(docs, name)["spec"]["selector"]
    assert "--peering-name=podpilot-ha" in container(docs)["args"]
    assert "--peering-name=podpilot-ha-emptydir" in container(docs, AUDIT)["args"]
    # Neither Deployment selects the other's pods.
    operator_selector = deployment(docs)["spec"]["selector"]["matchLabels"].items()
    audit_labels = deployment(docs, AUDIT)["spec"]["template"]["metadata"]["labels"].items()
    assert not operator_selector <= audit_labels


def test_without_peering_the_operator_is_standalone_and_never_overlaps(
    render: Render,
) -> None:
    docs = render("--set=peering.enabled=false")
    assert not of_kind(docs, "ClusterKopfPeering")
    for name in (OPERATOR, AUDIT):
        assert "--standalone" in container(docs, name)["args"]
        assert deployment(docs, name)["spec"]["strategy"] == {"type": "Recreate"}


def test_with_peering_but_no_lease_the_autoscalers_deployment_never_overlaps(
    render: Render,
) -> None:
    """kopf's peering pauses only kopf's handlers: the Autoscaler's loops are podpilot's own,
    so without the Lease its Deployment must never run the old and new pod together."""
    docs = render("--set=leaderElection.enabled=false")
    assert deployment(docs)["spec"]["strategy"] == {"type": "Recreate"}
    assert deployment(docs, AUDIT)["spec"]["strategy"]["type"] == "RollingUpdate"
    no_autoscaler = "--set=controllers.autoscaler.enabled=false"
    docs = render("--set=leaderElection.enabled=false", no_autoscaler)
    assert deployment(docs)["spec"]["strategy"]["type"] == "RollingUpdate"


# --- leader election -----------------------------------------------------------------------


def test_leader_election_may_create_leases_and_renew_only_its_own(
    render: Render,
) -> None:
    docs = render()
    leases = {rule for rule in rbac_rules(docs) if rule[2] == "leases"}
    assert leases == LEADER_ELECTION_RULES
    args = container(docs)["args"]
    assert "--leader-election-namespace=ops" in args
    assert "--leader-election-lease-name=rel-podpilot-leader" in args
    audit = container(docs, AUDIT)["args"]
    assert "--leader-election-lease-name=rel-podpilot-leader-emptydir" in audit
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container(docs)["env"]}
    assert env["POD_NAME"] == "metadata.name" and env["POD_NAMESPACE"] == "metadata.namespace"


def test_one_shard_may_not_list_or_delete_leases(render: Render) -> None:
    """With one shard the operator runs as the unsharded leader (no shard Lease, no member
    Lease: app/lifecycle.py starts shards only above 1), so only the leader Lease's rules."""
    sharding = "--set=leaderElection.sharding=true"
    for one_shard in ([], ["--set=replicaCount=3", "--set=leaderElection.shards=1"]):
        docs = render(sharding, *one_shard)
        args = container(docs)["args"]
        assert settings_from(build_parser(only="run").parse_args(args)).leader_election.shards == 1
        assert {rule for rule in rbac_rules(docs) if rule[2] == "leases"} == LEADER_ELECTION_RULES
    # More shards than replicas: one replica holds every shard, on Leases named at run time.
    many = rbac_rules(render(sharding, "--set=leaderElection.shards=3"))
    assert {("ops", "coordination.k8s.io", "leases", v, "") for v in ("list", "delete")} <= many


def test_leader_election_settings_reach_podpilot_run(
    render: Render,
) -> None:
    docs = render(
        "--set=leaderElection.leaseName=pilot",
        "--set=leaderElection.leaseDuration=30",
        "--set=leaderElection.renewDeadline=20",
        "--set=leaderElection.retryPeriod=4",
    )
    args = container(docs)["args"]
    settings = settings_from(build_parser(only="run").parse_args(args)).leader_election
    assert settings.enabled and settings.namespace == "ops" and settings.lease_name == "pilot"
    assert (settings.lease_duration, settings.renew_deadline, settings.retry_period) == (30, 20, 4)
    leases = {rule for rule in rbac_rules(docs) if rule[2] == "leases"}
    pilot = documented_grants(lease="pilot")
    assert leases == as_rules(pilot[OPERATOR_LEASE_ROLE] | pilot[AUDIT_LEASE_ROLE])
    assert {rule[4] for rule in leases} == {"", "pilot", "pilot-emptydir"}


@pytest.mark.parametrize(
    "off", ["--set=peering.enabled=false", "--set=leaderElection.enabled=false"]
)
def test_no_lease_and_no_lease_rbac_without_leader_election(render: Render, off: str) -> None:
    docs = render(off)
    assert not [rule for rule in rbac_rules(docs) if rule[2] == "leases"]
    for name in (OPERATOR, AUDIT):
        args = container(docs, name)["args"]
        assert not [a for a in args if a.startswith("--leader-election-")]
        settings = settings_from(build_parser(only="run").parse_args(args))
        assert not settings.leader_election.enabled


# --- CRDs ---------------------------------------------------------------------------------


def load_sync_script() -> Any:
    loader = importlib.machinery.SourceFileLoader(
        "sync_chart_crds", str(REPO / "scripts" / "sync-chart-crds")
    )
    spec = importlib.util.spec_from_loader("sync_chart_crds", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_chart_crds_match_the_crds_directory() -> None:
    result = subprocess.run(
        [str(REPO / "scripts" / "sync-chart-crds"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_drift_check_reports_changed_missing_and_stale_files(tmp_path: Path) -> None:
    sync = load_sync_script()
    source, target = tmp_path / "crds", tmp_path / "chart"
    source.mkdir()
    for name in ("a.yaml", "b.yaml", "c.yaml"):
        (source / name).write_text(f"name: {name}\n")
    assert sync.sync(source, target)
    assert sync.drift(source, target) == []
    (target / "a.yaml").write_text("name: edited\n")
    (target / "b.yaml").unlink()
    (target / "z.yaml").write_text("name: z\n")
    assert sorted(sync.drift(source, target)) == [
        "differs from crds/: a.yaml",
        "missing in chart: b.yaml",
        "stale in chart (not in crds/): z.yaml",
    ]
    sync.sync(source, target)
    assert sync.drift(source, target) == []


def strip_helm_metadata(crd: dict[str, Any]) -> dict[str, Any]:
    meta = dict(crd["metadata"])
    meta.pop("annotations", None)
    meta["labels"] = {
        k: v for k, v in meta.get("labels", {}).items() if k == "app.kubernetes.io/part-of"
    }
    return {**crd, "metadata": meta}


def test_rendered_crds_are_the_source_crds_plus_helm_metadata(
    render: Render,
) -> None:
    rendered = {d["metadata"]["name"]: d for d in of_kind(render(), "CustomResourceDefinition")}
    sources = {}
    for path in sorted((REPO / "crds").glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        sources[crd["metadata"]["name"]] = crd
    assert rendered.keys() == sources.keys()
    for name, crd in rendered.items():
        assert crd["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
        assert crd["metadata"]["labels"]["app.kubernetes.io/instance"] == "rel"
        assert strip_helm_metadata(crd) == strip_helm_metadata(sources[name]), name


def test_crds_keep_and_install_switches(render: Render) -> None:
    unkept = of_kind(render("--set=crds.keep=false"), "CustomResourceDefinition")
    assert unkept and all("annotations" not in crd["metadata"] for crd in unkept)
    assert not of_kind(render("--set=crds.install=false"), "CustomResourceDefinition")


def test_kopf_peering_crd_ships_in_helms_crds_directory(
    render: Render,
) -> None:
    scopes = {
        d["metadata"]["name"]: d["spec"]["scope"]
        for d in of_kind(render("--include-crds"), "CustomResourceDefinition")
    }
    assert scopes["clusterkopfpeerings.kopf.dev"] == "Cluster"
    assert scopes["kopfpeerings.kopf.dev"] == "Namespaced"  # with --namespace in extraArgs


# --- monitoring ---------------------------------------------------------------------------


def test_monitoring_templates_render_nothing_until_rules_and_dashboards_exist(
    render: Render,
) -> None:
    docs = render("-f", str(VALUES / "good" / "monitoring.yaml"), *PROMETHEUS_OPERATOR_APIS)
    (monitor,) = of_kind(docs, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    if not list((CHART / "rules").glob("*.yaml")):
        assert not of_kind(docs, "PrometheusRule")
    if not list((CHART / "dashboards").glob("*.json")):
        assert not of_kind(docs, "ConfigMap")


def test_rules_and_dashboards_are_picked_up_from_the_chart(render: Render, tmp_path: Path) -> None:
    chart = tmp_path / "podpilot"
    shutil.copytree(CHART, chart)
    (chart / "rules" / "zz-test.yaml").write_text(
        "groups:\n- name: zz-test\n  rules:\n  - alert: T\n    expr: vector(1)\n"
    )
    (chart / "dashboards" / "zz-test.json").write_text('{"title": "T"}\n')
    monitoring = str(VALUES / "good" / "monitoring.yaml")
    docs = render("-f", monitoring, *PROMETHEUS_OPERATOR_APIS, chart=chart)
    (rule,) = of_kind(docs, "PrometheusRule")
    assert "zz-test" in [group["name"] for group in rule["spec"]["groups"]]
    (dashboards,) = of_kind(docs, "ConfigMap")
    assert dashboards["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboards["data"]["zz-test.json"].strip() == '{"title": "T"}'


def test_prometheus_guardrails_reach_podpilot_run(
    render: Render,
) -> None:
    docs = render(
        "--set=controllers.autoscaler.prometheus.allowedURLs={https://prom.monitoring.svc:9090/}",
        "--set=controllers.autoscaler.prometheus.maxSeries=50",
    )
    limits = settings_from(build_parser(only="run").parse_args(container(docs)["args"]))
    assert limits.prometheus_limits == PrometheusLimits(
        max_series=50, allowed_urls=("https://prom.monitoring.svc:9090/",)
    )


def test_metrics_services_are_dns_labels_whatever_the_release_name(render: Render) -> None:
    def services(*args: str) -> list[str]:
        docs = render("--set", "metrics.service.enabled=true", *args)
        return sorted(doc["metadata"]["name"] for doc in docs if doc["kind"] == "Service")

    assert services() == ["rel-podpilot-emptydir-metrics", "rel-podpilot-metrics"]
    for fullname in ("a" * 63, "team-platform-autoscaling-prod-eu-west1-podpilot"):
        names = services(f"--set=fullnameOverride={fullname}")
        assert len(set(names)) == 2, names
        assert all(len(name) <= 63 and not name.endswith("-") for name in names), names


@pytest.mark.parametrize(
    "fullname",
    [
        "a" * 46 + "-emptydir",  # the operator's name is <46 characters>-emptydir-metrics too
        "a" * 46 + "-emptydir-prod",
        "a" * 45 + "-emptydir",  # the cut at 46 ends with "-", trimmed
    ],
)
def test_metrics_services_never_share_a_name_even_when_the_full_name_ends_like_the_audits(
    render: Render, fullname: str
) -> None:
    docs = render("--set", "metrics.service.enabled=true", f"--set=fullnameOverride={fullname}")
    names = [doc["metadata"]["name"] for doc in of_kind(docs, "Service")]
    assert len(names) == len(set(names)) == 2, names
    assert all(len(name) <= 63 and not name.endswith("-") for name in names), names


def test_metrics_services_keep_their_names_for_ordinary_release_names(render: Render) -> None:
    """A renamed Service would break the users' own ServiceMonitors on upgrade."""
    for fullname, operator, audit in [
        ("rel-podpilot", "rel-podpilot-metrics", "rel-podpilot-emptydir-metrics"),
        ("a" * 63, "a" * 55 + "-metrics", "a" * 46 + "-emptydir-metrics"),
        ("pilot-emptydir", "pilot-emptydir-metrics", "pilot-emptydir-emptydir-metrics"),
        (
            "a" * 40 + "-emptydir",
            "a" * 40 + "-emptydir-metrics",
            "a" * 40 + "-empty-emptydir-metrics",
        ),
    ]:
        docs = render("--set", "metrics.service.enabled=true", f"--set=fullnameOverride={fullname}")
        assert sorted(d["metadata"]["name"] for d in of_kind(docs, "Service")) == sorted(
            [operator, audit]
        )
