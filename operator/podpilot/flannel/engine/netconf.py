"""Parse flannel's ``net-conf.json`` into a :class:`NetConf`, accepting what flanneld accepts.

The rules follow ``flannel-io/flannel:pkg/subnet/config.go`` (``ParseConfig``) and the backend
constructors: ``EnableIPv4`` defaults to true, a missing ``Backend`` means ``udp``, keys match
case-insensitively, and the backend type is compared lower-cased. ``SubnetLen``, ``SubnetMin`` and
``SubnetMax`` (and their IPv6 twins) are parsed but only matter to the etcd subnet manager; in
kube mode the node mask comes from kube-controller-manager.

Anything flanneld would refuse to start with (bad JSON, comments, trailing commas, a wrong type,
an unusable Network) is returned as an error string, never raised.
"""

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Any

from podpilot.flannel.engine._gojson import go_field, is_go_int

VXLAN_KERNEL_DEFAULT_PORT = 8472
UDP_BACKEND_DEFAULT_PORT = 8285
WIREGUARD_DEFAULT_PORT = 51820
DEFAULT_VNI = 1

# Bytes each backend takes from the external interface MTU (FLANNEL_MTU = iface MTU - overhead).
# WireGuard is left out: flannel computes it at runtime and we have not verified the constant.
MTU_OVERHEAD_BY_BACKEND: Mapping[str, int] = {"vxlan": 50, "ipip": 20, "udp": 28, "host-gw": 0}

ETCD_ONLY_FIELDS = (
    "SubnetLen",
    "SubnetMin",
    "SubnetMax",
    "IPv6SubnetLen",
    "IPv6SubnetMin",
    "IPv6SubnetMax",
)


@dataclass(frozen=True)
class Backend:
    """The ``Backend`` object of net-conf.json.

    Attributes:
        type: Backend type, lower-cased (``vxlan``, ``host-gw``, ``wireguard``, ...).
        vni: VXLAN network identifier (vxlan only; default 1).
        port: The UDP port the data plane listens on, with flannel's defaults applied
            (vxlan ``Port: 0`` means the kernel default 8472), or None if the backend has none.
        direct_routing: ``DirectRouting`` (vxlan and ipip).
        mtu_overhead: Bytes the backend subtracts from the interface MTU, None if unknown.
    """

    type: str
    vni: int | None = None
    port: int | None = None
    direct_routing: bool = False
    mtu_overhead: int | None = None


@dataclass(frozen=True)
class NetConf:
    """A valid flannel network configuration.

    Attributes:
        network: IPv4 cluster network (``Network``), None when IPv4 is disabled.
        ipv6_network: IPv6 cluster network (``IPv6Network``), None when absent.
        enable_ipv4: ``EnableIPv4`` (default true).
        enable_ipv6: ``EnableIPv6`` (default false).
        backend: The parsed backend.
        subnet_len: ``SubnetLen`` if set (etcd mode only).
        subnet_min: ``SubnetMin`` if set (etcd mode only).
        subnet_max: ``SubnetMax`` if set (etcd mode only).
        ipv6_subnet_len: ``IPv6SubnetLen`` if set (etcd mode only).
        etcd_only_fields: Names of the etcd-only keys present, which kube mode ignores.
    """

    network: IPv4Network | None
    ipv6_network: IPv6Network | None
    enable_ipv4: bool
    enable_ipv6: bool
    backend: Backend
    subnet_len: int | None = None
    subnet_min: IPv4Address | None = None
    subnet_max: IPv4Address | None = None
    ipv6_subnet_len: int | None = None
    etcd_only_fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class NetConfResult:
    """The outcome of parsing: exactly one of ``conf`` and ``error`` is set."""

    conf: NetConf | None
    error: str | None


class _InvalidConfigError(ValueError):
    """A reason flanneld would refuse this configuration."""


def parse_net_conf(text: str | None) -> NetConfResult:
    """Parse the text of ``net-conf.json``.

    Args:
        text: The ConfigMap value, or None when the ConfigMap or its key is missing.

    Returns:
        A result holding the :class:`NetConf`, or a human-readable error.
    """
    if text is None:
        return NetConfResult(None, "net-conf.json not found (ConfigMap or key missing)")
    try:
        document = json.loads(text)
    except ValueError as error:
        # flanneld uses Go's strict decoder: comments and trailing commas are fatal there too.
        return NetConfResult(None, f"net-conf.json is not valid JSON: {error}")
    except RecursionError:
        return NetConfResult(None, "net-conf.json is not valid JSON: nested too deeply")
    if not isinstance(document, dict):
        return NetConfResult(None, "net-conf.json must be a JSON object")
    try:
        return NetConfResult(_build(document), None)
    except _InvalidConfigError as error:
        return NetConfResult(None, str(error))


def _build(document: Mapping[str, Any]) -> NetConf:
    enable_ipv4 = _bool(document, "EnableIPv4", default=True)
    enable_ipv6 = _bool(document, "EnableIPv6", default=False)
    network = _network(document, "Network", version=4)
    ipv6_network = _network(document, "IPv6Network", version=6)
    assert network is None or isinstance(network, IPv4Network)
    assert ipv6_network is None or isinstance(ipv6_network, IPv6Network)
    if not enable_ipv4 and not enable_ipv6:
        raise _InvalidConfigError("both EnableIPv4 and EnableIPv6 are false: no network to run")
    if enable_ipv4 and network is None:
        raise _InvalidConfigError("Network is required while EnableIPv4 is true")
    if enable_ipv6 and ipv6_network is None:
        raise _InvalidConfigError("IPv6Network is required while EnableIPv6 is true")
    subnet_min = _address(document, "SubnetMin", version=4)
    subnet_max = _address(document, "SubnetMax", version=4)
    _address(document, "IPv6SubnetMin", version=6)
    _address(document, "IPv6SubnetMax", version=6)
    return NetConf(
        network=network if enable_ipv4 else None,
        ipv6_network=ipv6_network,
        enable_ipv4=enable_ipv4,
        enable_ipv6=enable_ipv6,
        backend=_backend(document),
        subnet_len=_uint(document, "SubnetLen", maximum=32),
        subnet_min=subnet_min if isinstance(subnet_min, IPv4Address) else None,
        subnet_max=subnet_max if isinstance(subnet_max, IPv4Address) else None,
        ipv6_subnet_len=_uint(document, "IPv6SubnetLen", maximum=128),
        etcd_only_fields=tuple(f for f in ETCD_ONLY_FIELDS if go_field(document, f) is not None),
    )


def _bool(obj: Mapping[str, Any], name: str, *, default: bool) -> bool:
    value = go_field(obj, name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _InvalidConfigError(f"{name} must be true or false, got {json.dumps(value)}")
    return value


def _uint(obj: Mapping[str, Any], name: str, *, maximum: int) -> int | None:
    value = go_field(obj, name)
    if value is None:
        return None
    if not is_go_int(value) or not 0 <= value <= maximum:
        raise _InvalidConfigError(
            f"{name} must be an integer between 0 and {maximum}, got {value!r}"
        )
    return int(value)


def _network(
    obj: Mapping[str, Any], name: str, *, version: int
) -> IPv4Network | IPv6Network | None:
    value = go_field(obj, name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _InvalidConfigError(f"{name} must be a CIDR string, got {json.dumps(value)}")
    try:
        # Go's net.ParseCIDR masks host bits instead of rejecting them; so do we.
        network = ipaddress.ip_network(value, strict=False)
    except ValueError as error:
        raise _InvalidConfigError(f"{name} {value!r} is not a valid CIDR: {error}") from None
    if network.version != version:
        raise _InvalidConfigError(f"{name} {value!r} is not an IPv{version} network")
    return network


def _address(
    obj: Mapping[str, Any], name: str, *, version: int
) -> IPv4Address | IPv6Address | None:
    value = go_field(obj, name)
    if value is None or value == "":
        return None
    try:
        address = ipaddress.ip_address(value) if isinstance(value, str) else None
    except ValueError:
        address = None
    if address is None or address.version != version:
        raise _InvalidConfigError(
            f"{name} must be an IPv{version} address, got {json.dumps(value)}"
        )
    return address


def _backend(document: Mapping[str, Any]) -> Backend:
    raw = go_field(document, "Backend")
    present = any(key.lower() == "backend" for key in document)
    if not present:
        return Backend(type="udp", port=UDP_BACKEND_DEFAULT_PORT, mtu_overhead=28)
    if not isinstance(raw, dict):
        raise _InvalidConfigError("Backend must be a JSON object with a Type")
    backend_type = go_field(raw, "Type")
    if not isinstance(backend_type, str) or not backend_type:
        raise _InvalidConfigError("Backend.Type is missing or not a string")
    kind = backend_type.lower()
    overhead = MTU_OVERHEAD_BY_BACKEND.get(kind)
    if kind == "vxlan":
        vni = _uint(raw, "VNI", maximum=2**24 - 1)
        port = _uint(raw, "Port", maximum=65535) or VXLAN_KERNEL_DEFAULT_PORT
        return Backend(
            type=kind,
            vni=DEFAULT_VNI if vni is None else vni,
            port=port,
            direct_routing=_bool(raw, "DirectRouting", default=False),
            mtu_overhead=overhead,
        )
    if kind == "ipip":
        return Backend(
            type=kind,
            direct_routing=_bool(raw, "DirectRouting", default=False),
            mtu_overhead=overhead,
        )
    if kind == "udp":
        port = _uint(raw, "Port", maximum=65535) or UDP_BACKEND_DEFAULT_PORT
        return Backend(type=kind, port=port, mtu_overhead=overhead)
    if kind == "wireguard":
        port = _uint(raw, "ListenPort", maximum=65535) or WIREGUARD_DEFAULT_PORT
        return Backend(type=kind, port=port)
    return Backend(type=kind, mtu_overhead=overhead)
