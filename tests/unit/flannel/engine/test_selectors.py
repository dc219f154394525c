import pytest

from podpilot.flannel.engine.selectors import parse_selector


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("", {}, True),
        ("a=b", {"a": "b"}, True),
        ("a==b", {"a": "b"}, True),
        ("a=b", {"a": "c"}, False),
        ("a!=b", {}, True),
        ("a!=b", {"a": "b"}, False),
        ("a", {"a": ""}, True),
        ("a", {}, False),
        ("!a", {}, True),
        ("!a", {"a": "x"}, False),
        (
            "podpilot.io/dev-node=real, kubernetes.io/os=linux",
            {"podpilot.io/dev-node": "real"},
            False,
        ),
        (
            "podpilot.io/dev-node=real,kubernetes.io/os=linux",
            {"podpilot.io/dev-node": "real", "kubernetes.io/os": "linux"},
            True,
        ),
    ],
)
def test_equality_selectors_match_like_kubectl(
    selector: str, labels: dict[str, str], expected: bool
) -> None:
    assert parse_selector(selector).matches(labels) is expected


@pytest.mark.parametrize("selector", ["env in (a,b)", "=b", "a b=c"])
def test_unsupported_or_malformed_selectors_fail_at_startup(selector: str) -> None:
    with pytest.raises(ValueError, match="selector"):
        parse_selector(selector)
