"""The declarative takeover's pure decision: when an evaluation seeds, with what, when it is
held, and what ``status.takeover`` keeps."""

from __future__ import annotations

import pytest

from podpilot.autoscaler.api.owners import HpaTarget
from podpilot.autoscaler.api.shadow import HpaState
from podpilot.autoscaler.api.takeover import TakeoverSeed, hpa_reference, seed_from_hpa, seed_of
from podpilot.autoscaler.api.takeover_from import (
    NO_TAKEOVER,
    TAKEOVER_SEEDED,
    HpaLookup,
    SeedDue,
    TakeoverRecord,
    TakeoverStep,
    describe_record,
    record_from_status,
    record_to_status,
    takeover_step,
)

NOW = 1_800_000_000.0
TARGET = ("Deployment", "web")
HPA_WEB = HpaTarget("Deployment", "web", HpaState(current_replicas=4, desired_replicas=5))


def hpas(**known: HpaTarget) -> HpaLookup:
    return known.get


def step(
    annotation: str | None = "hpa/web",
    record: TakeoverRecord | None = None,
    active: bool = True,
    lookup: HpaLookup | None = None,
) -> TakeoverStep:
    return takeover_step(annotation, record, active, TARGET, lookup or hpas())


def complete(source: str = "hpa/web") -> TakeoverRecord:
    return TakeoverRecord(source, NOW - 100, 4, complete=True)


def test_the_first_evaluation_with_the_hpa_gone_seeds_once_then_the_record_says_so() -> None:
    first = step()
    assert first.seed == SeedDue("hpa/web", "web", None, first=True)
    assert first.refusal is None and first.record is None
    record = first.record_after(TakeoverSeed(4, NOW))
    assert record == TakeoverRecord("hpa/web", NOW, 4, complete=True)
    again = step(record=record)
    assert again.seed is None and again.refusal is None
    assert again.record_after(None) == record  # kept while the annotation is unchanged


def test_while_the_hpa_exists_each_evaluation_seeds_again_until_it_is_gone() -> None:
    present = step(lookup=hpas(web=HPA_WEB))
    assert present.seed == SeedDue("hpa/web", "web", HPA_WEB.state, first=True)
    record = present.record_after(TakeoverSeed(5, NOW))
    assert record == TakeoverRecord("hpa/web", NOW, 5, complete=False)
    refreshed = step(record=record, lookup=hpas(web=HPA_WEB))
    assert refreshed.seed == SeedDue("hpa/web", "web", HPA_WEB.state, first=False)
    gone = step(record=record)
    assert gone.seed == SeedDue("hpa/web", "web", None, first=False)
    final = gone.record_after(TakeoverSeed(4, NOW + 15))
    assert final is not None and final.complete
    assert step(record=final).seed is None


def test_a_complete_takeover_whose_hpa_scales_the_target_again_seeds_from_the_start() -> None:
    # Taken over, then the HPA recreated (the Autoscaler back in DryRun with the same
    # annotation), then Active again: the old record must not stand in for a new seed.
    again = step(record=complete(), lookup=hpas(web=HPA_WEB))
    assert again.seed == SeedDue("hpa/web", "web", HPA_WEB.state, first=True)
    record = again.record_after(TakeoverSeed(5, NOW))
    assert record == TakeoverRecord("hpa/web", NOW, 5, complete=False)


def test_a_seed_the_evaluation_could_not_make_leaves_the_record_as_it_was() -> None:
    record = TakeoverRecord("hpa/web", NOW, 5, complete=False)
    assert step(record=record).record_after(None) == record
    assert step().record_after(None) is None


def test_a_changed_annotation_seeds_again() -> None:
    changed = step("hpa/web-v2", record=complete())
    assert changed.seed is not None and changed.seed.first
    assert changed.seed.hpa_name == "web-v2"
    assert changed.record is None  # the old record is for another value


def test_a_removed_annotation_drops_the_record_and_a_readded_one_seeds_again() -> None:
    removed = step(None, record=complete())
    assert removed == NO_TAKEOVER
    assert removed.record_after(None) is None
    readded = step("hpa/web", record=removed.record_after(None))
    assert readded.seed is not None and readded.seed.first


@pytest.mark.parametrize(
    ("annotation", "why"),
    [
        ("web", "only an HPA can be taken over"),
        ("deployment/web", "only an HPA can be taken over (TYPE is hpa), not 'deployment'"),
        ("hpa/", "the HPA's NAME is required"),
        ("hpa/Web_1", "'Web_1' is not an object name"),
        ("", "only an HPA can be taken over"),
    ],
    ids=["no-type", "other-type", "no-name", "bad-name", "empty"],
)
def test_a_malformed_annotation_holds_an_active_autoscaler_and_seeds_nothing(
    annotation: str, why: str
) -> None:
    held = step(annotation, record=complete())
    assert held.seed is None and held.record is None
    assert held.refusal is not None
    assert why in held.refusal
    assert "podpilot.io/takeover-from" in held.refusal
    assert "not scaling until" in held.refusal


def test_an_hpa_of_another_target_holds_and_seeds_nothing() -> None:
    other = HpaTarget("Deployment", "api", HpaState(current_replicas=9, desired_replicas=9))
    held = step("hpa/api", lookup=hpas(api=other))
    assert held.seed is None
    assert held.refusal == (
        "annotation podpilot.io/takeover-from names HPA api, which scales Deployment/api, not "
        "this Autoscaler's target Deployment/web; not scaling until it names this target's HPA "
        "or is removed"
    )


def test_a_name_the_watch_does_not_know_while_another_hpa_scales_the_target_holds() -> None:
    held = takeover_step("hpa/web-old", None, True, TARGET, hpas(web=HPA_WEB), "web")
    assert held.seed is None
    assert held.refusal is not None
    assert "names HPA web-old, which does not exist, while HPA web scales this target" in (
        held.refusal
    )
    named = takeover_step("hpa/web", None, True, TARGET, hpas(web=HPA_WEB), "web")
    assert named.seed is not None and named.refusal is None


def test_the_type_is_read_as_kubectl_reads_it() -> None:
    assert step("HorizontalPodAutoscaler/web ").seed == SeedDue(
        "HorizontalPodAutoscaler/web", "web", None, first=True
    )


def test_a_dry_run_autoscaler_neither_seeds_nor_is_held() -> None:
    assert step(active=False) == TakeoverStep()
    assert step("not a reference", active=False) == TakeoverStep()
    assert step(active=False, record=complete()) == TakeoverStep(complete())
    assert step(active=False, record=complete("hpa/old")) == TakeoverStep()
    assert step(None, active=False, record=complete()) == NO_TAKEOVER


def test_the_seed_is_the_largest_of_the_targets_count_and_the_hpas_counts() -> None:
    known = SeedDue("hpa/web", "web", HPA_WEB.state, first=True)
    assert known.seed(3, NOW) == TakeoverSeed(5, NOW)  # the HPA's desired
    assert known.seed(7, NOW) == TakeoverSeed(7, NOW)  # the target's own count
    gone = SeedDue("hpa/web", "web", None, first=True)
    assert gone.seed(4, NOW) == TakeoverSeed(4, NOW)
    unsynced = SeedDue("hpa/web", "web", HpaState(), first=True)  # no status yet
    assert unsynced.seed(2, NOW) == TakeoverSeed(2, NOW)


def test_the_command_and_the_operator_compute_a_seed_the_same_way() -> None:
    hpa = {"status": {"currentReplicas": 4, "desiredReplicas": 5}}
    due = SeedDue("hpa/web", "web", HpaState(current_replicas=4, desired_replicas=5), True)
    assert seed_from_hpa(hpa, NOW) == due.seed(0, NOW) == seed_of((4, 5), NOW)
    assert seed_of((None, True, 3), NOW) == TakeoverSeed(3, NOW)


def test_the_event_is_posted_at_the_first_seed_and_at_the_last() -> None:
    seed = TakeoverSeed(5, NOW)
    first = SeedDue("hpa/web", "web", HPA_WEB.state, first=True).event(seed, 4)
    assert first is not None and first.reason == TAKEOVER_SEEDED and first.type == "Normal"
    assert first.message == (
        "taking over from HPA web (annotation podpilot.io/takeover-from): Active, stabilization "
        "seeded at 5 replicas (the target's 4, the HPA's current 4, desired 5); held until the "
        "HPA is deleted, and seeded again at each evaluation until then"
    )
    assert SeedDue("hpa/web", "web", HPA_WEB.state, first=False).event(seed, 4) is None
    last = SeedDue("hpa/web", "web", None, first=False).event(TakeoverSeed(4, NOW), 4)
    assert last is not None
    assert last.message == (
        "taking over from HPA web (annotation podpilot.io/takeover-from): Active, stabilization "
        "seeded at 4 replicas (the target's 4; the HPA is gone); no scale-down below it for a "
        "downscale window from now"
    )


def test_the_record_round_trips_through_status() -> None:
    record = TakeoverRecord("hpa/web", NOW + 0.25, 4, complete=True)
    stored = record_to_status(record)
    assert stored == {
        "from": "hpa/web",
        "seededAt": "2027-01-15T08:00:00.250000Z",
        "replicas": 4,
        "complete": True,
    }
    assert record_from_status(stored) == record
    assert record_to_status(None) is None


@pytest.mark.parametrize(
    "stored",
    [None, "x", {}, {"from": "hpa/web", "replicas": "4", "seededAt": "2027-01-15T08:00:00Z"},
     {"from": "hpa/web", "replicas": 4, "seededAt": "not a time"}],
    ids=["none", "text", "empty", "replicas-text", "bad-time"],
)  # fmt: skip
def test_an_unreadable_record_is_none(stored: object) -> None:
    assert record_from_status(stored) is None


def test_hpa_reference_takes_type_and_name_as_kubectl_does() -> None:
    assert hpa_reference("hpa", "web") == "web"
    assert hpa_reference("hpa/web") == "web"
    with pytest.raises(ValueError, match="not both"):
        hpa_reference("hpa/web", "web")


def test_explain_tells_the_record() -> None:
    done = record_to_status(TakeoverRecord("hpa/web", NOW, 4, complete=True))
    assert describe_record(done) == [
        "Took over from hpa/web (annotation podpilot.io/takeover-from): seeded at 4 replicas "
        "at 2027-01-15T08:00:00Z, with the HPA gone"
    ]
    held = record_to_status(TakeoverRecord("hpa/web", NOW, 5, complete=False))
    assert describe_record(held) == [
        "Taking over from hpa/web (annotation podpilot.io/takeover-from): held while the HPA "
        "exists; last seeded at 5 replicas at 2027-01-15T08:00:00Z"
    ]
    assert describe_record(None) == []
