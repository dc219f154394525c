"""net-conf.json parsing: the variants flanneld accepts and the ones it refuses."""

import json
from ipaddress import IPv4Address, IPv4Network, IPv6Network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from podpilot.flannel.engine.netconf import parse_net_conf

from .._fixtures import upstream_net_conf


def test_upstream_configmap_parses_with_flannel_defaults() -> None:
    result = parse_net_conf(upstream_net_conf())

    assert result.error is None
    assert result.conf is not None
    assert result.conf.network == IPv4Network("10.244.0.0/16")
    assert result.conf.enable_ipv4 is True
    assert result.conf.enable_ipv6 is False
    assert result.conf.backend.type == "vxlan"
    assert result.conf.backend.vni == 1
    assert result.conf.backend.port == 8472
    assert result.conf.backend.mtu_overhead == 50
    assert result.conf.etcd_only_fields == ()


@pytest.mark.parametrize(
    ("text", "backend", "vni", "port", "direct_routing"),
    [
        ('{"Network":"10.0.0.0/8"}', "udp", None, 8285, False),
        (
            '{"Network":"10.0.0.0/8","Backend":{"Type":"VXLAN","VNI":4096,"Port":4789}}',
            "vxlan",
            4096,
            4789,
            False,
        ),
        (
            '{"Network":"10.0.0.0/8","Backend":{"Type":"vxlan","Port":0,"DirectRouting":true}}',
            "vxlan",
            1,
            8472,
            True,
        ),
        ('{"Network":"10.0.0.0/8","Backend":{"Type":"host-gw"}}', "host-gw", None, None, False),
        (
            '{"Network":"10.0.0.0/8","Backend":{"Type":"ipip","DirectRouting":true}}',
            "ipip",
            None,
            None,
            True,
        ),
        (
            '{"Network":"10.0.0.0/8","Backend":{"Type":"wireguard"}}',
            "wireguard",
            None,
            51820,
            False,
        ),
        ('{"Network":"10.0.0.0/8","Backend":{"Type":"udp","Port":7890}}', "udp", None, 7890, False),
        ('{"Network":"10.0.0.0/8","Backend":{"Type":"alloc"}}', "alloc", None, None, False),
    ],
    ids=[
        "no backend means udp",
        "upper-case type and custom vni",
        "port 0 is the kernel default",
        "host-gw",
        "ipip direct routing",
        "wireguard listen port",
        "udp port",
        "alloc",
    ],
)
def test_backend_variants(
    text: str, backend: str, vni: int | None, port: int | None, direct_routing: bool
) -> None:
    conf = parse_net_conf(text).conf

    assert conf is not None
    assert (conf.backend.type, conf.backend.vni, conf.backend.port) == (backend, vni, port)
    assert conf.backend.direct_routing is direct_routing


def test_keys_match_case_insensitively_like_go() -> None:
    conf = parse_net_conf('{"network":"10.1.0.0/16","backend":{"type":"vxlan","vni":7}}').conf

    assert conf is not None
    assert conf.network == IPv4Network("10.1.0.0/16")
    assert conf.backend.vni == 7


def test_host_bits_are_masked_like_go_parse_cidr() -> None:
    conf = parse_net_conf('{"Network":"10.244.3.7/16"}').conf

    assert conf is not None
    assert conf.network == IPv4Network("10.244.0.0/16")


def test_dual_stack_and_ipv6_only() -> None:
    dual = parse_net_conf(
        '{"Network":"10.244.0.0/16","IPv6Network":"fd00:10:244::/56","EnableIPv6":true,'
        '"Backend":{"Type":"vxlan"}}'
    ).conf
    v6_only = parse_net_conf(
        '{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00::/48",'
        '"Backend":{"Type":"host-gw"}}'
    ).conf

    assert dual is not None and dual.ipv6_network == IPv6Network("fd00:10:244::/56")
    assert dual.enable_ipv6 is True
    assert v6_only is not None and v6_only.network is None
    assert v6_only.ipv6_network == IPv6Network("fd00::/48")


def test_etcd_only_fields_are_parsed_and_listed() -> None:
    conf = parse_net_conf(
        '{"Network":"10.5.0.0/16","SubnetLen":26,"SubnetMin":"10.5.1.0","SubnetMax":"10.5.20.0"}'
    ).conf

    assert conf is not None
    assert conf.subnet_len == 26
    assert conf.subnet_min == IPv4Address("10.5.1.0")
    assert conf.subnet_max == IPv4Address("10.5.20.0")
    assert conf.etcd_only_fields == ("SubnetLen", "SubnetMin", "SubnetMax")


def test_unknown_keys_such_as_enable_nftables_are_ignored() -> None:
    result = parse_net_conf('{"Network":"10.244.0.0/16","EnableNFTables":true,"Foo":1}')

    assert result.error is None


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (None, "not found"),
        ("", "not valid JSON"),
        ('{"Network": "10.244.0.0/16",}', "not valid JSON"),
        ('// comment\n{"Network": "10.244.0.0/16"}', "not valid JSON"),
        ('["10.244.0.0/16"]', "JSON object"),
        ("{}", "Network is required"),
        ('{"Network":"10.244.0.0/33"}', "not a valid CIDR"),
        ('{"Network":"fd00::/48"}', "not an IPv4 network"),
        ('{"Network":42}', "CIDR string"),
        ('{"Network":"10.244.0.0/16","EnableIPv4":"true"}', "true or false"),
        ('{"Network":"10.244.0.0/16","EnableIPv6":true}', "IPv6Network is required"),
        ('{"EnableIPv4":false}', "both EnableIPv4 and EnableIPv6 are false"),
        ('{"Network":"10.244.0.0/16","Backend":{}}', "Backend.Type"),
        ('{"Network":"10.244.0.0/16","Backend":null}', "Backend must be"),
        ('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":"1"}}', "VNI"),
        ('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":true}}', "VNI"),
        ('{"Network":"10.244.0.0/16","SubnetLen":24.0}', "SubnetLen"),
        ('{"Network":"10.244.0.0/16","SubnetMin":"fd00::1"}', "SubnetMin"),
    ],
    ids=[
        "missing",
        "empty",
        "trailing comma",
        "comment",
        "array",
        "no network",
        "bad prefix",
        "v6 as Network",
        "number as Network",
        "string bool",
        "v6 enabled without network",
        "nothing enabled",
        "backend without type",
        "null backend",
        "vni as string",
        "vni as bool",
        "float subnet len",
        "v6 subnet min",
    ],
)
def test_configurations_flannel_refuses_become_errors(text: str | None, fragment: str) -> None:
    result = parse_net_conf(text)

    assert result.conf is None
    assert result.error is not None and fragment in result.error


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "Network",
                    "IPv6Network",
                    "EnableIPv4",
                    "EnableIPv6",
                    "Backend",
                    "Type",
                    "VNI",
                    "Port",
                    "SubnetLen",
                    "SubnetMin",
                    "DirectRouting",
                    "x",
                ]
            ),
            children,
            max_size=6,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_json_values)
def test_never_raises_and_returns_exactly_one_of_conf_or_error(document: object) -> None:
    result = parse_net_conf(json.dumps(document))

    assert (result.conf is None) != (result.error is None)


@given(st.text(max_size=200))
def test_arbitrary_text_never_raises(text: str) -> None:
    result = parse_net_conf(text)

    assert (result.conf is None) != (result.error is None)


def test_a_net_conf_nested_too_deeply_is_invalid_json() -> None:
    result = parse_net_conf("[" * 100_000 + "]" * 100_000)
    assert result.error == "net-conf.json is not valid JSON: nested too deeply"
