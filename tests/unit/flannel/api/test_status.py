"""Status rendering, checked against the CRD schemas it must fit."""

import json
import pathlib
from typing import Any

import pytest
import yaml

from podpilot.flannel.api.status import k8s_int, network_status, node_status
from podpilot.flannel.engine.report import NetworkReport, build_report

from .._fixtures import PREFIX, healthy_nodes, load_json, pod, upstream_net_conf

CRDS = pathlib.Path(__file__).resolve().parents[4] / "crds"
JSON_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "object": dict,
    "array": list,
}


def _schema(file: str) -> dict[str, Any]:
    crd = yaml.safe_load((CRDS / file).read_text())
    version = crd["spec"]["versions"][0]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]["properties"]["status"]
    return schema


def _violations(value: Any, schema: dict[str, Any], path: str = "status") -> list[str]:
    problems: list[str] = []
    if schema.get("x-kubernetes-int-or-string"):
        if not isinstance(value, int | str) or isinstance(value, bool):
            problems.append(f"{path}: not int-or-string")
        return problems
    expected = JSON_TYPES[schema["type"]]
    if not isinstance(value, expected) or (schema["type"] != "boolean" and isinstance(value, bool)):
        return [f"{path}: {value!r} is not {schema['type']}"]
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: {value!r} not in {schema['enum']}")
    if isinstance(value, str) and len(value) > schema.get("maxLength", 10**9):
        problems.append(f"{path}: longer than {schema['maxLength']}")
    if isinstance(value, list):
        if len(value) > schema.get("maxItems", 10**9):
            problems.append(f"{path}: more than {schema['maxItems']} items")
        for index, item in enumerate(value):
            problems += _violations(item, schema["items"], f"{path}[{index}]")
    if isinstance(value, dict):
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if properties is not None and key in properties:
                problems += _violations(item, properties[key], f"{path}.{key}")
            elif isinstance(extra, dict):
                problems += _violations(item, extra, f"{path}.{key}")
            else:
                problems.append(f"{path}.{key}: not in the schema (would be pruned)")
        for key in schema.get("required", []):
            if key not in value:
                problems.append(f"{path}.{key}: required")
    return problems


def _broken_report() -> NetworkReport:
    nodes = healthy_nodes()
    nodes[1]["metadata"]["annotations"][PREFIX + "backend-data"] = "{" * 600
    nodes[2]["spec"] = {"podCIDR": "10.244.0.0/16", "podCIDRs": ["10.244.0.0/16"]}
    dual = load_json("node-dualstack-v6-first.json")
    text = json.dumps(
        {
            "Network": "10.244.0.0/16",
            "IPv6Network": "fd00::/8",
            "EnableIPv6": True,
            "Backend": {"Type": "vxlan"},
        }
    )
    pods = [pod(f"p{i}-{k}", "worker-1", f"10.244.1.{i + 2}") for i in range(120) for k in (1, 2)]
    return build_report([*nodes, dual], text, pods)


@pytest.mark.parametrize(
    "report",
    [_broken_report(), build_report(healthy_nodes(), upstream_net_conf())],
    ids=["broken", "healthy"],
)
def test_statuses_fit_the_crd_schemas(report: NetworkReport) -> None:
    network_schema = _schema("flannelnetworkreports.podpilot.io.yaml")
    node_schema = _schema("flannelsubnetreports.podpilot.io.yaml")

    assert _violations(network_status(report), network_schema) == []
    for node in report.nodes:
        assert _violations(node_status(node), node_schema) == []


def test_network_status_gives_the_ipam_show_columns() -> None:
    status = network_status(build_report(healthy_nodes(), upstream_net_conf()))

    assert status["network"] == "10.244.0.0/16" and status["backend"] == "vxlan"
    assert (status["subnets"], status["allocated"], status["free"]) == (256, 3, 253)
    assert status["utilization"] == "1.2%"
    assert status["nodes"] == {
        "total": 3,
        "managed": 3,
        "announced": 3,
        "withoutPodCIDR": 0,
        "ok": 3,
    }
    assert status["findingCounts"] == {"info": 0, "warning": 0, "critical": 0}
    assert status["netConf"]["source"] == "configmap" and status["netConf"]["port"] == 8472


def test_node_status_gives_the_show_blocks_columns(pods: list[dict[str, Any]]) -> None:
    report = build_report(healthy_nodes(), upstream_net_conf(), pods)

    status = node_status(report.nodes[0])

    assert status["podCIDR"] == "10.244.0.0/24" and status["publicIP"] == "192.168.56.10"
    assert status["backendType"] == "vxlan" and status["vtepMAC"] == "e6:7c:02:8e:e8:7e"
    assert status["ipsUsed"] == "2/253" and status["utilization"] == "0.8%"
    assert (
        status["state"] == "OK" and status["findings"] == [] and status["worstSeverity"] == "none"
    )


def test_cluster_findings_are_capped_and_counted() -> None:
    status = network_status(_broken_report())

    assert len(status["findings"]) == 100
    assert status["findingsOmitted"] == sum(status["findingCounts"].values()) - 100
    assert status["findings"][0]["severity"] == "critical"


def test_ipv6_counts_beyond_int64_become_strings() -> None:
    report = _broken_report()
    status = network_status(report)

    assert report.ipv6 is not None and report.ipv6.subnets == 2**56
    assert status["capacity"]["ipv6"]["subnets"] == 2**56
    assert k8s_int(2**63) == str(2**63) and k8s_int(2**63 - 1) == 2**63 - 1
    ds = next(n for n in report.nodes if n.name == "ds-1")
    assert node_status(ds)["ipv6"]["usableIPs"] == str(2**64 - 2)
