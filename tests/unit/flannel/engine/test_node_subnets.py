"""Node rows: podCIDR(s) as flanneld reads them, usable IPs, pod IPs in use."""

from datetime import UTC, datetime
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Any

import pytest

from podpilot.flannel.engine.annotations import annotation_keys
from podpilot.flannel.engine.node_subnets import (
    build_node_subnet,
    pod_ref,
    read_pod_cidrs,
    usable_ips,
)

from .._fixtures import healthy_nodes, load_json, pod


def _spec(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "n"}, "spec": spec}


def test_dual_stack_in_either_order() -> None:
    v6_first = read_pod_cidrs(load_json("node-dualstack-v6-first.json"))
    v4_first = read_pod_cidrs(_spec(podCIDR="10.1.0.0/24", podCIDRs=["10.1.0.0/24", "fd00::/64"]))

    assert v6_first.ipv4 == IPv4Network("10.244.1.0/24")
    assert v6_first.ipv6 == IPv6Network("fd00:10:244:1::/64")
    assert v6_first.errors == () and v6_first.primary_mismatch is None
    assert (v4_first.ipv4, v4_first.ipv6) == (IPv4Network("10.1.0.0/24"), IPv6Network("fd00::/64"))


@pytest.mark.parametrize(
    "spec",
    [{}, {"podCIDR": ""}, {"podCIDRs": []}, {"podCIDR": "", "podCIDRs": []}],
    ids=["no fields", "empty string", "empty list", "both empty"],
)
def test_unassigned_pod_cidr(spec: dict[str, Any]) -> None:
    cidrs = read_pod_cidrs(_spec(**spec))

    assert not cidrs.assigned and cidrs.errors == ()


def test_ipv6_only_from_pod_cidr_alone() -> None:
    cidrs = read_pod_cidrs(_spec(podCIDR="fd00:1::/64"))

    assert cidrs.ipv4 is None and cidrs.ipv6 == IPv6Network("fd00:1::/64")


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"podCIDRs": ["10.0.0.0/24", "fd00::/64", "10.0.1.0/24"]}, "3 podCIDRs"),
        ({"podCIDRs": ["10.0.0.0/24", "10.0.1.0/24"]}, "two IPv4"),
        ({"podCIDRs": ["fd00::/64", "fd01::/64"]}, "two IPv6"),
        ({"podCIDR": "banana"}, "not a valid CIDR"),
        ({"podCIDR": 7}, "unexpected type"),
    ],
)
def test_pod_cidr_specs_flannel_cannot_use(spec: dict[str, Any], fragment: str) -> None:
    cidrs = read_pod_cidrs(_spec(**spec))

    assert any(fragment in error for error in cidrs.errors)


def test_pod_cidr_differing_from_first_pod_cidrs_entry() -> None:
    cidrs = read_pod_cidrs(_spec(podCIDR="10.0.9.0/24", podCIDRs=["10.0.0.0/24"]))

    assert cidrs.primary_mismatch is not None and "10.0.9.0/24" in cidrs.primary_mismatch
    assert cidrs.ipv4 == IPv4Network("10.0.0.0/24")


@pytest.mark.parametrize(
    ("cidr", "expected"),
    [
        ("10.0.0.0/24", 253),
        ("10.0.0.0/16", 65533),
        ("10.0.0.0/30", 1),
        ("10.0.0.0/31", 0),
        ("10.0.0.0/32", 0),
        ("fd00::/64", 2**64 - 2),
        ("fd00::/120", 254),
    ],
)
def test_usable_ips(cidr: str, expected: int) -> None:
    assert usable_ips(ip_network(cidr)) == expected


def test_pod_ref_skips_pods_without_a_pod_network_address(pods: list[dict[str, Any]]) -> None:
    refs = [pod_ref(p) for p in pods]

    assert [r.key for r in refs if r] == [
        "kube-system/coredns-5d78c9869d-8x2kq",
        "kube-system/coredns-5d78c9869d-q7wzt",
        "default/web-6d4cf56db6-2lq9m",
    ]


def test_pod_ref_falls_back_to_pod_ip() -> None:
    raw = {
        "metadata": {"name": "old", "namespace": "x"},
        "spec": {"nodeName": "n"},
        "status": {"phase": "Running", "podIP": "10.0.0.5"},
    }

    ref = pod_ref(raw)

    assert ref is not None and ref.ips == ("10.0.0.5",)


def test_row_of_a_healthy_node_counts_its_pods(pods: list[dict[str, Any]]) -> None:
    refs = [r for r in (pod_ref(p) for p in pods) if r and r.node == "control-plane"]

    row = build_node_subnet(healthy_nodes()[0], annotation_keys(), refs)

    assert row.name == "control-plane" and row.managed
    assert row.ipv4 is not None and row.ipv4.pod_ips_in_use == 2 and row.ipv4.usable_ips == 253
    assert row.ipv4.utilization == pytest.approx(2 / 253)
    assert row.ipv6 is None
    assert row.vtep_mac == "e6:7c:02:8e:e8:7e"
    assert row.network_unavailable is False and row.network_unavailable_reason == "FlannelIsUp"
    assert row.allocatable_pods == 110
    assert row.created == datetime(2026, 1, 10, 8, 0, tzinfo=UTC)
    assert row.node_addresses == frozenset({"192.168.56.10"})


def test_pod_ips_outside_the_subnet_and_unparsable_ones_are_kept_apart() -> None:
    refs = [pod_ref(pod("a", "worker-1", "10.244.9.9")), pod_ref(pod("b", "worker-1", "nope"))]

    row = build_node_subnet(healthy_nodes()[1], annotation_keys(), [r for r in refs if r])

    assert row.ipv4 is not None and row.ipv4.pod_ips_in_use == 0
    assert [(s.pod, s.ip) for s in row.pods_outside_subnet] == [("default/a", "10.244.9.9")]
    assert [(s.pod, s.ip) for s in row.invalid_pod_ips] == [("default/b", "nope")]


def test_dual_stack_pod_counts_in_both_families() -> None:
    ref = pod_ref(pod("ds", "ds-1", "10.244.1.5", "fd00:10:244:1::5"))
    assert ref is not None

    row = build_node_subnet(load_json("node-dualstack-v6-first.json"), annotation_keys(), [ref])

    assert row.ipv4 is not None and row.ipv4.pod_ips_in_use == 1
    assert row.ipv6 is not None and row.ipv6.pod_ips_in_use == 1
    assert row.vtep_mac_v6 == "12:34:56:78:9a:bd"


def test_node_without_flannel_annotations_is_unmanaged_unless_told() -> None:
    bare = {"metadata": {"name": "virtual-kubelet"}, "spec": {}, "status": {}}

    assert build_node_subnet(bare, annotation_keys()).managed is False
    assert build_node_subnet(bare, annotation_keys(), flannel_pod_present=True).managed is True
    assert build_node_subnet(bare, annotation_keys(), managed=True).managed is True


def test_garbage_node_object_does_not_raise() -> None:
    junk = {
        "metadata": "x",
        "spec": ["y"],
        "status": {
            "addresses": [1, {"address": 2}],
            "conditions": "z",
            "allocatable": {"pods": "1k"},
        },
    }

    row = build_node_subnet(junk, annotation_keys())

    assert row.name == "" and row.addresses == () and row.allocatable_pods is None


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2026-01-10T08:00:00Z", datetime(2026, 1, 10, 8, 0, tzinfo=UTC)),
        ("2026-01-10T08:00:00", datetime(2026, 1, 10, 8, 0, tzinfo=UTC)),
        ("yesterday", None),
        (1736496000, None),
    ],
    ids=["rfc3339", "naive is read as UTC", "garbage", "number"],
)
def test_creation_timestamp(stamp: object, expected: datetime | None) -> None:
    node = healthy_nodes()[0]
    node["metadata"]["creationTimestamp"] = stamp

    assert build_node_subnet(node, annotation_keys()).created == expected
