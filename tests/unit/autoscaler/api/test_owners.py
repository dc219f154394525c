"""The ambiguity guard's index: who scales which target, from HPAs and Active Autoscalers."""

from __future__ import annotations

from podpilot.autoscaler.api.owners import (
    HpaTarget,
    OwnerIndex,
    ScaleOwner,
    ScaleTarget,
    ambiguity_message,
    hpa_target,
    other_owners,
)
from podpilot.autoscaler.api.shadow import HpaState

WEB = ScaleTarget("shop", "Deployment", "web")
HPA_WEB = ScaleOwner("HorizontalPodAutoscaler", "shop", "web")
ME = ScaleOwner("Autoscaler", "shop", "web")
SECOND = ScaleOwner("Autoscaler", "shop", "web-2")


def hpa(kind: str, name: str) -> dict[str, object]:
    reference = {"apiVersion": "apps/v1", "kind": kind, "name": name}
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"namespace": "shop", "name": "web"},
        "spec": {"scaleTargetRef": reference, "minReplicas": 1, "maxReplicas": 4},
    }


def test_an_hpa_is_kept_as_its_target_kind_and_name() -> None:
    assert hpa_target(hpa("Deployment", "web")) == HpaTarget("Deployment", "web")
    assert hpa_target({"metadata": {"name": "odd"}}) == HpaTarget("", "")


def test_an_hpa_owns_its_target_in_its_namespace_only() -> None:
    index = OwnerIndex()
    index.put(("shop", "web"), HpaTarget("Deployment", "web"))
    assert index.owners(WEB) == {HPA_WEB}
    assert index.owners(ScaleTarget("other", "Deployment", "web")) == frozenset()
    assert index.owners(ScaleTarget("shop", "StatefulSet", "web")) == frozenset()
    assert index.owners(ScaleTarget("shop", "Deployment", "api")) == frozenset()


def test_an_hpa_retargeted_or_deleted_leaves_its_old_target() -> None:
    index = OwnerIndex()
    index.put(("shop", "web"), HpaTarget("Deployment", "web"))
    index.put(("shop", "web"), HpaTarget("Deployment", "api"))
    assert index.owners(WEB) == frozenset()
    assert index.owners(ScaleTarget("shop", "Deployment", "api")) == {HPA_WEB}
    index.remove(("shop", "web"))
    index.remove(("shop", "never-seen"))
    assert len(index) == 0


def test_an_hpa_is_found_by_name_with_its_target_and_status_until_deleted() -> None:
    index = OwnerIndex()
    state = HpaState(current_replicas=4, desired_replicas=3)
    index.put(("shop", "web"), HpaTarget("Deployment", "api", state))
    index.claim("shop", "web", "Deployment", "web", active=True)  # an Autoscaler of that name
    assert index.hpa_named("shop", "web") == HpaTarget("Deployment", "api", state)
    assert index.hpa_named("other", "web") is None
    index.remove(("shop", "web"))
    assert index.hpa_named("shop", "web") is None


def test_active_autoscalers_own_their_target_and_dry_run_ones_do_not() -> None:
    index = OwnerIndex()
    index.claim("shop", "web", "Deployment", "web", active=True)
    index.claim("shop", "web-2", "Deployment", "web", active=True)
    index.claim("shop", "shadow", "Deployment", "web", active=False)
    assert index.owners(WEB) == {ME, SECOND}
    # Switching to DryRun gives the target up; a released daemon is gone.
    index.claim("shop", "web-2", "Deployment", "web", active=False)
    assert index.owners(WEB) == {ME}
    index.release("shop", "web")
    assert index.owners(WEB) == frozenset()
    assert len(index) == 0


def test_an_autoscaler_and_an_hpa_of_one_name_are_two_owners() -> None:
    index = OwnerIndex()
    index.put(("shop", "web"), HpaTarget("Deployment", "web"))
    index.claim("shop", "web", "Deployment", "web", active=True)
    assert index.owners(WEB) == {HPA_WEB, ME}
    index.release("shop", "web")
    assert index.owners(WEB) == {HPA_WEB}


def test_the_other_owners_leave_me_out_in_a_stable_order() -> None:
    assert other_owners(ME, {ME}) == ()
    assert other_owners(ME, {HPA_WEB, SECOND, ME}) == (SECOND, HPA_WEB)


def test_the_message_names_every_other_owner() -> None:
    message = ambiguity_message((SECOND, HPA_WEB))
    assert str(HPA_WEB) == "HorizontalPodAutoscaler shop/web"
    assert message.startswith(
        "the target is also scaled by Autoscaler shop/web-2, HorizontalPodAutoscaler shop/web;"
    )
