"""The finding type and the catalogue of finding IDs, with what each means and what to do.

IDs are stable: dashboards, alerts and Events key on them. Numbers follow the catalogue of the
reporter's first design; FL019/FL020 and FL023-FL026 need data the pure package does not
get (flannel pod readiness, kube-controller-manager flags, the node probe) and FL030-FL032 belong
to etcd mode. FL027-FL029 are additions.
"""

import enum
from collections.abc import Mapping
from dataclasses import dataclass


class Severity(enum.IntEnum):
    """How bad a finding is; ordered so ``max()`` gives the worst."""

    INFO = 1
    WARNING = 2
    CRITICAL = 3

    @property
    def label(self) -> str:
        """Lower-case name as written in reports and metric labels."""
        return self.name.lower()


@dataclass(frozen=True)
class FindingKind:
    """A catalogue entry."""

    id: str
    name: str
    severity: Severity
    meaning: str
    remedy: str


@dataclass(frozen=True)
class Finding:
    """One problem found in the cluster.

    Attributes:
        id: Catalogue ID, e.g. ``FL003``.
        name: Catalogue name, e.g. ``OverlappingPodCIDRs``.
        severity: Severity of this occurrence (some kinds escalate).
        message: One human sentence naming the node, the values and the consequence.
        node: The node concerned, or None for cluster-wide findings.
        evidence: Sorted key/value pairs with the raw values behind the message.
    """

    id: str
    name: str
    severity: Severity
    message: str
    node: str | None = None
    evidence: tuple[tuple[str, str], ...] = ()


_KINDS = (
    FindingKind(
        "FL001",
        "NodeNoPodCIDR",
        Severity.CRITICAL,
        "A flannel-managed node has no spec.podCIDR; flanneld fails with "
        "'pod cidr not assigned' and the node gets no pod network.",
        "Run kube-controller-manager with --allocate-node-cidrs and --cluster-cidr (kubeadm: "
        "--pod-network-cidr), or check for CIDRNotAvailable events (the range is exhausted).",
    ),
    FindingKind(
        "FL002",
        "PodCIDROutsideNetwork",
        Severity.CRITICAL,
        "The node's podCIDR is not inside net-conf Network/IPv6Network; flanneld refuses "
        "the lease.",
        "Make kube-controller-manager --cluster-cidr match net-conf.json; podCIDR is immutable, "
        "so the node must be deleted and re-registered to get a new one.",
    ),
    FindingKind(
        "FL003",
        "OverlappingPodCIDRs",
        Severity.CRITICAL,
        "Two nodes' podCIDRs overlap; both hand out the same pod addresses.",
        "Find who set podCIDR by hand (or a second IPAM), delete and re-register one node.",
    ),
    FindingKind(
        "FL004",
        "PodCIDREqualsNetwork",
        Severity.CRITICAL,
        "The node's podCIDR is the whole cluster Network (or larger), the usual result of a "
        "manual 'kubectl patch node ... podCIDR'; pod IPs will collide across nodes.",
        "Delete and re-register the node so node IPAM assigns a proper subnet.",
    ),
    FindingKind(
        "FL005",
        "ClusterSubnetsExhausting",
        Severity.WARNING,
        "Most node subnets of the Network are allocated (warning at 80%, critical at 95%); new "
        "nodes will get CIDRNotAvailable and no pod network.",
        "Plan a larger cluster CIDR or a smaller node mask before adding nodes; remove dead nodes.",
    ),
    FindingKind(
        "FL006",
        "NodeNotAnnounced",
        Severity.WARNING,
        "A flannel-managed node with a podCIDR lacks kube-subnet-manager=true, backend-type or "
        "public-ip; peers ignore it, so no route leads to its pods (critical after a grace).",
        "Check the flannel pod on that node: logs, RBAC for nodes/status, and the "
        "annotation prefix.",
    ),
    FindingKind(
        "FL007",
        "MalformedBackendData",
        Severity.CRITICAL,
        "backend-data (or backend-v6-data) does not decode for the backend; every peer skips the "
        "node with 'error decoding subnet lease JSON'.",
        "Remove the bad annotation and restart the flannel pod on the node so it rewrites it.",
    ),
    FindingKind(
        "FL008",
        "DuplicateVtepMAC",
        Severity.CRITICAL,
        "Two nodes announce the same VtepMAC; peers' FDB entries point both subnets at one VTEP.",
        "Usually cloned VM images or a stale annotation: restart flannel on the nodes named and "
        "make sure flannel.<VNI> gets a unique MAC.",
    ),
    FindingKind(
        "FL009",
        "DuplicatePublicIP",
        Severity.CRITICAL,
        "Two nodes announce the same public-ip; tunnels and routes to one of them go to the other.",
        "Pin the interface with --iface / --iface-regex (Vagrant's 10.0.2.15 is the classic case) "
        "or set public-ip-overwrite / node-public-ip.",
    ),
    FindingKind(
        "FL010",
        "PublicIPNotANodeAddress",
        Severity.WARNING,
        "public-ip is none of the node's status.addresses and no overwrite is set; flannel may "
        "have picked the wrong interface.",
        "Check flanneld's --iface choice, or declare the address with public-ip-overwrite.",
    ),
    FindingKind(
        "FL011",
        "PublicIPOverwriteNotApplied",
        Severity.WARNING,
        "public-ip-overwrite (or node-public-ip) differs from public-ip; flannel applies it only "
        "when it restarts on the node.",
        "Restart the flannel pod on the node.",
    ),
    FindingKind(
        "FL012",
        "BackendTypeMismatch",
        Severity.CRITICAL,
        "The node's backend-type differs from net-conf Backend.Type; peers ignore its lease "
        "('ignoring non-vxlan ...'). The backend must not change at runtime.",
        "Restart flannel everywhere after a backend change, or restore the old Backend.Type.",
    ),
    FindingKind(
        "FL013",
        "VNIMismatch",
        Severity.CRITICAL,
        "The node's vxlan VNI differs from net-conf Backend.VNI; its flannel.<VNI> device cannot "
        "talk to the others.",
        "Restart flannel on the node so it recreates the VTEP with the configured VNI.",
    ),
    FindingKind(
        "FL014",
        "DualStackIncomplete",
        Severity.WARNING,
        "IPv6 is enabled but the node lacks an IPv6 podCIDR, backend-v6-data or public-ipv6, or "
        "the node has an IPv6 podCIDR while net-conf has no IPv6Network.",
        "Align kube-controller-manager dual-stack CIDRs, net-conf EnableIPv6/IPv6Network and the "
        "node's IPv6 address.",
    ),
    FindingKind(
        "FL015",
        "NetworkUnavailable",
        Severity.CRITICAL,
        "The node condition NetworkUnavailable is True; kubelet will not run pods needing the "
        "pod network there.",
        "Check the flannel pod on the node; flannel sets the condition False (FlannelIsUp) when "
        "it starts.",
    ),
    FindingKind(
        "FL016",
        "NodeSubnetTooSmallForMaxPods",
        Severity.WARNING,
        "The node subnet has fewer usable addresses than status.allocatable.pods; pods will fail "
        "with IPAM errors before the scheduler stops sending them.",
        "Lower kubelet --max-pods or use a larger --node-cidr-mask-size.",
    ),
    FindingKind(
        "FL017",
        "NodeSubnetIPPressure",
        Severity.WARNING,
        "Most usable addresses of the node subnet are held by pods (warning at 85%, critical at "
        "98%).",
        "Spread pods to other nodes, or look for leaked host-local reservations.",
    ),
    FindingKind(
        "FL018",
        "NetConfUnavailable",
        Severity.CRITICAL,
        "net-conf.json is missing or flanneld cannot use it; network checks fall back to an "
        "inferred Network and backend checks are skipped.",
        "Restore the kube-flannel-cfg ConfigMap (or point the reporter at the right one).",
    ),
    FindingKind(
        "FL021",
        "DuplicatePodIP",
        Severity.CRITICAL,
        "Two live pods hold the same address.",
        "Look for overlapping podCIDRs (FL003/FL004) or stale host-local state on the nodes.",
    ),
    FindingKind(
        "FL022",
        "PodIPOutsideNodeSubnet",
        Severity.WARNING,
        "A pod's address is not in its node's podCIDR (stale host-local state or CNI drift).",
        "Recreate the pod; if many, clear /var/lib/cni/networks on the node while it is drained.",
    ),
    FindingKind(
        "FL027",
        "InvalidAddress",
        Severity.WARNING,
        "An address string does not parse (critical in public-ip/public-ipv6, which peers must "
        "decode; warning in overwrites, node addresses and pod IPs).",
        "Fix or remove the value; for public-ip, restart flannel on the node.",
    ),
    FindingKind(
        "FL028",
        "PodCIDRSpecInvalid",
        Severity.CRITICAL,
        "spec.podCIDR(s) cannot be a flannel lease (unparsable, more than two entries, or two of "
        "one family; critical), or spec.podCIDR differs from spec.podCIDRs[0] (warning).",
        "Delete and re-register the node; podCIDR cannot be changed in place.",
    ),
    FindingKind(
        "FL029",
        "NetConfEtcdOnlyFields",
        Severity.INFO,
        "net-conf sets SubnetLen/SubnetMin/SubnetMax (or IPv6 twins), which the kube subnet "
        "manager ignores; the node mask comes from kube-controller-manager.",
        "Remove them, or set --node-cidr-mask-size on kube-controller-manager instead.",
    ),
)

CATALOGUE: Mapping[str, FindingKind] = {kind.id: kind for kind in _KINDS}


def finding(
    finding_id: str,
    message: str,
    *,
    node: str | None = None,
    severity: Severity | None = None,
    **evidence: object,
) -> Finding:
    """Create a finding of a catalogue kind.

    Args:
        finding_id: Catalogue ID.
        message: Human sentence.
        node: Node concerned, if any.
        severity: Overrides the catalogue severity (for kinds that escalate).
        **evidence: Values behind the message; None values are dropped.

    Returns:
        The finding.
    """
    kind = CATALOGUE[finding_id]
    pairs = tuple(sorted((k, str(v)) for k, v in evidence.items() if v is not None))
    return Finding(
        id=kind.id,
        name=kind.name,
        severity=kind.severity if severity is None else severity,
        message=message,
        node=node,
        evidence=pairs,
    )
