import argparse

import pytest

from podpilot.apimachinery.selectors import SelectorError
from podpilot.commands import run
from podpilot.commands.conventions import CommandError
from podpilot.flannel.engine.selectors import parse_equality_selector


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
    assert parse_equality_selector(selector).matches(labels) is expected


@pytest.mark.parametrize(
    "selector", ["env in (a,b)", "=b", "a b=c", "a=x y", "Example.com/a=b", f"a={'v' * 64}"]
)
def test_unsupported_or_malformed_selectors_fail_at_startup(selector: str) -> None:
    with pytest.raises(ValueError, match="selector"):
        parse_equality_selector(selector)


def test_set_based_terms_are_named_in_the_error() -> None:
    with pytest.raises(SelectorError, match="only equality-based"):
        parse_equality_selector("a=b,env notin (x)")


def test_a_bad_selector_flag_ends_podpilot_run_with_one_line() -> None:
    parser = argparse.ArgumentParser()
    run.add_arguments(parser)
    args = parser.parse_args(["--flannel-pod-selector", "app in (flannel)"])
    with pytest.raises(CommandError, match=r"^--flannel-pod-selector: only equality-based"):
        run.settings_from(args)
