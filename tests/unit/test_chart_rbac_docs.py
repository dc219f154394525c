"""docs/security.md's RBAC tables are the chart's RBAC: parsed, filled in and compared with
every Role, ClusterRole and binding `helm template` renders (issue #20, point 5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.chart_rbac_docs import Grant, RoleKey, documented, holds, parse, rendered
from tests.chart_render import REPO, VALUES, Render

from podpilot.cli import build_parser

SECURITY = REPO / "docs" / "security.md"
FULLNAME = "rel-podpilot"


def merged(*layers: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = merged(out[key], value)
            else:
                out[key] = value
    return out


AUDIT_ONLY = {"controllers": {"autoscaler": {"enabled": False}, "flannel": {"enabled": False}}}
INSIDE = {"controllers": {"emptydir": {"ownDeployment": False}}}

CASES = {
    "defaults": {},
    "everything": merged(
        yaml.safe_load((VALUES / "good" / "autoscaler-with-secrets.yaml").read_text()),
        {
            "controllers": {
                "emptydir": {"enabled": True, "kubelet": {"apiserverProxy": True}},
                "flannel": {"enabled": True},
            },
            "leaderElection": {"leaseName": "pilot"},
        },
    ),
    "sharded": {"replicaCount": 3, "leaderElection": {"sharding": True}},
    "secrets-of-one-namespace-twice": {
        "controllers": {
            "autoscaler": {
                "secrets": [
                    {"namespace": "team-a", "names": ["b", "a"]},
                    {"namespace": "team-a", "names": ["c", "a"]},
                ]
            }
        }
    },
    # One shard is the unsharded leader: no member or shard Lease, so no list or delete.
    "one-shard": {"replicaCount": 1, "leaderElection": {"sharding": True}},
    "more-shards-than-replicas": {
        "replicaCount": 1,
        "leaderElection": {"sharding": True, "shards": 3},
    },
    # No Lease: kopf peers itself, on the ClusterKopfPeering objects.
    "kopf-peering": {"leaderElection": {"enabled": False}},
    # No Lease and some namespaces only: kopf peers on a KopfPeering in each of them.
    "kopf-peering-in-namespaces": {
        "leaderElection": {"enabled": False},
        "extraArgs": ["--namespace=team-a", "-n", "team-b", "--log-format=json"],
    },
    # kopf's peering objects named: get and patch follow peering.name.
    "kopf-peering-named": {"leaderElection": {"enabled": False}, "peering": {"name": "pilot"}},
    "kopf-peering-named-in-namespaces": {
        "leaderElection": {"enabled": False},
        "peering": {"name": "pilot"},
        "extraArgs": ["--namespace=team-a"],
    },
    "standalone": {"peering": {"enabled": False}},
    "autoscaler-off": {"controllers": {"autoscaler": {"enabled": False}}},
    "emptydir-off": {"controllers": {"emptydir": {"enabled": False}}},
    # Only the audit, apart: no operator Deployment, so none of its Lease, peering object or
    # bindings; the audit's own Lease or peering object only.
    "emptydir-only": AUDIT_ONLY,
    "emptydir-only-in-namespaces": merged(AUDIT_ONLY, {"extraArgs": ["--namespace=team-a"]}),
    "emptydir-only-kopf-peering": merged(AUDIT_ONLY, {"leaderElection": {"enabled": False}}),
    "emptydir-only-kopf-peering-in-namespaces": merged(
        AUDIT_ONLY,
        {"leaderElection": {"enabled": False}, "extraArgs": ["--namespace=team-a", "-nteam-b"]},
    ),
    # The audit inside the operator's pod: no audit Lease, peering object or account of its own.
    "emptydir-inside": INSIDE,
    "emptydir-inside-kopf-peering": merged(INSIDE, {"leaderElection": {"enabled": False}}),
    "sharded-emptydir-inside": merged(
        INSIDE, {"replicaCount": 3, "leaderElection": {"sharding": True}}
    ),
    "service-accounts-named": {"serviceAccount": {"name": "pilot", "emptydirName": "auditor"}},
    "service-accounts-not-created": {"serviceAccount": {"create": False}},
}


def watched_namespaces(extra_args: list[str]) -> list[str]:
    """The namespaces `podpilot run` watches with these extra arguments, each once."""
    parsed = build_parser(only="run").parse_args(["run", *extra_args])
    return list(dict.fromkeys(parsed.namespace))


def case_values(case: str) -> dict[str, Any]:
    """The chart's values.yaml with the case's overrides."""
    return merged(yaml.safe_load((REPO / "helm/podpilot/values.yaml").read_text()), CASES[case])


def deployments(values: dict[str, Any]) -> dict[str, str | None]:
    """security.md's account placeholders, as its text defines them, for these values:
    `<operator account>` and `<audit account>`, and which of them a Deployment runs as (the
    operator's only when the operator Deployment exists), keyed "operator" and "audit" (None
    for one that does not run)."""
    controllers = values["controllers"]
    audit = controllers["emptydir"]
    apart = audit["enabled"] and audit["ownDeployment"]
    operator_runs = (
        controllers["autoscaler"]["enabled"]
        or controllers["flannel"]["enabled"]
        or (audit["enabled"] and not apart)
    )
    accounts = values["serviceAccount"]
    unnamed = "default" if not accounts["create"] else None
    operator = accounts["name"] or unnamed or FULLNAME
    auditor = (accounts["emptydirName"] or unnamed or f"{FULLNAME}-emptydir") if apart else operator
    return {
        "<operator account>": operator,
        "<audit account>": auditor,
        "operator": operator if operator_runs else None,
        "audit": auditor if audit["enabled"] else None,
    }


def documented_for(
    values: dict[str, Any], text: str | None = None
) -> tuple[set[Grant], dict[RoleKey, set[str]]]:
    """security.md's grants and bindings (or those of ``text``) for these values. A Bound to
    cell names the accounts among those a Deployment runs as (security.md says so)."""
    autoscaler = values["controllers"]["autoscaler"]
    election = values["leaderElection"]
    watched = watched_namespaces(values["extraArgs"])
    lease = election["leaseName"] or f"{FULLNAME}-leader"
    shards = election["shards"] or values["replicaCount"]
    runs = deployments(values)
    grants, bindings = documented(
        SECURITY.read_text() if text is None else text,
        fixed={
            "<fullname>": FULLNAME,
            "<peeringName>": values["peering"]["name"] or FULLNAME,
            "<release namespace>": "ops",
            "<leaseName>": lease,
            "<shards>": str(shards),
            "<watched namespaces>": str(len(watched)),
            "<operator Deployment>": str(int(runs["operator"] is not None)),
            "<operator account>": str(runs["<operator account>"]),
            "<audit account>": str(runs["<audit account>"]),
        },
        lists={
            "secrets": autoscaler["secrets"],
            "scaleTargets": autoscaler["extraScaleTargets"],
            "watched": [{"namespace": namespace} for namespace in watched],
        },
        is_true=lambda condition: holds(values, condition),
    )
    running = {runs["operator"], runs["audit"]} - {None}
    return grants, {role: accounts & running for role, accounts in bindings.items()}


def render_case(render: Render, tmp_path: Path, case: str) -> list[dict[str, Any]]:
    values_file = tmp_path / "values.yaml"
    values_file.write_text(yaml.safe_dump(CASES[case]))
    return render("-f", str(values_file))


@pytest.mark.parametrize("case", CASES, ids=str)
def test_rendered_rbac_is_exactly_the_table_in_security_md(
    render: Render, tmp_path: Path, case: str
) -> None:
    docs_grants, docs_bindings = documented_for(case_values(case))
    chart_grants, chart_bindings = rendered(render_case(render, tmp_path, case))
    assert sorted(chart_grants - docs_grants) == [], "granted by the chart, not in security.md"
    assert sorted(docs_grants - chart_grants) == [], "in security.md, not granted by the chart"
    assert chart_bindings == docs_bindings


@pytest.mark.parametrize("case", CASES, ids=str)
def test_the_accounts_the_docs_bind_are_those_the_deployments_run_as(
    render: Render, tmp_path: Path, case: str
) -> None:
    """security.md's `<operator account>`, `<audit account>` and `<operator Deployment>`, as
    this file fills them in, are the chart's Deployments: which exist and whom they run as."""
    values = case_values(case)
    runs = deployments(values)
    audit = values["controllers"]["emptydir"]
    rendered_runs = {
        doc["metadata"]["labels"]["app.kubernetes.io/component"]: doc["spec"]["template"]["spec"][
            "serviceAccountName"
        ]
        for doc in render_case(render, tmp_path, case)
        if doc["kind"] == "Deployment"
    }
    expected = {"operator": runs["operator"]} if runs["operator"] else {}
    if audit["enabled"] and audit["ownDeployment"]:
        expected["emptydir"] = runs["audit"]
    else:
        assert runs["audit"] in (None, runs["operator"])
    assert rendered_runs == expected


def peering_writes(grants: set[Grant]) -> set[tuple[str, str, str, str]]:
    """(namespace or "", resource, verb, resource name or "") of every get or patch granted on
    kopf's peering objects."""
    return {
        (namespace, resource, verb, name)
        for _, namespace, _, group, resource, verb, name in grants
        if group == "kopf.dev" and verb not in ("list", "watch")
    }


KOPF_PEERS = [
    case
    for case in CASES
    if case_values(case)["peering"]["enabled"]
    and not case_values(case)["leaderElection"]["enabled"]
]


@pytest.mark.parametrize("case", KOPF_PEERS, ids=str)
def test_the_docs_and_the_chart_let_get_and_patch_only_the_charts_peering_objects(
    render: Render, tmp_path: Path, case: str
) -> None:
    """kopf lists and watches every peering object, but podpilot gets, and kopf patches, only
    the one its --peering-name names: both tables and the chart name exactly the peering
    objects the chart renders, never all of them (a patch of another kopf operator's could
    pause it with a made-up peer)."""
    docs = render_case(render, tmp_path, case)
    kinds = {"ClusterKopfPeering": "clusterkopfpeerings", "KopfPeering": "kopfpeerings"}
    objects = {
        (doc["metadata"].get("namespace", ""), kinds[doc["kind"]], verb, doc["metadata"]["name"])
        for doc in docs
        if doc["kind"] in kinds
        for verb in ("get", "patch")
    }
    assert objects
    docs_grants, _ = documented_for(case_values(case))
    chart_grants, _ = rendered(docs)
    assert peering_writes(docs_grants) == objects
    assert peering_writes(chart_grants) == objects


def test_a_peering_write_documented_without_names_is_caught() -> None:
    """Dropping a get/patch row's resource names from the docs grants them on every peering
    object, which the comparison with the chart then refuses."""
    text = SECURITY.read_text()
    row = "| `get`, `patch` | `<peeringName>` |"
    assert text.count(row) == 2
    drifted = text.replace(row, "| `get`, `patch` | |", 1)
    values = case_values("kopf-peering")
    unnamed = peering_writes(documented_for(values, drifted)[0]) - peering_writes(
        documented_for(values)[0]
    )
    assert unnamed == {("", "clusterkopfpeerings", verb, "") for verb in ("get", "patch")}


def test_the_tables_parse_and_every_rule_names_a_listed_role() -> None:
    roles, rules = parse(SECURITY.read_text())
    names = {role.name for role in roles}
    assert len(names) == len(roles) >= 7
    assert {rule.role for rule in rules} == names
    assert all(rule.groups and rule.resources and rule.verbs for rule in rules)
    assert {role.kind for role in roles} == {"ClusterRole", "Role"}


def test_a_drifted_table_is_caught() -> None:
    """The comparison is not vacuous: dropping one verb from the docs changes the grants."""
    text = SECURITY.read_text()
    when = "| | `controllers.autoscaler.enabled` |"
    drifted = text.replace(f"`list`, `watch`, `patch` {when}", f"`list`, `watch` {when}", 1)
    assert drifted != text

    def grants(markdown: str) -> set[tuple[str, ...]]:
        found, _ = documented(
            markdown,
            fixed={
                "<fullname>": FULLNAME,
                "<peeringName>": FULLNAME,
                "<release namespace>": "ops",
                "<leaseName>": "l",
                "<watched namespaces>": "0",
                "<operator account>": FULLNAME,
                "<audit account>": FULLNAME,
            },
            lists={"secrets": [], "scaleTargets": [], "watched": []},
            is_true=lambda _: True,
        )
        return found

    assert grants(text) - grants(drifted) == {
        ("ClusterRole", "", f"{FULLNAME}-autoscaler", "podpilot.io", "autoscalers", "patch", "")
    }


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("peering.enabled", True),
        ("leaderElection.enabled", False),
        ("not leaderElection.enabled", True),
        ("not peering.enabled", False),
        ("replicaCount > 1", True),
        ("not 0", True),
        ("not 2", False),
    ],
)
def test_a_when_condition_may_ask_for_a_false_value(condition: str, expected: bool) -> None:
    values = {"peering": {"enabled": True}, "leaderElection": {"enabled": False}, "replicaCount": 2}
    assert holds(values, condition) is expected
