"""A Deployment's scale from its watch, and when it may stand in for ``GET /scale``."""

from __future__ import annotations

from typing import Any

import pytest

from podpilot.apimachinery.selectors import format_selector, parse_selector
from podpilot.autoscaler.controller.watched_scales import apiserver_selector_text, deployment_scale
from podpilot.kube.scale import OwnWrites, Scale

TARGET = ("team-a", "apps/v1", "Deployment", "web")


@pytest.mark.parametrize(
    ("selector", "text"),
    [
        ({"matchLabels": {"app": "web"}}, "app=web"),
        ({"matchLabels": {"tier": "front", "app": "web"}}, "app=web,tier=front"),
        (
            {
                "matchLabels": {"app": "web"},
                "matchExpressions": [
                    {"key": "track", "operator": "In", "values": ["stable", "canary"]},
                    {"key": "legacy", "operator": "DoesNotExist"},
                    {"key": "zone", "operator": "NotIn", "values": ["b"]},
                    {"key": "gpu", "operator": "Exists"},
                ],
            },
            "app=web,gpu,!legacy,track in (canary,stable),zone notin (b)",
        ),
        ({}, ""),
    ],
)
def test_selector_text_is_the_apiservers(selector: dict[str, Any], text: str) -> None:
    assert apiserver_selector_text(selector) == text
    assert format_selector(parse_selector(text)) == text  # the evaluator parses it back


def test_deployment_scale_reads_spec_and_status_replicas() -> None:
    deployment = {
        "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "web"}}},
        "status": {"replicas": 5},
    }
    assert deployment_scale(deployment) == Scale(4, 5, "app=web")


def test_deployment_without_status_yet_has_no_observed_replicas() -> None:
    deployment = {"spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}}}
    assert deployment_scale(deployment) == Scale(2, 0, "app=web")


def test_unknown_selector_operator_leaves_it_to_scale() -> None:
    deployment = {
        "spec": {
            "replicas": 2,
            "selector": {"matchExpressions": [{"key": "a", "operator": "Near"}]},
        }
    }
    assert deployment_scale(deployment) is None


def test_watched_scale_is_trusted_when_nothing_was_patched() -> None:
    assert OwnWrites().trust(TARGET, Scale(3, 3, "app=web"))


def test_watched_scale_from_before_our_patch_is_not_trusted_once() -> None:
    writes = OwnWrites()
    writes.remember(TARGET, 6)
    assert not writes.trust(TARGET, Scale(3, 3, "app=web"))
    # That answer sent the caller to GET /scale, which is current: the watch is trusted again.
    assert writes.trust(TARGET, Scale(3, 3, "app=web"))


def test_watched_scale_that_shows_our_patch_is_trusted() -> None:
    writes = OwnWrites()
    writes.remember(TARGET, 6)
    assert writes.trust(TARGET, Scale(6, 3, "app=web"))


def test_patches_are_remembered_per_target() -> None:
    writes = OwnWrites()
    writes.remember(TARGET, 6)
    other = ("team-a", "apps/v1", "Deployment", "api")
    assert writes.trust(other, Scale(3, 3, "app=api"))
    assert not writes.trust(TARGET, Scale(3, 3, "app=web"))


def test_no_watched_scale_is_never_trusted_and_forgets_the_patch() -> None:
    writes = OwnWrites()
    writes.remember(TARGET, 6)
    assert not writes.trust(TARGET, None)
    assert writes.trust(TARGET, Scale(3, 3, "app=web"))
