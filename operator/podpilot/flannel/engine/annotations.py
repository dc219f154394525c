"""flannel's node annotations: their names under a prefix, and the parsed values.

Names follow ``flannel-io/flannel:pkg/subnet/kube/annotations.go`` (``newAnnotations``): a prefix
without a slash gets ``/`` appended, a prefix with one slash that ends in neither ``/`` nor ``-``
gets ``-`` appended. ``backend-data`` holds JSON whose shape depends on the backend: vxlan writes
``{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:ff"}``, wireguard ``{"PublicKey":"..."}``, host-gw and ipip
write ``null``. Peers decode vxlan data into ``struct{VNI uint16; VtepMAC hardwareAddr}``, so a
VNI above 65535 or an unparsable MAC makes every peer skip the node.
"""

import ipaddress
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Any

from podpilot.flannel.engine._gojson import go_field, is_go_int

DEFAULT_PREFIX = "flannel.alpha.coreos.com"
RAW_VALUE_LIMIT = 256
NULL_DATA_BACKENDS = frozenset({"host-gw", "ipip", "udp", "alloc"})

_PREFIX_PATTERN = re.compile(r"(?:[a-z0-9_-]+\.)+[a-z0-9_-]+/(?:[a-z0-9_-]+-)?$")
_MAC_PATTERN = re.compile(
    r"^(?:[0-9a-fA-F]{2}([:-]))(?:[0-9a-fA-F]{2}\1){4}[0-9a-fA-F]{2}$"
    r"|^[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}$"
)


@dataclass(frozen=True)
class AnnotationKeys:
    """Full annotation names for one prefix."""

    prefix: str
    kube_subnet_manager: str
    backend_type: str
    backend_data: str
    backend_v6_data: str
    public_ip: str
    public_ipv6: str
    public_ip_overwrite: str
    public_ipv6_overwrite: str
    node_public_ip: str
    node_public_ipv6: str

    def all(self) -> tuple[str, ...]:
        """Every annotation name flannel or its users write under this prefix."""
        return (
            self.kube_subnet_manager,
            self.backend_type,
            self.backend_data,
            self.backend_v6_data,
            self.public_ip,
            self.public_ipv6,
            self.public_ip_overwrite,
            self.public_ipv6_overwrite,
            self.node_public_ip,
            self.node_public_ipv6,
        )


def annotation_keys(prefix: str = DEFAULT_PREFIX) -> AnnotationKeys:
    """Build the annotation names the way flanneld's ``--kube-annotation-prefix`` does.

    Args:
        prefix: The prefix as given to flanneld, e.g. ``flannel.alpha.coreos.com`` or
            ``example.com/net``.

    Returns:
        The full names.

    Raises:
        ValueError: If flanneld would reject the prefix (this is configuration, not cluster data).
    """
    slashes = prefix.count("/")
    if slashes > 1:
        raise ValueError(f"annotation prefix {prefix!r} may contain at most one slash")
    if slashes == 0:
        prefix += "/"
    if not prefix.endswith(("/", "-")):
        prefix += "-"
    if not _PREFIX_PATTERN.match(prefix):
        raise ValueError(f"annotation prefix {prefix!r} must look like fqdn/[0-9a-z-_]*")
    return AnnotationKeys(
        prefix=prefix,
        kube_subnet_manager=prefix + "kube-subnet-manager",
        backend_type=prefix + "backend-type",
        backend_data=prefix + "backend-data",
        backend_v6_data=prefix + "backend-v6-data",
        public_ip=prefix + "public-ip",
        public_ipv6=prefix + "public-ipv6",
        public_ip_overwrite=prefix + "public-ip-overwrite",
        public_ipv6_overwrite=prefix + "public-ipv6-overwrite",
        node_public_ip=prefix + "node-public-ip",
        node_public_ipv6=prefix + "node-public-ipv6",
    )


def detect_prefix(nodes: Iterable[Mapping[str, Any]]) -> str | None:
    """Find the annotation prefix in use by looking for ``*kube-subnet-manager`` keys.

    Args:
        nodes: Node objects as the API returns them.

    Returns:
        The most common prefix (ready for :func:`annotation_keys`), or None if no node has one.
    """
    suffix = "kube-subnet-manager"
    seen: Counter[str] = Counter()
    for node in nodes:
        for key in _annotations_of(node):
            prefix = key[: -len(suffix)]
            # Only prefixes flanneld could have been given, so annotation_keys() accepts them.
            if key.endswith(suffix) and _PREFIX_PATTERN.match(prefix):
                seen[prefix] += 1
    if not seen:
        return None
    return min(seen, key=lambda p: (-seen[p], p))


@dataclass(frozen=True)
class VxlanData:
    """vxlan backend-data: the node's VTEP."""

    vni: int
    vtep_mac: str


@dataclass(frozen=True)
class WireguardData:
    """wireguard backend-data: the node's public key."""

    public_key: str
    port: int | None = None


@dataclass(frozen=True)
class OtherData:
    """backend-data of a backend this package does not interpret; kept verbatim."""

    raw: str


BackendData = VxlanData | WireguardData | OtherData


@dataclass(frozen=True)
class BackendDataResult:
    """Parsed backend-data.

    Attributes:
        data: The data, or None when the annotation is absent or JSON ``null``.
        error: Why peers cannot decode it, or None when it is fine.
        raw: The raw value, truncated to 256 characters, when it is malformed.
    """

    data: BackendData | None
    error: str | None = None
    raw: str | None = None


def parse_backend_data(backend_type: str | None, raw: str | None) -> BackendDataResult:
    """Parse a ``backend-data`` or ``backend-v6-data`` value for the given backend.

    Args:
        backend_type: The node's ``backend-type`` annotation (any case), if present.
        raw: The annotation value, or None when absent.

    Returns:
        The parsed data, or an error. Never raises.
    """
    if raw is None:
        return BackendDataResult(None)
    kind = (backend_type or "").lower()
    try:
        value = json.loads(raw)
    except ValueError:
        return _malformed("not valid JSON", raw)
    except RecursionError:  # 100 KiB of [[[...]]] fits in an annotation
        return _malformed("JSON nested too deeply", raw)
    if value is None:
        if kind in ("vxlan", "wireguard"):
            return _malformed(f"{kind} needs backend-data, got null", raw)
        return BackendDataResult(None)
    if kind == "vxlan":
        return _vxlan(value, raw)
    if kind == "wireguard":
        return _wireguard(value, raw)
    return BackendDataResult(OtherData(raw))


def _vxlan(value: Any, raw: str) -> BackendDataResult:
    if not isinstance(value, dict):
        return _malformed("vxlan backend-data must be a JSON object", raw)
    vni = go_field(value, "VNI")
    mac = go_field(value, "VtepMAC")
    if vni is None:
        vni = 0
    if not is_go_int(vni) or not 0 <= vni <= 65535:
        return _malformed(f"VNI {json.dumps(vni)} does not decode as uint16", raw)
    if not isinstance(mac, str) or not _MAC_PATTERN.match(mac):
        return _malformed(f"VtepMAC {json.dumps(mac)} is not a 6-byte MAC address", raw)
    return BackendDataResult(VxlanData(vni=vni, vtep_mac=normalize_mac(mac)))


def _wireguard(value: Any, raw: str) -> BackendDataResult:
    if not isinstance(value, dict):
        return _malformed("wireguard backend-data must be a JSON object", raw)
    key = go_field(value, "PublicKey")
    port = go_field(value, "Port")
    if not isinstance(key, str) or not key:
        return _malformed("wireguard backend-data has no PublicKey", raw)
    if port is not None and (not is_go_int(port) or not 0 <= port <= 65535):
        return _malformed(f"wireguard Port {json.dumps(port)} is not a port number", raw)
    return BackendDataResult(WireguardData(public_key=key, port=port))


def _malformed(reason: str, raw: str) -> BackendDataResult:
    # The reason may quote a value of the annotation (a VNI), as long as the annotation itself.
    return BackendDataResult(None, reason[:RAW_VALUE_LIMIT], raw[:RAW_VALUE_LIMIT])


def normalize_mac(mac: str) -> str:
    """Lower-case, colon-separated form of a 6-byte MAC in any notation Go's ParseMAC accepts."""
    digits = re.sub(r"[^0-9a-fA-F]", "", mac).lower()
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


@dataclass(frozen=True)
class AddressValue:
    """An address annotation: the raw text and, when it parses, the address."""

    raw: str
    address: IPv4Address | IPv6Address | None


@dataclass(frozen=True)
class FlannelAnnotations:
    """What flannel (and its users) recorded on one node.

    Attributes:
        kube_subnet_manager: True when ``kube-subnet-manager`` is ``"true"``; peers ignore the
            node otherwise.
        any_present: True when at least one annotation under the prefix exists.
        backend_type: ``backend-type`` as written (flannel writes it lower-case).
        backend_data: Parsed ``backend-data``.
        backend_v6_data: Parsed ``backend-v6-data``.
        public_ip: ``public-ip``.
        public_ipv6: ``public-ipv6``.
        public_ip_overwrite: User-set ``public-ip-overwrite``.
        public_ipv6_overwrite: User-set ``public-ipv6-overwrite``.
        node_public_ip: User-set ``node-public-ip``.
        node_public_ipv6: User-set ``node-public-ipv6``.
    """

    kube_subnet_manager: bool
    any_present: bool
    backend_type: str | None
    backend_data: BackendDataResult
    backend_v6_data: BackendDataResult
    public_ip: AddressValue | None
    public_ipv6: AddressValue | None
    public_ip_overwrite: AddressValue | None
    public_ipv6_overwrite: AddressValue | None
    node_public_ip: AddressValue | None
    node_public_ipv6: AddressValue | None


def read_annotations(node: Mapping[str, Any], keys: AnnotationKeys) -> FlannelAnnotations:
    """Read and parse flannel's annotations from a Node object.

    Args:
        node: The Node as the API returns it (a plain dict).
        keys: Annotation names for the prefix in use.

    Returns:
        The parsed annotations; malformed values are kept with their error, never raised.
    """
    found = _annotations_of(node)
    backend_type = found.get(keys.backend_type)
    return FlannelAnnotations(
        kube_subnet_manager=found.get(keys.kube_subnet_manager) == "true",
        any_present=any(key in found for key in keys.all()),
        backend_type=backend_type,
        backend_data=parse_backend_data(backend_type, found.get(keys.backend_data)),
        backend_v6_data=parse_backend_data(backend_type, found.get(keys.backend_v6_data)),
        public_ip=_address_value(found.get(keys.public_ip), version=4),
        public_ipv6=_address_value(found.get(keys.public_ipv6), version=6),
        public_ip_overwrite=_address_value(found.get(keys.public_ip_overwrite), version=4),
        public_ipv6_overwrite=_address_value(found.get(keys.public_ipv6_overwrite), version=6),
        node_public_ip=_address_value(found.get(keys.node_public_ip), version=4),
        node_public_ipv6=_address_value(found.get(keys.node_public_ipv6), version=6),
    )


def _address_value(raw: str | None, *, version: int) -> AddressValue | None:
    if raw is None or raw == "":
        return None
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return AddressValue(raw[:RAW_VALUE_LIMIT], None)
    return AddressValue(raw, address if address.version == version else None)


def _annotations_of(node: Mapping[str, Any]) -> dict[str, str]:
    metadata = node.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    if not isinstance(annotations, dict):
        return {}
    return {str(k): v for k, v in annotations.items() if isinstance(v, str)}
