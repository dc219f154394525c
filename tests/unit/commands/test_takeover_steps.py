"""The order of a takeover's and an undo's writes, against recording fakes of the three API
objects: the Autoscaler is Active and seeded before the HPA is deleted, the HPA is deleted at
the version the seed was read from (seeded again when it changed), and an undo stops the
Autoscaler before it creates the HPA."""

from __future__ import annotations

import argparse
import json
from typing import Any

import pytest
from kubernetes.client import ApiException

from podpilot.autoscaler.api.takeover import (
    CREATED_ANNOTATION,
    MANIFEST_ANNOTATION,
    SEED_ANNOTATION,
    TakeoverSeed,
)
from podpilot.commands.takeover import Session

TARGET = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}


def hpa(version: str, current: int, desired: int) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "shop", "resourceVersion": version, "uid": "u"},
        "spec": {"scaleTargetRef": TARGET, "maxReplicas": 8},
        "status": {"currentReplicas": current, "desiredReplicas": desired},
    }


class World:
    """One namespace's HPA and Autoscalers; every write appended to ``log``."""

    def __init__(self, hpas: list[dict[str, Any]], autoscalers: list[dict[str, Any]]) -> None:
        self.hpas = hpas  # successive versions the HPA reads return
        self.deleted = False
        self.autoscalers = autoscalers
        self.log: list[tuple[str, Any]] = []
        self.conflicts = 0

    # AutoscalingV2Api
    @property
    def api_client(self) -> Any:
        return self

    def sanitize_for_serialization(self, value: Any) -> Any:
        return value

    def read_namespaced_horizontal_pod_autoscaler(self, name: str, namespace: str) -> Any:
        if self.deleted or not self.hpas:
            raise ApiException(status=404, reason="Not Found")
        return self.hpas[0]

    def delete_namespaced_horizontal_pod_autoscaler(
        self, name: str, namespace: str, body: Any
    ) -> None:
        version = body.preconditions.resource_version
        if self.conflicts:
            self.conflicts -= 1
            self.hpas.pop(0)
            raise ApiException(status=409, reason="Conflict")
        self.log.append(("delete hpa", version))
        self.deleted = True

    def create_namespaced_horizontal_pod_autoscaler(self, namespace: str, body: Any) -> None:
        self.log.append(("create hpa", body))

    # CustomObjectsApi
    def list_namespaced_custom_object(self, *args: Any) -> Any:
        return {"items": self.autoscalers}

    def patch_namespaced_custom_object(self, *args: Any) -> Any:
        patch = args[-1]
        self.log.append(("patch autoscaler", patch))
        found = self.autoscalers[0]
        annotations = found["metadata"].setdefault("annotations", {})
        for key, value in (patch.get("metadata", {}).get("annotations") or {}).items():
            if value is None:
                annotations.pop(key, None)
            else:
                annotations[key] = value
        found["spec"].update(patch.get("spec", {}))
        return found

    def create_namespaced_custom_object(self, *args: Any) -> Any:
        self.log.append(("create autoscaler", args[-1]))
        return args[-1]

    def delete_namespaced_custom_object(self, *args: Any) -> None:
        self.log.append(("delete autoscaler", args[-1]))

    # CoreV1Api
    def create_namespaced_event(
        self, namespace: str, body: Any, _request_timeout: object = None
    ) -> None:
        self.log.append(("event", body["reason"]))


def session(world: World) -> Session:
    made = Session.__new__(Session)
    made.clients = None  # type: ignore[assignment]  # only for the error path, not reached
    made.namespace = "shop"
    made.custom = made.hpas = made.core = world  # type: ignore[assignment]
    return made


def options(force: bool = False) -> argparse.Namespace:
    return argparse.Namespace(force=force, threshold=0.95, min_evaluations=20)


def shadowing(evaluations: int, agreed: int) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": "shop", "uid": "a", "resourceVersion": "3"},
        "spec": {"scaleTargetRef": TARGET, "mode": "DryRun"},
        "status": {"shadow": {"hpa": "web", "evaluations": evaluations, "agreed": agreed}},
    }


def steps(world: World) -> list[str]:
    return [step if step != "event" else f"event {what}" for step, what in world.log]


def test_the_autoscaler_is_active_and_seeded_before_the_hpa_is_deleted() -> None:
    world = World([hpa("7", 5, 3)], [shadowing(40, 40)])
    message = session(world).take_over("web", options())
    assert steps(world) == [
        "patch autoscaler", "event TakeoverSeeded", "delete hpa", "event HpaDeleted",
    ]  # fmt: skip
    patch = world.log[0][1]
    assert patch["spec"] == {"mode": "Active"}
    annotations = patch["metadata"]["annotations"]
    assert TakeoverSeed.from_annotation(annotations[SEED_ANNOTATION]).replicas == 5  # type: ignore[union-attr]
    kept = json.loads(annotations[MANIFEST_ANNOTATION])
    assert "status" not in kept and "resourceVersion" not in kept["metadata"]
    assert world.log[2] == ("delete hpa", "7")
    assert message.endswith("(seeded at 5 replicas)")


def test_an_hpa_that_changed_meanwhile_is_seeded_again_then_deleted_at_its_new_version() -> None:
    world = World([hpa("7", 5, 3), hpa("8", 6, 6)], [shadowing(40, 40)])
    world.conflicts = 1
    message = session(world).take_over("web", options())
    assert steps(world) == [
        "patch autoscaler", "event TakeoverSeeded", "patch autoscaler", "delete hpa",
        "event HpaDeleted",
    ]  # fmt: skip
    reseeded = world.log[2][1]["metadata"]["annotations"][SEED_ANNOTATION]
    assert TakeoverSeed.from_annotation(reseeded).replicas == 6  # type: ignore[union-attr]
    assert world.log[3] == ("delete hpa", "8")
    assert message.endswith("(seeded at 6 replicas)")


def test_a_forced_takeover_without_a_twin_creates_an_active_autoscaler() -> None:
    world = World([hpa("7", 4, 4)], [])
    session(world).take_over("web", options(force=True))
    assert steps(world)[:2] == ["create autoscaler", "event TakeoverSeeded"]
    created = world.log[0][1]
    assert created["kind"] == "Autoscaler"
    assert created["spec"]["mode"] == "Active"
    assert created["metadata"]["annotations"][CREATED_ANNOTATION] == "true"


def test_undo_stops_the_autoscaler_before_it_creates_the_hpa_then_drops_the_record() -> None:
    world = World([hpa("7", 5, 3)], [shadowing(40, 40)])
    session(world).take_over("web", options())
    world.log.clear()
    message = session(world).undo("web")
    assert steps(world) == [
        "patch autoscaler", "create hpa", "event HpaRestored", "patch autoscaler",
        "event TakeoverUndone",
    ]  # fmt: skip
    assert world.log[0][1] == {"spec": {"mode": "DryRun"}}
    restored = world.log[1][1]
    assert restored["metadata"] == {"name": "web", "namespace": "shop"}
    assert restored["spec"] == hpa("7", 5, 3)["spec"]
    assert world.autoscalers[0]["metadata"]["annotations"] == {}
    assert message.endswith("is DryRun")


def test_an_interrupted_takeover_resumes_and_another_hpa_is_refused() -> None:
    from podpilot.commands.conventions import CommandError

    world = World([hpa("7", 5, 3)], [shadowing(2, 1)])  # a tally that would be refused
    session(world).take_over("web", options(force=True))
    world.deleted = False  # the delete did not happen (or the HPA was applied again)
    world.hpas = [hpa("9", 6, 6)]
    world.log.clear()
    session(world).take_over("web", options())  # no --force needed: the checks were made
    assert steps(world) == [
        "patch autoscaler", "event TakeoverSeeded", "delete hpa", "event HpaDeleted",
    ]  # fmt: skip
    assert world.log[2] == ("delete hpa", "9")
    other = hpa("3", 2, 2)
    other["metadata"]["name"] = "web-2"
    world.hpas, world.deleted = [other], False
    with pytest.raises(CommandError, match=r"already took over HPA web$"):
        session(world).take_over("web-2", options(force=True))


def test_an_hpa_that_lost_its_count_meanwhile_keeps_the_seed_read_before() -> None:
    unsynced = hpa("8", 0, 0)
    unsynced["status"] = {"desiredReplicas": 0}  # created again, not synced yet
    world = World([hpa("7", 5, 3), unsynced], [shadowing(40, 40)])
    world.conflicts = 1
    message = session(world).take_over("web", options())
    assert steps(world) == [
        "patch autoscaler", "event TakeoverSeeded", "delete hpa", "event HpaDeleted",
    ]  # fmt: skip
    assert world.log[2] == ("delete hpa", "8")
    assert message.endswith("(seeded at 5 replicas)")


def test_an_hpa_never_synced_is_not_taken_over_even_forced() -> None:
    from podpilot.commands.conventions import CommandError

    unsynced = hpa("7", 0, 0)
    unsynced["status"] = {"desiredReplicas": 0}
    world = World([unsynced], [])
    with pytest.raises(CommandError, match=r"HorizontalPodAutoscaler shop/web has no replica"):
        session(world).take_over("web", options(force=True))
    assert world.log == []
