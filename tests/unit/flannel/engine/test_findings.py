"""Every finding in the catalogue, raised from flannel-format fixtures through build_report."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from podpilot.flannel.engine.cluster import SubnetManager
from podpilot.flannel.engine.findings import CATALOGUE, Severity
from podpilot.flannel.engine.report import NetworkReport, ReporterOptions, build_report

from .._fixtures import PREFIX, healthy_nodes, load_json, pod, upstream_net_conf, vxlan_node

NOW = datetime(2026, 1, 20, tzinfo=UTC)


def _report(
    nodes: list[dict[str, Any]],
    net_conf: str | None = None,
    pods: list[dict[str, Any]] | None = None,
    **options: Any,
) -> NetworkReport:
    text = upstream_net_conf() if net_conf is None else net_conf
    return build_report(nodes, text, pods or [], options=ReporterOptions(**options), now=NOW)


def _found(report: NetworkReport, node: str | None = None) -> set[tuple[str, Severity]]:
    return {(f.id, f.severity) for f in report.findings if node is None or f.node == node}


def _notes(node: dict[str, Any]) -> dict[str, str]:
    notes: dict[str, str] = node["metadata"]["annotations"]
    return notes


def test_healthy_cluster_has_no_findings(pods: list[dict[str, Any]]) -> None:
    report = _report(healthy_nodes(), pods=pods)

    assert report.findings == ()
    assert report.nodes_ok == 3
    assert [n.status for n in report.nodes] == ["OK", "OK", "OK"]
    assert report.ipv4 is not None
    assert (report.ipv4.subnets, report.ipv4.allocated, report.ipv4.free) == (256, 3, 253)


def test_catalogue_ids_are_unique_and_documented() -> None:
    assert all(k.id.startswith("FL") and k.meaning and k.remedy for k in CATALOGUE.values())
    assert len({k.name for k in CATALOGUE.values()}) == len(CATALOGUE)


def test_fl001_no_pod_cidr_after_the_grace_period() -> None:
    nodes = healthy_nodes()
    nodes[1]["spec"] = {}
    fresh = vxlan_node("fresh", None, mac="02:00:00:00:00:09", public_ip="192.168.56.99")
    fresh["metadata"]["creationTimestamp"] = (NOW - timedelta(seconds=30)).isoformat()

    report = _report([*nodes, fresh])

    assert _found(report, "worker-1") == {("FL001", Severity.CRITICAL)}
    assert _found(report, "fresh") == set()


def test_fl002_pod_cidr_outside_the_network() -> None:
    nodes = healthy_nodes()
    nodes[2]["spec"] = {"podCIDR": "10.96.5.0/24", "podCIDRs": ["10.96.5.0/24"]}

    assert ("FL002", Severity.CRITICAL) in _found(_report(nodes), "worker-2")


def test_fl003_and_fl004_whole_network_patch() -> None:
    nodes = healthy_nodes()
    nodes[2]["spec"] = {"podCIDR": "10.244.0.0/16", "podCIDRs": ["10.244.0.0/16"]}

    report = _report(nodes)

    assert _found(report, "worker-2") == {
        ("FL003", Severity.CRITICAL),
        ("FL004", Severity.CRITICAL),
    }
    assert _found(report, "worker-1") == {("FL003", Severity.CRITICAL)}
    message = next(f.message for f in report.findings if f.id == "FL003" and f.node == "worker-2")
    assert "overlaps 2 other node(s): control-plane, worker-1" in message


def test_fl003_with_an_unmanaged_node_flags_only_the_managed_one() -> None:
    nodes = healthy_nodes()
    nodes.append({"metadata": {"name": "other-cni"}, "spec": {"podCIDR": "10.244.1.0/24"}})

    report = _report(nodes)

    assert _found(report, "worker-1") == {("FL003", Severity.CRITICAL)}
    assert _found(report, "other-cni") == set()
    assert next(n for n in report.nodes if n.name == "other-cni").status == "Unmanaged"


@pytest.mark.parametrize(
    ("allocated", "expected"),
    [(200, None), (205, Severity.WARNING), (244, Severity.CRITICAL)],
    ids=["78%", "80%", "95%"],
)
def test_fl005_cluster_subnets_exhausting(allocated: int, expected: Severity | None) -> None:
    nodes = [
        vxlan_node(
            f"n{i}",
            f"10.244.{i}.0/24",
            mac=f"02:00:00:00:{i // 256:02x}:{i % 256:02x}",
            public_ip=f"192.168.{i // 256}.{i % 256}",
        )
        for i in range(allocated)
    ]

    found = {sev for fid, sev in _found(_report(nodes)) if fid == "FL005"}

    assert found == (set() if expected is None else {expected})


def test_fl005_critical_on_cidr_not_available_event() -> None:
    assert ("FL005", Severity.CRITICAL) in _found(_report(healthy_nodes(), cidr_not_available=True))


def test_fl006_node_not_announced_escalates_after_grace() -> None:
    nodes = healthy_nodes()
    for name in ("kube-subnet-manager", "public-ip", "backend-type"):
        del _notes(nodes[1])[PREFIX + name]
    young = nodes[2]
    del _notes(young)[PREFIX + "kube-subnet-manager"]
    young["metadata"]["creationTimestamp"] = (NOW - timedelta(minutes=1)).isoformat()

    report = _report(nodes)

    assert _found(report, "worker-1") == {("FL006", Severity.CRITICAL)}
    assert _found(report, "worker-2") == {("FL006", Severity.WARNING)}


def test_fl006_needs_a_node_flannel_runs_on() -> None:
    nodes = healthy_nodes()
    nodes[1]["metadata"]["annotations"] = {}

    assert _found(_report(nodes), "worker-1") == set()
    managed = frozenset({"control-plane", "worker-1", "worker-2"})
    assert ("FL006", Severity.CRITICAL) in _found(_report(nodes, managed_nodes=managed), "worker-1")
    no_pod = frozenset({"control-plane", "worker-2"})
    assert (
        _found(_report(nodes, managed_nodes=managed, flannel_pod_nodes=no_pod), "worker-1") == set()
    )


@pytest.mark.parametrize(
    "raw",
    [
        "{VNI:1}",
        "",
        "null",
        '{"VNI":"1","VtepMAC":"ce:02:6f:d4:71:8a"}',
        '{"VNI":1,"VtepMAC":"zz"}',
    ],
    ids=["not json", "empty", "null for vxlan", "vni as string", "bad mac"],
)
def test_fl007_malformed_backend_data(raw: str) -> None:
    nodes = healthy_nodes()
    _notes(nodes[2])[PREFIX + "backend-data"] = raw

    report = _report(nodes)

    assert _found(report, "worker-2") == {("FL007", Severity.CRITICAL)}
    assert dict(next(f for f in report.findings if f.id == "FL007").evidence)["raw"] == raw


def test_fl007_malformed_backend_v6_data() -> None:
    node = load_json("node-dualstack-v6-first.json")
    _notes(node)[PREFIX + "backend-v6-data"] = '{"VNI":1,"VtepMAC":null}'

    assert ("FL007", Severity.CRITICAL) in _found(_report([node]), "ds-1")


def test_fl008_duplicate_vtep_mac() -> None:
    nodes = healthy_nodes()
    _notes(nodes[2])[PREFIX + "backend-data"] = '{"VNI":1,"VtepMAC":"5A:1B:9E:44:0C:21"}'

    report = _report(nodes)

    assert _found(report, "worker-1") == {("FL008", Severity.CRITICAL)}
    assert _found(report, "worker-2") == {("FL008", Severity.CRITICAL)}


def test_fl009_duplicate_public_ip_vagrant_style() -> None:
    nodes = [
        vxlan_node(
            f"vagrant-{i}", f"10.244.{i}.0/24", mac=f"02:00:00:00:00:0{i}", public_ip="10.0.2.15"
        )
        for i in range(3)
    ]

    report = _report(nodes)

    assert {f.node for f in report.findings if f.id == "FL009"} == {
        "vagrant-0",
        "vagrant-1",
        "vagrant-2",
    }
    assert all(sev is Severity.CRITICAL for fid, sev in _found(report) if fid == "FL009")


def test_fl010_public_ip_not_a_node_address() -> None:
    nodes = healthy_nodes()
    _notes(nodes[1])[PREFIX + "public-ip"] = "10.0.2.15"

    assert _found(_report(nodes), "worker-1") == {("FL010", Severity.WARNING)}


def test_fl010_is_silenced_by_an_overwrite_and_fl011_fires_until_restart() -> None:
    nodes = healthy_nodes()
    _notes(nodes[1])[PREFIX + "public-ip"] = "10.0.2.15"
    _notes(nodes[1])[PREFIX + "public-ip-overwrite"] = "203.0.113.7"
    _notes(nodes[2])[PREFIX + "node-public-ip"] = "192.168.56.12"

    report = _report(nodes)

    assert _found(report, "worker-1") == {("FL011", Severity.WARNING)}
    assert _found(report, "worker-2") == set()


def test_fl012_backend_type_mismatch() -> None:
    nodes = [load_json("node-host-gw.json"), *healthy_nodes()]

    assert _found(_report(nodes), "hg-1") == {("FL012", Severity.CRITICAL)}


def test_fl013_vni_mismatch() -> None:
    nodes = healthy_nodes()
    _notes(nodes[1])[PREFIX + "backend-data"] = '{"VNI":4096,"VtepMAC":"5a:1b:9e:44:0c:21"}'

    assert _found(_report(nodes), "worker-1") == {("FL013", Severity.CRITICAL)}


DUAL_STACK_CONF = json.dumps(
    {
        "Network": "10.244.0.0/16",
        "IPv6Network": "fd00:10:244::/56",
        "EnableIPv6": True,
        "Backend": {"Type": "vxlan"},
    }
)


def test_dual_stack_fixture_is_clean_with_a_dual_stack_net_conf() -> None:
    report = _report([load_json("node-dualstack-v6-first.json")], DUAL_STACK_CONF)

    assert report.findings == ()
    assert report.ipv6 is not None and report.ipv6.node_prefix_len == 64
    assert report.ipv6.subnets == 256 and report.ipv6.allocated == 1


def test_fl014_dual_stack_incomplete_both_ways() -> None:
    v4_only_node = healthy_nodes()[1]
    v6_node_without_v6_network = load_json("node-dualstack-v6-first.json")

    enabled = _report([v4_only_node], DUAL_STACK_CONF)
    disabled = _report([v6_node_without_v6_network])

    assert _found(enabled, "worker-1") == {("FL014", Severity.WARNING)}
    assert (
        "no IPv6 podCIDR; no public-ipv6 annotation; no backend-v6-data"
        in enabled.findings[0].message
    )
    assert ("FL014", Severity.WARNING) in _found(disabled, "ds-1")


def test_fl015_network_unavailable() -> None:
    nodes = healthy_nodes()
    nodes[1]["status"]["conditions"][0].update(status="True", reason="NoRouteCreated")

    assert _found(_report(nodes), "worker-1") == {("FL015", Severity.CRITICAL)}


def test_fl016_subnet_too_small_for_max_pods() -> None:
    node = vxlan_node("small", "10.244.9.0/25", mac="02:00:00:00:00:01", public_ip="192.168.56.11")
    node["status"]["allocatable"]["pods"] = "250"

    assert _found(_report([*healthy_nodes()[:1], node]), "small") == {("FL016", Severity.WARNING)}


@pytest.mark.parametrize(
    ("used", "expected"),
    [(215, set()), (216, {("FL017", Severity.WARNING)}), (248, {("FL017", Severity.CRITICAL)})],
    ids=["84.98%", "85.4%", "98%"],
)
def test_fl017_node_ip_pressure(used: int, expected: set[tuple[str, Severity]]) -> None:
    node = vxlan_node("busy", "10.244.5.0/24", mac="02:00:00:00:00:05", public_ip="192.168.56.11")
    pods = [pod(f"p{i}", "busy", f"10.244.5.{i + 2}") for i in range(used)]

    assert _found(_report([node], pods=pods), "busy") == expected


@pytest.mark.parametrize(
    "text",
    [None, '{"Network": "10.244.0.0/16",}', "{}"],
    ids=["configmap missing", "trailing comma", "no network"],
)
def test_fl018_net_conf_unavailable_infers_the_network(text: str | None) -> None:
    nodes = healthy_nodes()
    nodes[2]["spec"] = {"podCIDR": "10.244.0.0/16", "podCIDRs": ["10.244.0.0/16"]}
    report = build_report(nodes, text, [], now=NOW)

    assert report.network_source == "inferred"
    assert report.ipv4 is not None and str(report.ipv4.network) == "10.244.0.0/16"
    assert report.ipv4.inferred
    assert {fid for fid, _ in _found(report)} == {"FL018", "FL003"}
    assert "inferred from node podCIDRs: 10.244.0.0/16" in report.cluster_findings[0].message


def test_fl021_duplicate_pod_ip() -> None:
    pods = [pod("a", "worker-1", "10.244.1.7"), pod("b", "worker-2", "10.244.1.7")]

    report = _report(healthy_nodes(), pods=pods)

    dup = [f for f in report.cluster_findings if f.id == "FL021"]
    assert len(dup) == 1 and dup[0].severity is Severity.CRITICAL and dup[0].node is None
    assert "default/a on worker-1, default/b on worker-2" in dup[0].message


def test_fl022_pod_ip_outside_node_subnet() -> None:
    pods = [pod("stale", "worker-2", "10.244.1.50")]

    assert _found(_report(healthy_nodes(), pods=pods), "worker-2") == {("FL022", Severity.WARNING)}


@pytest.mark.parametrize(
    ("annotation", "severity"),
    [
        ("public-ip", Severity.CRITICAL),
        ("public-ip-overwrite", Severity.WARNING),
        ("node-public-ip", Severity.WARNING),
    ],
)
def test_fl027_invalid_address_annotation(annotation: str, severity: Severity) -> None:
    nodes = healthy_nodes()
    _notes(nodes[1])[PREFIX + annotation] = "192.168.56.300"

    assert ("FL027", severity) in _found(_report(nodes), "worker-1")


def test_fl027_invalid_node_address_and_pod_ip() -> None:
    nodes = healthy_nodes()
    nodes[1]["status"]["addresses"].append({"type": "ExternalIP", "address": "not-an-ip"})
    pods = [pod("weird", "worker-2", "10.244.2.x")]

    report = _report(nodes, pods=pods)

    assert ("FL027", Severity.WARNING) in _found(report, "worker-1")
    assert ("FL027", Severity.WARNING) in _found(report, "worker-2")


def test_fl028_pod_cidr_spec_invalid() -> None:
    nodes = healthy_nodes()
    nodes[1]["spec"]["podCIDRs"] = ["10.244.1.0/24", "10.244.7.0/24"]
    nodes[2]["spec"]["podCIDR"] = "10.244.8.0/24"

    report = _report(nodes)

    assert ("FL028", Severity.CRITICAL) in _found(report, "worker-1")
    assert _found(report, "worker-2") == {("FL028", Severity.WARNING)}


def test_fl029_etcd_only_fields_in_kube_mode_only() -> None:
    text = '{"Network":"10.244.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan"}}'

    assert _found(_report(healthy_nodes(), text)) == {("FL029", Severity.INFO)}
    assert _found(_report(healthy_nodes(), text, subnet_manager=SubnetManager.ETCD)) == set()


def test_custom_annotation_prefix_is_detected() -> None:
    nodes = healthy_nodes()
    for node in nodes:
        notes = _notes(node)
        node["metadata"]["annotations"] = {
            k.replace(PREFIX, "example.com/net-"): v for k, v in notes.items()
        }

    report = _report(nodes)

    assert report.annotation_prefix == "example.com/net-"
    assert report.findings == ()


def test_ipv6_only_cluster() -> None:
    text = json.dumps(
        {
            "EnableIPv4": False,
            "EnableIPv6": True,
            "IPv6Network": "fd00:10:244::/56",
            "Backend": {"Type": "vxlan"},
        }
    )
    node = load_json("node-dualstack-v6-first.json")
    node["spec"] = {"podCIDR": "fd00:10:244:1::/64", "podCIDRs": ["fd00:10:244:1::/64"]}
    del _notes(node)[PREFIX + "public-ip"]
    del _notes(node)[PREFIX + "backend-data"]

    report = _report([node], text)

    assert report.ipv4 is None and report.ipv6 is not None
    assert report.findings == ()


def test_garbage_input_never_raises() -> None:
    junk: list[Any] = [None, 3, {"metadata": None}, {"metadata": {"name": "x", "annotations": [1]}}]

    junk_pods: list[Any] = [None, {"spec": None}]

    report = build_report(junk, "{]", junk_pods, now=NOW)

    assert report.network_source == "inferred"
    assert {f.id for f in report.findings} == {"FL018"}


_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-5, 300)
    | st.sampled_from(
        [
            "",
            "true",
            "vxlan",
            "10.244.1.0/24",
            "fd00::/64",
            "10.0.0.1",
            "null",
            '{"VNI":1,"VtepMAC":"02:00:00:00:00:01"}',
            "{",
            "110",
            "True",
        ]
    )
)
_node_keys = st.sampled_from(
    [
        "metadata",
        "spec",
        "status",
        "name",
        "annotations",
        "podCIDR",
        "podCIDRs",
        "addresses",
        "address",
        "type",
        "conditions",
        "allocatable",
        "pods",
        "creationTimestamp",
        PREFIX + "backend-type",
        PREFIX + "backend-data",
        PREFIX + "public-ip",
        PREFIX + "kube-subnet-manager",
    ]
)
_junk_nodes = st.recursive(
    _leaf,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(_node_keys, children, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_junk_nodes, max_size=4))
def test_build_report_survives_arbitrary_node_shapes(nodes: list[Any]) -> None:
    report = build_report(nodes, upstream_net_conf(), [], now=NOW)

    assert len(report.nodes) == sum(1 for n in nodes if isinstance(n, dict))
