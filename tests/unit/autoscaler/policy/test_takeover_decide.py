"""``decide`` with a declarative takeover's step: the seed folded in before deciding (and
only once the target's count is read), the hold of an annotation that cannot be carried out."""

from __future__ import annotations

from tests.unit.autoscaler.policy.test_decide import NOW, condition, observed, proposing, spec

from podpilot.autoscaler.api.owners import ScaleOwner
from podpilot.autoscaler.api.result import Action
from podpilot.autoscaler.api.shadow import HpaState
from podpilot.autoscaler.api.takeover import TakeoverSeed
from podpilot.autoscaler.api.takeover_from import SeedDue, TakeoverStep
from podpilot.autoscaler.engine import ScalingHistory, TimestampedRecommendation
from podpilot.autoscaler.policy.plan import Memory, Observations, ScaleFailure, decide

WINDOW = {"behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}}
# A DryRun Autoscaler's history before it became Active: it had recommended 2.
SHADOWED = Memory(ScalingHistory((TimestampedRecommendation(2, NOW - 5),)), last_replicas=4)
GONE = TakeoverStep(seed=SeedDue("hpa/web", "web", None, first=True))


def test_without_the_seed_the_shadow_history_scales_down_at_once() -> None:
    autoscaler = spec(**WINDOW)
    plan = decide(autoscaler, observed(4, proposing(autoscaler, 2)), SHADOWED)
    assert plan.patch and plan.result.desired_replicas == 2  # what the seed is for


def test_the_seed_holds_the_count_for_a_window_and_is_reported() -> None:
    autoscaler = spec(**WINDOW)
    plan = decide(autoscaler, observed(4, proposing(autoscaler, 2)), SHADOWED, takeover=GONE)
    result = plan.result
    assert not plan.patch
    assert (result.action, result.desired_replicas) == (Action.NO_CHANGE, 4)
    assert result.takeover_seed == TakeoverSeed(4, NOW)
    assert TimestampedRecommendation(4, NOW) in result.history.recommendations
    assert [event.reason for event in result.events] == ["TakeoverSeeded"]
    # One window later, from the history this evaluation leaves: down to 2.
    later = Observations(NOW + 61, "Deployment/web", 4, "app=web",
                         metrics=(proposing(autoscaler, 2),))  # fmt: skip
    after = decide(autoscaler, later, Memory.after(result))
    assert after.patch and after.result.desired_replicas == 2


def test_the_seed_does_not_hold_a_scale_up() -> None:
    autoscaler = spec(**WINDOW)
    plan = decide(autoscaler, observed(4, proposing(autoscaler, 6)), SHADOWED, takeover=GONE)
    assert plan.patch and plan.result.desired_replicas == 6
    assert plan.result.takeover_seed == TakeoverSeed(4, NOW)


def test_held_by_the_guard_the_seed_follows_the_hpa() -> None:
    autoscaler = spec(**WINDOW)
    hpa = HpaState(current_replicas=4, desired_replicas=5)
    present = TakeoverStep(seed=SeedDue("hpa/web", "web", hpa, first=False))
    others = (ScaleOwner("HorizontalPodAutoscaler", "shop", "web"),)
    observations = Observations(NOW, "Deployment/web", 4, "app=web", other_owners=others)
    result = decide(autoscaler, observations, SHADOWED, takeover=present).result
    assert result.action is Action.HELD
    assert condition(result, "AbleToScale") == (False, "AmbiguousScaleTarget")
    assert result.takeover_seed == TakeoverSeed(5, NOW)
    assert TimestampedRecommendation(5, NOW) in result.history.recommendations
    assert "TakeoverSeeded" not in [event.reason for event in result.events]  # not the first


def test_no_seed_without_the_targets_count() -> None:
    autoscaler = spec(**WINDOW)
    failure = ScaleFailure("FailedGetScale", "no answer")
    observations = Observations(NOW, "Deployment/web", scale_failure=failure)
    result = decide(autoscaler, observations, SHADOWED, takeover=GONE).result
    assert result.action is Action.HELD
    assert result.takeover_seed is None


def test_an_annotation_that_cannot_be_carried_out_holds_without_a_seed() -> None:
    autoscaler = spec(**WINDOW)
    refused = TakeoverStep(refusal="annotation podpilot.io/takeover-from is 'web': ...")
    plan = decide(autoscaler, observed(4, proposing(autoscaler, 2)), SHADOWED, takeover=refused)
    result = plan.result
    assert not plan.patch
    assert result.action is Action.HELD and result.desired_replicas == 4
    assert condition(result, "AbleToScale") == (False, "InvalidTakeover")
    assert [(e.type, e.reason) for e in result.events] == [("Warning", "InvalidTakeover")]
    assert result.takeover_seed is None
    assert result.history == SHADOWED.history
