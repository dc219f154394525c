"""Values the chart writes into objects keep the type the schema gives them (names and
namespaces stay strings whatever they look like), and values the schema refuses because the
chart or the operator would build something invalid from them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.chart_render import CHART, PROMETHEUS_OPERATOR_APIS, Helm, of_kind

from podpilot.apimachinery.sharding import member_lease_name, shard_lease_name
from podpilot.commands.run import MAX_SHARDS


class GoLikeLoader(yaml.SafeLoader):
    """PyYAML's safe loader, plus the floats Go's YAML reads and PyYAML's does not (`1e3`,
    without a dot), so that a name like that, written unquoted, is caught as it would be by the
    API server's decoder."""


GoLikeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?([0-9][0-9_]*)?\.?[0-9]+[eE][-+]?[0-9]+$"),
    list("-+.0123456789"),
)

# Object fields that are strings in the Kubernetes API, and lists and maps of strings.
STRING_FIELDS = {"name", "namespace", "serviceAccountName", "priorityClassName"}
STRING_LISTS = {"resourceNames", "matchNames", "args", "apiGroups", "resources", "verbs"}
STRING_MAPS = {"labels", "matchLabels", "annotations"}

# Strings that YAML reads as something else when written unquoted: a boolean, null, numbers.
LOOKALIKES = ["true", "null", "0x10", "1e3"]

CASES: dict[str, dict[str, Any]] = {
    # kopf peers (leader election off), in namespaces given through extraArgs.
    "kopf-peering": {
        "release": ("123", "456"),
        "values": {
            "nameOverride": "true",
            "priorityClassName": "null",
            "serviceAccount": {"name": "0x10", "emptydirName": "1e3"},
            "peering": {"name": "true"},
            "leaderElection": {"enabled": False},
            "extraArgs": ["--namespace=789", "-n", "1e5"],
            "controllers": {"autoscaler": {"secrets": [{"namespace": "123", "names": LOOKALIKES}]}},
            "metrics": {
                "serviceMonitor": {"enabled": True, "namespace": "012"},
                "dashboards": {"enabled": True, "namespace": "0x1f"},
                "prometheusRule": {"enabled": True},
            },
        },
    },
    # The Lease, two replicas (a PodDisruptionBudget), sharded, every optional object.
    "lease": {
        "release": ("1e3", "123"),
        "values": {
            "fullnameOverride": "0x10",
            "replicaCount": 2,
            "leaderElection": {"leaseName": "1e3", "sharding": True},
            "networkPolicy": {"enabled": True},
            "controllers": {
                "emptydir": {
                    "kubelet": {
                        "caBundle": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
                    }
                }
            },
        },
    },
}


def rendered(helm: Helm, tmp_path: Path, case: str) -> list[dict[str, Any]]:
    release, namespace = CASES[case]["release"]
    tmp_path.mkdir(parents=True, exist_ok=True)
    values = tmp_path / "values.yaml"
    # JSON, which quotes every string: PyYAML would write `1e3` bare, which helm reads as 1000.
    values.write_text(json.dumps(CASES[case]["values"]))
    out = helm(
        "template", release, str(CHART), f"--namespace={namespace}", "-f", str(values),
        *PROMETHEUS_OPERATOR_APIS,
    ).stdout  # fmt: skip
    return [doc for doc in yaml.load_all(out, Loader=GoLikeLoader) if doc]


def not_strings(node: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Every field of STRING_FIELDS, STRING_LISTS and STRING_MAPS below ``node`` whose value
    is not a string, with its path."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from not_strings(item, f"{path}[{index}]")
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        here = f"{path}.{key}"
        if key in STRING_FIELDS and not isinstance(value, dict | list | str):
            yield here, value
        if key in STRING_LISTS and isinstance(value, list):
            yield from ((here, item) for item in value if not isinstance(item, str))
        if key in STRING_MAPS and isinstance(value, dict):
            yield from ((f"{here}.{k}", v) for k, v in value.items() if not isinstance(v, str))
        yield from not_strings(value, here)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_names_and_namespaces_that_look_like_other_yaml_types_stay_strings(
    helm: Helm, tmp_path: Path, case: str
) -> None:
    """A string the schema accepts is written quoted wherever the chart puts it, so that
    `secrets: [{namespace: "123", names: ["true", "null", "0x10"]}]` gives a Role in namespace
    "123" for those three names, not namespace 123 and [0x10, null, true]."""
    docs = rendered(helm, tmp_path, case)
    wrong = [
        found
        for doc in docs
        # A CRD's body is an OpenAPI schema, whose `name`-like keys are not object fields.
        for found in not_strings(
            {"metadata": doc["metadata"]} if doc["kind"] == "CustomResourceDefinition" else doc,
            f"{doc['kind']}/{doc['metadata']['name']}",
        )
    ]
    assert wrong == []


def test_each_lookalike_value_reaches_its_field_as_given(helm: Helm, tmp_path: Path) -> None:
    """The check above is not vacuous: every such value is rendered, and is the same string."""
    docs = rendered(helm, tmp_path / "kopf", "kopf-peering")
    (secrets,) = [d for d in of_kind(docs, "Role") if d["metadata"]["namespace"] == "123"]
    assert secrets["rules"][0]["resourceNames"] == sorted(LOOKALIKES)
    peerings = {
        (d["metadata"]["namespace"], d["metadata"]["name"]) for d in of_kind(docs, "KopfPeering")
    }
    assert peerings == {(ns, name) for ns in ("789", "1e5") for name in ("true", "true-emptydir")}
    peering_roles = [d for d in of_kind(docs, "Role") if d["metadata"]["name"].endswith("-peering")]
    assert {d["metadata"]["namespace"] for d in peering_roles} == {"789", "1e5"}
    assert peering_roles[0]["rules"][1]["resourceNames"] == ["true", "true-emptydir"]
    pods = {
        d["metadata"]["name"]: d["spec"]["template"]["spec"] for d in of_kind(docs, "Deployment")
    }
    assert {name: pod["serviceAccountName"] for name, pod in pods.items()} == {
        "123-true": "0x10",
        "123-true-emptydir": "1e3",
    }
    assert {pod["priorityClassName"] for pod in pods.values()} == {"null"}
    assert {d["metadata"]["name"] for d in of_kind(docs, "ServiceAccount")} == {"0x10", "1e3"}
    assert [d["metadata"]["namespace"] for d in of_kind(docs, "ServiceMonitor")] == ["012"]
    assert [d["metadata"]["namespace"] for d in of_kind(docs, "ConfigMap")] == ["0x1f"]
    assert {d["spec"]["selector"]["app.kubernetes.io/name"] for d in of_kind(docs, "Service")} == {
        "true",
        "true-emptydir",
    }

    docs = rendered(helm, tmp_path / "lease", "lease")
    leases = {
        name
        for role in of_kind(docs, "Role")
        for rule in role["rules"]
        for name in rule.get("resourceNames", [])
    }
    assert leases == {"1e3", "1e3-emptydir"}
    assert {d["metadata"]["name"] for d in of_kind(docs, "PodDisruptionBudget")} == {
        "0x10",
        "0x10-emptydir",
    }
    assert {d["metadata"]["labels"]["app.kubernetes.io/instance"] for d in docs} == {"1e3"}


# --- values the schema refuses ---------------------------------------------------------------


def refusal(helm: Helm, tmp_path: Path, values: dict[str, Any]) -> str:
    """helm's error for these values, or "" when it renders them."""
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    result = helm("template", "rel", str(CHART), "-f", str(path), check=False)
    return result.stderr if result.returncode else ""


@pytest.mark.parametrize("budget", ["0%", "00%", "101%", "1.5%", 0], ids=str)
def test_a_disruption_budget_that_blocks_every_drain_is_refused(
    helm: Helm, tmp_path: Path, budget: object
) -> None:
    """maxUnavailable 0 or 0% leaves no pod evictable: every node drain would hang on it."""
    error = refusal(
        helm, tmp_path, {"replicaCount": 2, "podDisruptionBudget": {"maxUnavailable": budget}}
    )
    assert "at '/podDisruptionBudget/maxUnavailable'" in error, error or "accepted"


@pytest.mark.parametrize("budget", ["1%", "50%", "99%", "100%", 1, 3])
def test_a_disruption_budget_that_lets_a_replica_go_is_accepted(
    helm: Helm, tmp_path: Path, budget: object
) -> None:
    assert (
        refusal(
            helm, tmp_path, {"replicaCount": 2, "podDisruptionBudget": {"maxUnavailable": budget}}
        )
        == ""
    )


SCHEMA = json.loads((CHART / "values.schema.json").read_text())
# A Lease's (and a peering object's) name is a DNS subdomain: at most 253 characters.
NAME_LIMIT = 253


def longest_suffix_of_a_lease(base: str) -> int:
    """How many characters the chart and the operator add to leaderElection.leaseName: the
    audit's Lease, every shard's and every member's (the longest identity hash and count)."""
    names = [
        f"{base}-emptydir",  # the chart's podpilot.emptydirLeaseName
        shard_lease_name(base, MAX_SHARDS - 1),
        member_lease_name(base, "any-pod-identity", MAX_SHARDS),
    ]
    return max(len(name) for name in names) - len(base)


def max_length(*path: str) -> int:
    node = SCHEMA
    for key in path:
        node = node["properties"][key]
    (named,) = [choice for choice in node["anyOf"] if "maxLength" in choice]
    limit: int = named["maxLength"]
    return limit


LIMITS = {
    "leaseName": (("leaderElection", "leaseName"), longest_suffix_of_a_lease("x")),
    "peering.name": (("peering", "name"), len("-emptydir")),  # podpilot.emptydirPeeringName
}


@pytest.mark.parametrize("value", LIMITS, ids=str)
def test_a_name_the_chart_or_operator_extends_leaves_room_for_its_longest_suffix(
    value: str,
) -> None:
    path, suffix = LIMITS[value]
    assert max_length(*path) + suffix == NAME_LIMIT


@pytest.mark.parametrize("value", LIMITS, ids=str)
def test_a_name_too_long_for_its_longest_suffix_is_refused(
    helm: Helm, tmp_path: Path, value: str
) -> None:
    path, _ = LIMITS[value]
    limit = max_length(*path)

    def given(name: str) -> dict[str, Any]:
        values: dict[str, Any] = {path[0]: {path[1]: name}}
        if value == "peering.name":
            values["leaderElection"] = {"enabled": False}  # the peering objects are rendered
        return values

    error = refusal(helm, tmp_path, given("a" * (limit + 1)))
    assert f"maxLength: got {limit + 1}, want {limit}" in error, error or "accepted"
    assert refusal(helm, tmp_path, given("a" * limit)) == ""
