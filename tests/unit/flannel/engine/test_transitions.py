from datetime import UTC, datetime
from typing import Any

from podpilot.flannel.api.status import finding_status
from podpilot.flannel.engine.findings import Finding, Severity, finding
from podpilot.flannel.engine.report import build_report
from podpilot.flannel.engine.transitions import (
    Active,
    FindingKey,
    adopting,
    diff,
    finding_key,
    key_of,
    without_nodes,
)

from .._fixtures import healthy_nodes, pod, upstream_net_conf

NOW = datetime(2026, 1, 20, tzinfo=UTC)


def _finding(id_: str, node: str | None, severity: Severity = Severity.CRITICAL) -> Finding:
    return Finding(id_, f"Name{id_}", severity, f"{id_} on {node}", node)


def test_first_recompute_raises_everything_and_clears_nothing() -> None:
    change = diff(None, [_finding("FL003", "a"), _finding("FL018", None)])
    assert [(f.id, f.node) for f in change.raised] == [("FL003", "a"), ("FL018", None)]
    assert change.cleared == ()


def test_unchanged_findings_raise_no_event_and_gone_ones_clear() -> None:
    first = diff(None, [_finding("FL003", "a"), _finding("FL008", "b")])
    second = diff(first.current, [_finding("FL003", "a")])
    assert second.raised == ()
    assert [key for key, _ in second.cleared] == [FindingKey("FL008", "b")]
    assert second.cleared[0][1].message == "FL008 on b"


def test_severity_change_is_a_transition() -> None:
    first = diff(None, [_finding("FL005", None, Severity.WARNING)])
    second = diff(first.current, [_finding("FL005", None, Severity.CRITICAL)])
    assert [f.severity for f in second.raised] == [Severity.CRITICAL]
    assert second.cleared == ()


def test_same_id_on_two_nodes_are_separate_findings() -> None:
    first = diff(None, [_finding("FL003", "a"), _finding("FL003", "b")])
    second = diff(first.current, [_finding("FL003", "b")])
    assert [key for key, _ in second.cleared] == [FindingKey("FL003", "a")]


def test_duplicates_of_one_key_raise_once_with_the_worst_severity() -> None:
    change = diff(
        None,
        [_finding("FL027", "a", Severity.WARNING), _finding("FL027", "a", Severity.CRITICAL)],
    )
    assert [f.severity for f in change.raised] == [Severity.CRITICAL]


def _duplicate_ip_findings(*holders_per_ip: tuple[str, ...]) -> list[Finding]:
    """The FL021 findings of a cluster where each tuple's pods share one IP (10.244.1.<n>)."""
    pods: list[dict[str, Any]] = []
    for number, holders in enumerate(holders_per_ip, start=10):
        pods += [pod(name, "worker-1", f"10.244.1.{number}") for name in holders]
    report = build_report(healthy_nodes(), upstream_net_conf(), pods, now=NOW)
    return [f for f in report.cluster_findings if f.id == "FL021"]


def test_a_second_duplicated_pod_ip_is_announced() -> None:
    first = diff(None, _duplicate_ip_findings(("a", "b")))
    second = diff(first.current, _duplicate_ip_findings(("a", "b"), ("c", "d")))
    assert [f.message for f in second.raised] == [
        "Pod IP 10.244.1.11 is held by 2 pods: default/c on worker-1, default/d on worker-1."
    ]
    assert second.cleared == ()


def test_one_of_two_duplicated_pod_ips_clearing_is_announced() -> None:
    first = diff(None, _duplicate_ip_findings(("a", "b"), ("c", "d")))
    second = diff(first.current, _duplicate_ip_findings(("a", "b"), ("c",)))
    assert second.raised == ()
    assert [key for key, _ in second.cleared] == [FindingKey("FL021", None, "10.244.1.11")]
    assert "10.244.1.11" in second.cleared[0][1].message


def test_a_duplicated_pod_ip_gaining_a_holder_is_no_transition() -> None:
    first = diff(None, _duplicate_ip_findings(("a", "b")))
    second = diff(first.current, _duplicate_ip_findings(("a", "b", "c")))
    assert (second.raised, second.cleared) == ((), ())


def test_the_networks_of_two_families_are_separate_fl005_findings() -> None:
    def exhausting(network: str) -> Finding:
        return finding("FL005", f"{network} is nearly full.", network=network)

    first = diff(None, [exhausting("10.244.0.0/16"), exhausting("fd00:10:244::/56")])
    second = diff(first.current, [exhausting("10.244.0.0/16")])
    assert [key for key, _ in second.cleared] == [FindingKey("FL005", None, "fd00:10:244::/56")]


def test_a_finding_read_back_from_its_report_has_the_key_it_was_computed_with() -> None:
    for computed in _duplicate_ip_findings(("a", "b"), ("c", "d")):
        entry = finding_status(computed)
        assert finding_key(entry["id"], entry.get("node"), entry["evidence"]) == key_of(computed)


def test_findings_of_other_nodes_leave_the_comparison_without_clearing() -> None:
    before = diff(None, [_finding("FL003", "mine"), _finding("FL003", "theirs")]).current
    change = diff(without_nodes(before, {"theirs"}), [])
    assert [key for key, _ in change.cleared] == [FindingKey("FL003", "mine")]


def test_adopted_findings_are_not_raised_and_known_ones_keep_their_record() -> None:
    known = {FindingKey("FL018", None): Active("NameFL018", Severity.WARNING, "old")}
    adopted = adopting(known, [_finding("FL018", None), _finding("FL029", None)])
    assert adopted[FindingKey("FL018", None)].message == "old"
    change = diff(adopted, [_finding("FL018", None), _finding("FL029", None)])
    assert [f.id for f in change.raised] == ["FL018"]  # its severity changed since


def test_a_nodes_findings_of_one_kind_for_two_families_are_announced_apart() -> None:
    def filling(pod_cidr: str, severity: Severity) -> Finding:
        return finding(
            "FL017", f"{pod_cidr} is filling up.", node="a", severity=severity, podCIDR=pod_cidr
        )

    ipv4, ipv6 = "10.244.1.0/24", "fd00:10:244:1::/64"
    first = diff(None, [filling(ipv4, Severity.CRITICAL)])
    second = diff(
        first.current, [filling(ipv4, Severity.CRITICAL), filling(ipv6, Severity.WARNING)]
    )
    assert [f.message for f in second.raised] == [f"{ipv6} is filling up."]
    third = diff(second.current, [filling(ipv6, Severity.WARNING)])
    assert third.raised == ()
    assert [key for key, _ in third.cleared] == [FindingKey("FL017", "a", ipv4)]


def test_a_shared_ipv6_vtep_mac_beside_a_shared_ipv4_one_is_a_finding_of_its_own() -> None:
    def shared(mac: str) -> Finding:
        return finding("FL008", f"a shares {mac}.", node="a", value=mac, others="b")

    first = diff(None, [shared("0a:00:00:00:00:01")])
    second = diff(first.current, [shared("0a:00:00:00:00:01"), shared("0a:00:00:00:00:02")])
    assert [f.message for f in second.raised] == ["a shares 0a:00:00:00:00:02."]
    entry = finding_status(shared("0a:00:00:00:00:02"))
    assert finding_key(entry["id"], entry.get("node"), entry["evidence"]) == FindingKey(
        "FL008", "a", "0a:00:00:00:00:02"
    )
