"""Cluster capacity: node subnets of the Network, allocated, free; exact for IPv6."""

from ipaddress import IPv4Address, IPv4Network, IPv6Network, ip_network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from podpilot.flannel.engine.cluster import (
    SubnetManager,
    dominant_prefix_len,
    family_capacity,
    infer_network,
    node_prefix_len_for,
)


def _nets(*cidrs: str) -> list[IPv4Network | IPv6Network]:
    return [ip_network(c) for c in cidrs]


def test_kube_mode_counts_every_slot() -> None:
    capacity = family_capacity(
        ip_network("10.244.0.0/16"), _nets("10.244.0.0/24", "10.244.1.0/24"), node_prefix_len=24
    )

    assert (capacity.subnets, capacity.allocated, capacity.free) == (256, 2, 254)
    assert capacity.utilization == pytest.approx(2 / 256)


def test_etcd_mode_skips_the_first_subnet_by_default() -> None:
    capacity = family_capacity(
        ip_network("10.244.0.0/16"),
        _nets("10.244.0.0/24", "10.244.1.0/24"),
        node_prefix_len=24,
        manager=SubnetManager.ETCD,
    )

    # (SubnetMax - SubnetMin) / 2^(32-24) + 1 = 255; the first slot is outside the range.
    assert (capacity.subnets, capacity.allocated) == (255, 1)


def test_etcd_mode_honours_subnet_min_and_max() -> None:
    capacity = family_capacity(
        ip_network("10.5.0.0/16"),
        _nets("10.5.1.0/24", "10.5.30.0/24"),
        node_prefix_len=24,
        manager=SubnetManager.ETCD,
        subnet_min=IPv4Address("10.5.1.0"),
        subnet_max=IPv4Address("10.5.20.0"),
    )

    assert (capacity.subnets, capacity.allocated) == (20, 1)


def test_kube_mode_ignores_subnet_min_and_max_like_flannel() -> None:
    capacity = family_capacity(
        ip_network("10.5.0.0/16"),
        [],
        node_prefix_len=24,
        subnet_min=IPv4Address("10.5.1.0"),
        subnet_max=IPv4Address("10.5.20.0"),
    )

    assert capacity.subnets == 256


def test_overlapping_and_larger_cidrs_count_each_slot_once() -> None:
    capacity = family_capacity(
        ip_network("10.244.0.0/16"),
        _nets("10.244.0.0/23", "10.244.1.0/24", "10.244.1.128/25", "10.99.0.0/24"),
        node_prefix_len=24,
    )

    assert capacity.allocated == 2


def test_whole_network_podcidr_takes_everything() -> None:
    capacity = family_capacity(
        ip_network("10.244.0.0/16"), _nets("10.244.0.0/16"), node_prefix_len=24
    )

    assert capacity.free == 0 and capacity.utilization == 1.0


def test_ipv6_capacity_is_exact_beyond_int64() -> None:
    capacity = family_capacity(ip_network("fd00::/8"), _nets("fd00::/80"), node_prefix_len=80)

    assert capacity.subnets == 2**72
    assert capacity.free == 2**72 - 1


def test_node_mask_shorter_than_network_gives_no_capacity() -> None:
    capacity = family_capacity(ip_network("10.244.0.0/16"), [], node_prefix_len=8)

    assert capacity.subnets == 0 and capacity.utilization == 1.0


def test_node_mask_choice() -> None:
    network = ip_network("10.244.0.0/16")
    cidrs = _nets("10.244.0.0/24", "10.244.1.0/24", "10.244.4.0/23", "10.244.0.0/16")

    assert dominant_prefix_len(cidrs, network) == 24
    assert node_prefix_len_for(network, cidrs, override=26) == 26
    assert node_prefix_len_for(network, [], subnet_len=25) == 25
    assert node_prefix_len_for(network, []) == 24
    assert node_prefix_len_for(ip_network("10.0.0.0/26"), []) == 26
    assert node_prefix_len_for(ip_network("fd00::/48"), []) == 64


def test_infer_network_is_the_smallest_covering_prefix() -> None:
    assert infer_network(_nets("10.244.0.0/24", "10.244.3.0/24")) == ip_network("10.244.0.0/22")
    assert infer_network(_nets("10.244.7.0/24")) == ip_network("10.244.7.0/24")
    assert infer_network(_nets("fd00:1::/64", "fd00:2::/64")) == ip_network("fd00::/30")
    assert infer_network([]) is None


@settings(max_examples=300, deadline=None)
@given(
    network_len=st.integers(8, 24),
    extra=st.integers(0, 8),
    picks=st.lists(st.tuples(st.integers(0, 2**16), st.integers(0, 8)), max_size=30),
)
def test_allocation_matches_slot_enumeration(
    network_len: int, extra: int, picks: list[tuple[int, int]]
) -> None:
    network = IPv4Network(("10.0.0.0", network_len), strict=False)
    mask = network_len + extra
    base = int(network.network_address)
    cidrs = [
        IPv4Network(
            (
                base + (offset << (32 - mask)) % network.num_addresses,
                max(network_len, mask - shrink),
            ),
            strict=False,
        )
        for offset, shrink in picks
    ]
    slots = list(network.subnets(new_prefix=mask))

    capacity = family_capacity(network, cidrs, node_prefix_len=mask)

    taken = {s for s in slots if any(s.overlaps(c) for c in cidrs)}
    assert capacity.subnets == len(slots) == 2**extra
    assert capacity.allocated == len(taken)
    assert capacity.free + capacity.allocated == capacity.subnets


@given(st.integers(0, 2**128 - 1), st.integers(0, 128), st.integers(0, 128))
def test_ipv6_capacity_is_a_power_of_two(address: int, network_len: int, mask: int) -> None:
    network = IPv6Network((address, network_len), strict=False)

    capacity = family_capacity(network, [], node_prefix_len=mask)

    expected = 2 ** (mask - network_len) if mask >= network_len else 0
    assert capacity.subnets == expected and capacity.allocated == 0
