"""Summary API parsing (full and partial) and the time-to-limit projection."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from podpilot.emptydir.engine.summary import SummaryDecodeError, decode_summary, parse_summary
from podpilot.emptydir.engine.trend import (
    SampleRing,
    UsagePoint,
    seconds_to_limit,
    update_history,
)

from .helpers import FIXTURES, load

WEB_UID = "5b0e1c7a-2f43-4d0e-9a55-0c6f1d1e8a01"
T0 = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)


def test_real_summary_is_keyed_by_uid_with_every_volume() -> None:
    summary = decode_summary((FIXTURES / "summary_worker-1.json").read_bytes())

    web = summary.pods[WEB_UID]
    assert summary.node_name == "worker-1"
    assert summary.node_fs is not None and summary.node_fs.capacity_bytes == 105089261568
    assert set(web.volumes) == {"cache", "shm", "kube-api-access-9xk2p", "config"}
    assert web.volumes["cache"].used_bytes == 1288490188
    assert web.volumes["shm"].capacity_bytes == 268435456
    assert web.volumes["cache"].time == datetime(2025, 3, 1, 9, 59, 51, tzinfo=UTC)
    assert web.ephemeral_storage is not None and web.ephemeral_storage.used_bytes == 1289580716
    assert summary.problems == ()


def test_partial_summary_keeps_unknowns_unknown() -> None:
    summary = parse_summary(load("summary_partial.json"))

    batch = summary.pods["11111111-2222-3333-4444-555555555555"]
    assert batch.volumes["scratch"].used_bytes is None  # omitted, not zero
    assert batch.volumes["scratch"].capacity_bytes == 200
    assert batch.volumes["tmp"].used_bytes is None
    assert batch.volumes["tmp"].time is None
    assert batch.volumes["tmp"].inodes is None
    assert batch.ephemeral_storage is None
    starting = summary.pods["66666666-7777-8888-9999-000000000000"]
    assert starting.volumes == {} and starting.pod.namespace == ""
    assert summary.node_fs is None
    assert len(summary.pods) == 2
    assert any("podRef.uid: missing" in p for p in summary.problems)
    assert any("pods[3]: not an object" in p for p in summary.problems)
    assert any("volume[2].name: missing" in p for p in summary.problems)
    assert any("usedBytes: not a non-negative integer" in p for p in summary.problems)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"node": {"nodeName": "w"}, "pods": [{"podRef"', id="cut short"),
        pytest.param(b"[]", id="a list"),
        pytest.param(b"<html>403 Forbidden</html>", id="an HTML error page"),
    ],
)
def test_undecodable_bodies_raise_decode_error(body: bytes) -> None:
    with pytest.raises(SummaryDecodeError):
        decode_summary(body)


def test_empty_object_is_a_summary_with_no_pods() -> None:
    summary = parse_summary({})

    assert summary.pods == {}
    assert summary.problems == ("node: missing",)


def ring_of(*points: tuple[int, int]) -> SampleRing:
    ring = SampleRing(size=10)
    for seconds, used in points:
        ring = ring.with_point(UsagePoint(T0 + timedelta(seconds=seconds), used))
    return ring


def test_linear_growth_projects_exact_time_to_limit() -> None:
    ring = ring_of((0, 100), (60, 200), (120, 300))

    assert seconds_to_limit(ring, limit_bytes=1000) == pytest.approx(420.0)


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        pytest.param(((0, 300), (60, 200), (120, 100)), None, id="shrinking"),
        pytest.param(((0, 100), (60, 100), (120, 100)), None, id="flat"),
        pytest.param(((0, 100), (60, 200)), None, id="too few samples"),
        pytest.param(((0, 100), (60, 500), (120, 1200)), 0.0, id="already over the limit"),
    ],
)
def test_projection_edge_cases(points: tuple[tuple[int, int], ...], expected: float | None) -> None:
    assert seconds_to_limit(ring_of(*points), limit_bytes=1000) == expected


def test_ring_ignores_repeated_kubelet_samples_and_keeps_the_newest() -> None:
    ring = ring_of((0, 1), (0, 2), (60, 3))
    assert [p.used_bytes for p in ring.points] == [1, 3]

    small = SampleRing(size=3)
    for second in range(5):
        small = small.with_point(UsagePoint(T0 + timedelta(seconds=second), second))
    assert [p.used_bytes for p in small.points] == [2, 3, 4]


def test_update_history_adds_samples_and_forgets_gone_volumes() -> None:
    summary = parse_summary(load("summary_worker-1.json"))
    stale_key = ("gone-pod", "cache")
    history = {stale_key: ring_of((0, 1))}

    updated = update_history(history, summary, keep=[(WEB_UID, "cache"), (WEB_UID, "missing")])

    assert set(updated) == {(WEB_UID, "cache")}
    assert updated[(WEB_UID, "cache")].points[-1].used_bytes == 1288490188


@given(
    increments=st.lists(st.integers(min_value=1, max_value=10**6), min_size=3, max_size=10),
    extra_usage=st.integers(min_value=0, max_value=10**6),
)
def test_more_usage_never_projects_a_later_full_time(
    increments: list[int], extra_usage: int
) -> None:
    used = 0
    points = []
    for index, increment in enumerate(increments):
        used += increment
        points.append((index * 60, used))
    limit = used * 4
    base = seconds_to_limit(ring_of(*points), limit)
    shifted = seconds_to_limit(ring_of(*[(t, u + extra_usage) for t, u in points]), limit)

    assert base is not None and shifted is not None
    assert shifted <= base + 1e-6


@given(
    increments=st.lists(st.integers(min_value=1, max_value=10**6), min_size=3, max_size=10),
    headroom=st.integers(min_value=1, max_value=10**9),
)
def test_a_larger_limit_never_projects_an_earlier_full_time(
    increments: list[int], headroom: int
) -> None:
    used = 0
    points = []
    for index, increment in enumerate(increments):
        used += increment
        points.append((index * 60, used))
    ring = ring_of(*points)
    near = seconds_to_limit(ring, used + headroom)
    far = seconds_to_limit(ring, used + 2 * headroom)

    assert near is not None and far is not None
    assert far >= near
