"""Events on transitions only: new or re-graded findings, deduplicated, rate-limited, capped."""

from podpilot.emptydir.api.report_objects import known_from_status
from podpilot.emptydir.engine.model import Finding, PodRef, Severity
from podpilot.emptydir.engine.transitions import EventLedger

POD = PodRef("ns", "p", "uid-p")


def finding(id: str = "ED001", severity: Severity = Severity.WARNING, volume: str = "v") -> Finding:
    return Finding(id=id, name="Name", severity=severity, message="m", pod=POD, volume=volume)


def test_a_new_finding_is_announced_once() -> None:
    ledger = EventLedger()
    assert ledger.transitions([finding()], now=0.0) == [finding()]
    assert ledger.transitions([finding()], now=10.0) == []
    assert ledger.transitions([finding()], now=5000.0) == []


def test_a_change_of_severity_is_a_transition_but_respects_the_gap() -> None:
    ledger = EventLedger(min_gap=100.0)
    ledger.transitions([finding(severity=Severity.WARNING)], now=0.0)
    assert ledger.transitions([finding(severity=Severity.CRITICAL)], now=50.0) == []
    ledger.transitions([finding(severity=Severity.WARNING)], now=60.0)
    critical = finding(severity=Severity.CRITICAL)
    assert ledger.transitions([critical], now=200.0) == [critical]


def test_a_finding_that_comes_back_within_the_gap_is_not_announced_again() -> None:
    ledger = EventLedger(min_gap=100.0)
    ledger.transitions([finding()], now=0.0)
    ledger.transitions([], now=10.0)
    assert ledger.transitions([finding()], now=20.0) == []
    ledger.transitions([], now=30.0)
    assert ledger.transitions([finding()], now=150.0) == [finding()]


def test_stats_plumbing_and_media_are_never_announced() -> None:
    ledger = EventLedger()
    quiet = [finding("ED030", Severity.INFO), finding("ED032", Severity.INFO), finding("ED008")]
    assert ledger.transitions(quiet, now=0.0) == []


def test_the_per_cycle_cap_defers_the_rest_to_later_cycles() -> None:
    ledger = EventLedger(per_cycle=2)
    many = [finding(volume=f"v{i}") for i in range(5)]
    first = ledger.transitions(many, now=0.0)
    second = ledger.transitions(many, now=1.0)
    third = ledger.transitions(many, now=2.0)
    assert [len(first), len(second), len(third)] == [2, 2, 1]
    assert {f.volume for f in first + second + third} == {f"v{i}" for i in range(5)}


def test_findings_read_back_from_a_report_are_not_announced_after_a_restart() -> None:
    status = {
        "findings": [
            {"id": "ED001", "severity": "warning", "podUID": "uid-p", "volume": "v"},
            {"id": "ED999", "severity": "bogus", "podUID": "uid-p"},
            {"severity": "info"},
        ]
    }
    known = known_from_status(status)
    assert known == {("uid-p", "v", "ED001"): Severity.WARNING}
    ledger = EventLedger()
    ledger.seed(known)
    assert ledger.transitions([finding()], now=0.0) == []
