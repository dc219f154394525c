"""Overlap detection, checked against a brute-force pairwise oracle."""

from ipaddress import IPv4Network, IPv6Network, ip_network

from hypothesis import given, settings
from hypothesis import strategies as st

from podpilot.flannel.engine.overlaps import EXAMPLE_LIMIT, find_overlaps

IPNetwork = IPv4Network | IPv6Network


def _oracle(cidrs: dict[str, IPNetwork]) -> dict[str, set[str]]:
    result: dict[str, set[str]] = {}
    for a, ca in cidrs.items():
        others = {b for b, cb in cidrs.items() if b != a and ca.overlaps(cb)}
        if others:
            result[a] = others
    return result


def test_disjoint_subnets_do_not_overlap() -> None:
    cidrs = {f"n{i}": ip_network(f"10.244.{i}.0/24") for i in range(10)}

    assert find_overlaps(cidrs) == {}


def test_whole_network_patch_overlaps_every_node() -> None:
    cidrs: dict[str, IPNetwork] = {f"n{i}": ip_network(f"10.244.{i}.0/24") for i in range(8)}
    cidrs["patched"] = ip_network("10.244.0.0/16")

    result = find_overlaps(cidrs)

    assert result["patched"].count == 8
    assert len(result["patched"].examples) == EXAMPLE_LIMIT
    assert all(result[f"n{i}"].count == 1 for i in range(8))
    assert result["n3"].examples == ("patched",)


def test_same_cidr_on_many_nodes_is_linear_and_exact() -> None:
    cidrs: dict[str, IPNetwork] = {f"n{i:04}": ip_network("10.244.0.0/16") for i in range(5000)}

    result = find_overlaps(cidrs)

    assert len(result) == 5000
    assert result["n0000"].count == 4999
    assert result["n0000"].examples == ("n0001", "n0002", "n0003", "n0004", "n0005")


_v4_cidrs = st.builds(
    lambda address, length: ip_network((address, length), strict=False),
    st.integers(0, 2**12 - 1).map(lambda x: x << 20),
    st.integers(4, 16),
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text("abcdefgh", min_size=1, max_size=3), _v4_cidrs, max_size=25))
def test_matches_pairwise_oracle(cidrs: dict[str, IPNetwork]) -> None:
    expected = _oracle(cidrs)

    result = find_overlaps(cidrs)

    assert set(result) == set(expected)
    for node, overlap in result.items():
        assert overlap.count == len(expected[node])
        assert set(overlap.examples) <= expected[node]
        assert len(overlap.examples) == min(EXAMPLE_LIMIT, len(expected[node]))


_v6_cidrs = st.builds(
    lambda address, length: IPv6Network((address, length), strict=False),
    st.integers(0, 2**128 - 1),
    st.sampled_from([1, 2, 48, 64, 120, 128]),
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text("xyz", min_size=1, max_size=3), _v6_cidrs, max_size=15))
def test_matches_oracle_for_ipv6(cidrs: dict[str, IPNetwork]) -> None:
    expected = _oracle(cidrs)

    result = find_overlaps(cidrs)

    assert {n: o.count for n, o in result.items()} == {n: len(s) for n, s in expected.items()}
