"""ED013: the share of a node's root filesystem held by its disk emptyDirs."""

from typing import Any

import pytest

from podpilot.emptydir.engine.catalogue import CATALOGUE
from podpilot.emptydir.engine.model import Severity, Thresholds
from podpilot.emptydir.engine.nodefs import nodefs_finding
from podpilot.emptydir.engine.summary import NodeSummary, parse_summary

from .helpers import GI

CAPACITY = 100 * GI


def summary(
    used: dict[tuple[str, str], int | None], node_fs: dict[str, Any] | None = None
) -> NodeSummary:
    """A Summary with ``node.fs`` and one volume sample per ``(pod uid, volume)``."""
    pods: dict[str, list[dict[str, Any]]] = {}
    for (uid, volume), value in used.items():
        sample: dict[str, Any] = {"name": volume, "time": "2025-03-01T10:00:20Z"}
        if value is not None:
            sample["usedBytes"] = value
        pods.setdefault(uid, []).append(sample)
    node: dict[str, Any] = {"nodeName": "worker-1"}
    if node_fs is not None:
        node["fs"] = node_fs
    return parse_summary(
        {
            "node": node,
            "pods": [
                {"podRef": {"name": f"pod-{uid}", "namespace": "ns", "uid": uid}, "volume": v}
                for uid, v in pods.items()
            ],
        }
    )


FS = {"time": "2025-03-01T10:00:10Z", "capacityBytes": CAPACITY, "usedBytes": 70 * GI}


@pytest.mark.parametrize(
    ("used", "expected"),
    [
        pytest.param(50 * GI - 1, False, id="one-byte-below-half"),
        pytest.param(50 * GI, True, id="exactly-half"),
        pytest.param(99 * GI, True, id="nearly-all"),
    ],
)
def test_threshold_is_half_of_nodefs_capacity_inclusive(used: int, expected: bool) -> None:
    volumes = {("a", "data"): used - GI, ("b", "cache"): GI}
    finding = nodefs_finding("worker-1", summary(volumes, FS), set(volumes), Thresholds())
    assert (finding is not None) is expected


def test_finding_names_the_node_the_share_and_the_largest_volume() -> None:
    volumes = {("a", "data"): 40 * GI, ("b", "cache"): 20 * GI}
    finding = nodefs_finding("worker-1", summary(volumes, FS), set(volumes), Thresholds())

    assert finding is not None
    assert (finding.id, finding.name, finding.severity) == (
        "ED013",
        "NodeFsDominatedByEmptyDir",
        Severity.INFO,
    )
    assert finding.node == "worker-1"
    evidence = dict(finding.evidence)
    assert evidence["emptyDirUsedBytes"] == str(60 * GI)
    assert evidence["nodeFsCapacityBytes"] == str(CAPACITY)
    assert evidence["share"] == "60.0%"
    assert evidence["largestVolume"] == "ns/pod-a/data"
    assert evidence["largestVolumeUsedBytes"] == str(40 * GI)
    assert "60Gi of the node's 100Gi" in finding.message
    assert CATALOGUE["ED013"].severity is Severity.INFO


def test_threshold_comes_from_the_thresholds() -> None:
    volumes = {("a", "data"): 30 * GI}
    node = summary(volumes, FS)
    assert nodefs_finding("worker-1", node, set(volumes), Thresholds()) is None
    assert nodefs_finding("n", node, set(volumes), Thresholds(nodefs_emptydir_ratio=0.3))


@pytest.mark.parametrize(
    "node_fs",
    [
        pytest.param(None, id="no-node-fs"),
        pytest.param({"usedBytes": 70 * GI}, id="no-capacity"),
        pytest.param({"capacityBytes": 0}, id="zero-capacity"),
        pytest.param({"capacityBytes": "lots"}, id="malformed-capacity"),
    ],
)
def test_missing_nodefs_stats_give_no_finding(node_fs: dict[str, Any] | None) -> None:
    volumes = {("a", "data"): 90 * GI}
    assert nodefs_finding("worker-1", summary(volumes, node_fs), set(volumes), Thresholds()) is None


def test_no_summary_gives_no_finding() -> None:
    assert nodefs_finding("worker-1", None, {("a", "data")}, Thresholds()) is None


def test_volumes_without_usage_never_count_as_zero() -> None:
    # Nothing known: no share at all, rather than 0 %.
    unknown = {("a", "data"): None}
    assert nodefs_finding("worker-1", summary(unknown, FS), {("a", "data")}, Thresholds()) is None
    assert nodefs_finding("worker-1", summary({}, FS), {("a", "data")}, Thresholds()) is None

    # What is known already proves the share; the rest is said to be unknown.
    volumes = {("a", "data"): 60 * GI, ("b", "cache"): None}
    keys = {*volumes, ("c", "gone-from-summary")}
    finding = nodefs_finding("worker-1", summary(volumes, FS), keys, Thresholds())
    assert finding is not None
    assert dict(finding.evidence)["volumesWithoutUsage"] == "2"
    assert "2 more have no usage sample yet" in finding.message


def test_only_the_given_disk_volumes_count() -> None:
    # A tmpfs or configMap volume in the Summary is not on nodefs; the caller leaves it out.
    volumes = {("a", "data"): 10 * GI, ("a", "shm"): 80 * GI}
    node = summary(volumes, FS)
    assert nodefs_finding("worker-1", node, {("a", "data")}, Thresholds()) is None
