"""The cap on a Summary's size: a large real node's Summary fits with room to spare, a body
beyond it is refused while it is read, before it could cost its decoding's memory."""

import json
from typing import Any

import pytest

from podpilot.kube.kubelet import MAX_SUMMARY_BYTES, KubeletError, read_summary_within

MIB = 1024 * 1024
TIME = "2025-03-01T10:00:02Z"


def fs() -> dict[str, Any]:
    return {
        "time": TIME,
        "availableBytes": 43527241728,
        "capacityBytes": 105089261568,
        "usedBytes": 1288490188,
        "inodesFree": 6021318,
        "inodes": 6553600,
        "inodesUsed": 3121,
    }


def memory() -> dict[str, Any]:
    counters = ("availableBytes", "usageBytes", "workingSetBytes", "rssBytes", "pageFaults")
    return {"time": TIME, **dict.fromkeys(counters, 123456789)}


def cpu() -> dict[str, Any]:
    return {"time": TIME, "usageNanoCores": 12345678, "usageCoreNanoSeconds": 123456789012345}


def pod_stats(index: int, containers: int, volumes: int) -> dict[str, Any]:
    interface = {"name": "eth0", "rxBytes": 123456789, "txBytes": 123456789, "rxErrors": 0}
    return {
        "podRef": {"name": f"workload-{index}-7d9f8c6b5-x2x7q", "namespace": "a-namespace"},
        "startTime": TIME,
        "containers": [
            {"name": f"c{c}", "cpu": cpu(), "memory": memory(), "rootfs": fs(), "logs": fs()}
            for c in range(containers)
        ],
        "cpu": cpu(),
        "memory": memory(),
        "network": {"time": TIME, **interface, "interfaces": [interface, interface]},
        "volume": [{**fs(), "name": f"volume-{v}"} for v in range(volumes)],
        "ephemeral-storage": fs(),
    }


def test_a_dense_nodes_summary_fits_the_cap_three_times() -> None:
    # 250 pods (a raised max-pods), four containers and ten volumes each, indented as the
    # kubelet writes it.
    pods = [pod_stats(i, containers=4, volumes=10) for i in range(250)]
    body = json.dumps({"node": {"nodeName": "n", "fs": fs()}, "pods": pods}, indent=1)
    assert 3 * len(body) < MAX_SUMMARY_BYTES <= 16 * MIB


class StreamedAnswer:
    """A 200 answer whose body arrives in chunks; records whether it was closed."""

    status = 200

    def __init__(self, size: int, chunk: int = MIB) -> None:
        self.left = size
        self.chunk = chunk
        self.closed = False

    def read1(self, amount: int) -> bytes:
        sent = min(self.left, amount, self.chunk)
        self.left -= sent
        return b" " * sent

    def close(self) -> None:
        self.closed = True

    def release_conn(self) -> None:
        pass


def test_a_body_just_beyond_the_cap_is_refused() -> None:
    answer = StreamedAnswer(MAX_SUMMARY_BYTES + 1)
    with pytest.raises(KubeletError, match=f"more than {MAX_SUMMARY_BYTES} bytes"):
        read_summary_within(lambda: answer, "the kubelet at test", 5.0)  # type: ignore[arg-type,return-value]
    assert answer.closed


def test_a_body_at_the_cap_is_read() -> None:
    answer = StreamedAnswer(MAX_SUMMARY_BYTES)
    body = read_summary_within(lambda: answer, "the kubelet at test", 5.0)  # type: ignore[arg-type,return-value]
    assert len(body) == MAX_SUMMARY_BYTES
