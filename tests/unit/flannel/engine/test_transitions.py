from podpilot.flannel.engine.findings import Finding, Severity
from podpilot.flannel.engine.transitions import diff


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
    assert [key for key, _ in second.cleared] == [("FL008", "b")]
    assert second.cleared[0][1].message == "FL008 on b"


def test_severity_change_is_a_transition() -> None:
    first = diff(None, [_finding("FL005", None, Severity.WARNING)])
    second = diff(first.current, [_finding("FL005", None, Severity.CRITICAL)])
    assert [f.severity for f in second.raised] == [Severity.CRITICAL]
    assert second.cleared == ()


def test_same_id_on_two_nodes_are_separate_findings() -> None:
    first = diff(None, [_finding("FL003", "a"), _finding("FL003", "b")])
    second = diff(first.current, [_finding("FL003", "b")])
    assert [key for key, _ in second.cleared] == [("FL003", "a")]


def test_duplicates_of_one_key_raise_once_with_the_worst_severity() -> None:
    change = diff(
        None,
        [_finding("FL027", "a", Severity.WARNING), _finding("FL027", "a", Severity.CRITICAL)],
    )
    assert [f.severity for f in change.raised] == [Severity.CRITICAL]
