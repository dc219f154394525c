"""Annotation names under a prefix, prefix detection, and backend-data per backend."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from podpilot.flannel.engine.annotations import (
    OtherData,
    VxlanData,
    WireguardData,
    annotation_keys,
    detect_prefix,
    parse_backend_data,
    read_annotations,
)

from .._fixtures import healthy_nodes, load_json


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("flannel.alpha.coreos.com", "flannel.alpha.coreos.com/public-ip"),
        ("flannel.alpha.coreos.com/", "flannel.alpha.coreos.com/public-ip"),
        ("example.com/net", "example.com/net-public-ip"),
        ("example.com/net-", "example.com/net-public-ip"),
    ],
)
def test_prefix_is_normalized_like_flanneld(prefix: str, expected: str) -> None:
    assert annotation_keys(prefix).public_ip == expected


@pytest.mark.parametrize("prefix", ["a/b/c", "NoDots", "Upper.Case.com"])
def test_prefixes_flanneld_rejects_raise(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        annotation_keys(prefix)


def test_detect_prefix_finds_the_default_and_a_custom_one() -> None:
    custom = healthy_nodes()[0]
    custom["metadata"]["annotations"] = {"example.com/net-kube-subnet-manager": "true"}

    assert detect_prefix(healthy_nodes()) == "flannel.alpha.coreos.com/"
    assert detect_prefix([custom]) == "example.com/net-"
    assert detect_prefix([{"metadata": {}}, {}]) is None


def test_detect_prefix_ignores_keys_flanneld_could_not_have_written() -> None:
    node = healthy_nodes()[0]
    node["metadata"]["annotations"] = {
        "foo/kube-subnet-manager": "true",
        "kube-subnet-manager": "1",
    }

    assert detect_prefix([node]) is None


def test_read_annotations_of_a_healthy_vxlan_node() -> None:
    notes = read_annotations(healthy_nodes()[0], annotation_keys())

    assert notes.kube_subnet_manager is True
    assert notes.backend_type == "vxlan"
    assert notes.backend_data.data == VxlanData(vni=1, vtep_mac="e6:7c:02:8e:e8:7e")
    assert notes.public_ip is not None and str(notes.public_ip.address) == "192.168.56.10"
    assert notes.public_ipv6 is None


def test_wireguard_and_host_gw_fixtures() -> None:
    keys = annotation_keys()
    wireguard = read_annotations(load_json("node-wireguard.json"), keys)
    host_gw = read_annotations(load_json("node-host-gw.json"), keys)

    assert isinstance(wireguard.backend_data.data, WireguardData)
    assert wireguard.backend_data.data.public_key.endswith("=")
    assert host_gw.backend_data.data is None and host_gw.backend_data.error is None


@pytest.mark.parametrize(
    ("backend", "raw", "fragment"),
    [
        ("vxlan", "{VNI:1}", "not valid JSON"),
        ("vxlan", "", "not valid JSON"),
        ("vxlan", "null", "needs backend-data"),
        ("vxlan", "[1]", "JSON object"),
        ("vxlan", '{"VNI":"1","VtepMAC":"e6:7c:02:8e:e8:7e"}', "uint16"),
        ("vxlan", '{"VNI":70000,"VtepMAC":"e6:7c:02:8e:e8:7e"}', "uint16"),
        ("vxlan", '{"VNI":1,"VtepMAC":"e6:7c:02:8e:e8"}', "6-byte MAC"),
        ("vxlan", '{"VNI":1}', "6-byte MAC"),
        ("wireguard", '{"Port":51820}', "PublicKey"),
        ("wireguard", '{"PublicKey":"k","Port":"x"}', "port number"),
        ("wireguard", "null", "needs backend-data"),
    ],
)
def test_malformed_backend_data_is_reported_not_raised(
    backend: str, raw: str, fragment: str
) -> None:
    result = parse_backend_data(backend, raw)

    assert result.data is None
    assert result.error is not None and fragment in result.error
    assert result.raw == raw


def test_raw_value_is_truncated_to_256_characters() -> None:
    result = parse_backend_data("vxlan", "x" * 1000)

    assert result.raw == "x" * 256


@pytest.mark.parametrize(
    ("raw", "mac"),
    [
        ('{"VNI":1,"VtepMAC":"E6:7C:02:8E:E8:7E"}', "e6:7c:02:8e:e8:7e"),
        ('{"vni":1,"vtepmac":"e6-7c-02-8e-e8-7e"}', "e6:7c:02:8e:e8:7e"),
        ('{"VNI":1,"VtepMAC":"e67c.028e.e87e"}', "e6:7c:02:8e:e8:7e"),
    ],
    ids=["upper case", "dashes and lower-case keys", "dotted"],
)
def test_mac_notations_go_accepts_are_normalized(raw: str, mac: str) -> None:
    result = parse_backend_data("vxlan", raw)

    assert result.data == VxlanData(vni=1, vtep_mac=mac)


@pytest.mark.parametrize("backend", ["host-gw", "ipip", "udp", None])
def test_null_is_valid_for_backends_without_data(backend: str | None) -> None:
    assert parse_backend_data(backend, "null").error is None


def test_unknown_backend_data_is_kept_verbatim() -> None:
    assert parse_backend_data("extension", '{"a":1}').data == OtherData('{"a":1}')


def test_invalid_public_ip_keeps_the_raw_text() -> None:
    node = healthy_nodes()[0]
    node["metadata"]["annotations"]["flannel.alpha.coreos.com/public-ip"] = "10.0.0.999"

    notes = read_annotations(node, annotation_keys())

    assert notes.public_ip is not None
    assert notes.public_ip.address is None and notes.public_ip.raw == "10.0.0.999"


def test_node_without_annotations_reads_as_absent() -> None:
    notes = read_annotations({"metadata": {"name": "bare"}}, annotation_keys())

    assert notes.any_present is False and notes.kube_subnet_manager is False
    assert notes.backend_data.data is None and notes.backend_data.error is None


@given(st.sampled_from(["vxlan", "wireguard", "host-gw", "VXLAN", None]), st.text(max_size=80))
def test_backend_data_parsing_never_raises(backend: str | None, raw: str) -> None:
    result = parse_backend_data(backend, raw)

    assert result.error is None or result.data is None


@given(
    st.dictionaries(
        st.sampled_from(["VNI", "vni", "VtepMAC", "PublicKey", "Port"]),
        st.none() | st.integers() | st.text(max_size=20) | st.booleans(),
    )
)
def test_vxlan_data_is_either_decoded_or_malformed(document: dict[str, object]) -> None:
    result = parse_backend_data("vxlan", json.dumps(document))

    assert isinstance(result.data, VxlanData) or result.error is not None


def test_backend_data_nested_too_deeply_is_malformed_and_its_reason_short() -> None:
    """Both fit in an annotation (256 KiB): neither may stop the report or swell it."""
    nested = parse_backend_data("vxlan", "[" * 100_000 + "]" * 100_000)
    assert (nested.data, nested.error) == (None, "JSON nested too deeply")
    assert nested.raw is not None and len(nested.raw) == 256
    huge_vni = parse_backend_data("vxlan", json.dumps({"VNI": "9" * 200_000}))
    assert huge_vni.data is None and huge_vni.error is not None
    assert len(huge_vni.error) == 256 and huge_vni.error.startswith('VNI "999')
