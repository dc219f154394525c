"""ED013: a node whose disk emptyDirs together hold much of its root filesystem (nodefs).

Disk emptyDirs live under the kubelet's root directory, so they share ``node.fs`` of the
Summary API with images' writable layers, logs and everything else on that filesystem. Only
usage the kubelet reported counts: a volume without a sample adds nothing, and a node without
``node.fs.capacityBytes`` gets no finding rather than a share computed against a made-up size.
"""

from collections.abc import Collection

from podpilot.apimachinery.timestamps import format_datetime
from podpilot.emptydir.engine._format import format_bytes
from podpilot.emptydir.engine.catalogue import NODEFS_DOMINATED_BY_EMPTYDIR, make_node_finding
from podpilot.emptydir.engine.model import NodeFinding, PodRef, Thresholds
from podpilot.emptydir.engine.summary import NodeSummary
from podpilot.emptydir.engine.trend import VolumeKey


def nodefs_finding(
    node: str,
    summary: NodeSummary | None,
    disk_volumes: Collection[VolumeKey],
    thresholds: Thresholds,
) -> NodeFinding | None:
    """ED013 when the node's disk emptyDirs use at least the threshold share of nodefs capacity.

    Args:
        node: Node name.
        summary: The node's last parsed Summary, or ``None`` if it never answered.
        disk_volumes: ``(pod uid, volume name)`` of every disk-medium emptyDir on the node.
        thresholds: ``nodefs_emptydir_ratio`` is the share that raises the finding.

    Returns:
        The finding, or ``None`` when the share is below the threshold or cannot be known
        (no ``node.fs`` capacity, or no volume with a reported usage).
    """
    if summary is None or summary.node_fs is None:
        return None
    capacity = summary.node_fs.capacity_bytes
    if not capacity:
        return None
    used: list[tuple[PodRef, str, int]] = []
    unknown = 0
    for uid, name in disk_volumes:
        usage = summary.pods.get(uid)
        sample = usage.volumes.get(name) if usage else None
        if usage is None or sample is None or sample.used_bytes is None:
            unknown += 1
            continue
        used.append((usage.pod, name, sample.used_bytes))
    if not used:
        return None
    total = sum(u for _, _, u in used)
    if total < thresholds.nodefs_emptydir_ratio * capacity:
        return None
    pod, volume, largest = max(used, key=lambda entry: (entry[2], entry[0].uid, entry[1]))
    where = f"{pod.namespace}/{pod.name}"
    message = (
        f"Disk emptyDirs use {format_bytes(total)} of the node's {format_bytes(capacity)} root "
        f"filesystem ({total / capacity:.0%}); the largest is {volume!r} of pod {where} "
        f"({format_bytes(largest)})."
    )
    if unknown:
        message += f" {unknown} more have no usage sample yet."
    return make_node_finding(
        NODEFS_DOMINATED_BY_EMPTYDIR,
        message,
        node,
        {
            "emptyDirUsedBytes": total,
            "nodeFsCapacityBytes": capacity,
            "share": f"{total / capacity * 100:.1f}%",
            "volumes": len(used),
            "volumesWithoutUsage": unknown or None,
            "largestVolume": f"{where}/{volume}",
            "largestVolumeUsedBytes": largest,
            "statsTime": format_datetime(summary.node_fs.time) if summary.node_fs.time else None,
        },
    )
