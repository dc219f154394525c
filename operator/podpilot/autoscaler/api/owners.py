"""Who scales a target: the ambiguity guard's index and its check. Pure.

The HPA refuses to act (``AmbiguousSelector``) when two HPAs select the same pods; two
controllers writing one ``/scale`` fight and neither's decision holds. An Active Autoscaler
refuses likewise when its target (same namespace, kind and name) is also the
``scaleTargetRef`` of an ``autoscaling/v2`` HorizontalPodAutoscaler (KEDA's ScaledObjects make
one too) or of another Active Autoscaler. DryRun Autoscalers never write ``/scale``: they are
exempt, and no one's other owner.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from .shadow import HpaState, hpa_state

AMBIGUOUS_SCALE_TARGET: Final = "AmbiguousScaleTarget"
HPA_KIND: Final = "HorizontalPodAutoscaler"
AUTOSCALER_KIND: Final = "Autoscaler"

ObjectKey = tuple[str, str]  # namespace, name


@dataclass(frozen=True, slots=True, order=True)
class ScaleOwner:
    """An object that scales a target: an HPA or an Active Autoscaler."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class ScaleTarget:
    """A ``scaleTargetRef`` within its namespace. The group is left out: ``apps/v1`` and
    ``extensions/v1beta1`` Deployments of one name are one object."""

    namespace: str
    kind: str
    name: str


@dataclass(frozen=True, slots=True)
class HpaTarget:
    """What the HPA watch keeps of each HorizontalPodAutoscaler: its target, and its status
    for a shadowing DryRun Autoscaler (``shadow.py``)."""

    kind: str
    name: str
    state: HpaState = field(default_factory=HpaState)


def hpa_target(hpa: Mapping[str, Any]) -> HpaTarget:
    """An ``autoscaling/v2`` HorizontalPodAutoscaler as the HPA watch keeps it."""
    spec: Mapping[str, Any] = hpa.get("spec") or {}
    reference: Mapping[str, Any] = spec.get("scaleTargetRef") or {}
    return HpaTarget(
        str(reference.get("kind") or ""), str(reference.get("name") or ""), hpa_state(hpa)
    )


class OwnerIndex:
    """Every known owner of each target.

    HPAs come from their watch (``put``/``remove``, the list-and-watch's sink, called on the
    event loop); Autoscalers are ``claim``ed by their loops from the spec they evaluate and
    ``release``d when their loops end. Everything runs on the event loop: no lock.
    """

    def __init__(self) -> None:
        self._targets: dict[ScaleOwner, ScaleTarget] = {}
        self._owners: dict[ScaleTarget, set[ScaleOwner]] = {}
        self._hpas: dict[ObjectKey, HpaState] = {}

    def __len__(self) -> int:
        return len(self._targets)

    def put(self, key: ObjectKey, target: HpaTarget) -> None:
        namespace, name = key
        owner = ScaleOwner(HPA_KIND, namespace, name)
        self._set(owner, ScaleTarget(namespace, target.kind, target.name))
        self._hpas[key] = target.state

    def remove(self, key: ObjectKey) -> None:
        self._drop(ScaleOwner(HPA_KIND, *key))
        self._hpas.pop(key, None)

    def hpa(self, target: ScaleTarget) -> tuple[str, HpaState] | None:
        """The HPA that scales ``target`` (the first by name when several do), with its
        status as last watched; None when no HPA does."""
        names = sorted(
            owner.name
            for owner in self._owners.get(target, ())
            if owner.kind == HPA_KIND and (owner.namespace, owner.name) in self._hpas
        )
        if not names:
            return None
        return names[0], self._hpas[(target.namespace, names[0])]

    def hpa_named(self, namespace: str, name: str) -> HpaTarget | None:
        """HPA ``namespace/name`` as last watched (its target and status); None when the
        watch does not know it (never created, or deleted)."""
        state = self._hpas.get((namespace, name))
        target = self._targets.get(ScaleOwner(HPA_KIND, namespace, name))
        if state is None or target is None:
            return None
        return HpaTarget(target.kind, target.name, state)

    def claim(self, namespace: str, name: str, kind: str, target: str, active: bool) -> None:
        """Autoscaler ``namespace/name`` scales ``kind/target`` (an owner only when Active)."""
        owner = ScaleOwner(AUTOSCALER_KIND, namespace, name)
        if active:
            self._set(owner, ScaleTarget(namespace, kind, target))
        else:
            self._drop(owner)

    def release(self, namespace: str, name: str) -> None:
        self._drop(ScaleOwner(AUTOSCALER_KIND, namespace, name))

    def owners(self, target: ScaleTarget) -> frozenset[ScaleOwner]:
        return frozenset(self._owners.get(target, ()))

    def _set(self, owner: ScaleOwner, target: ScaleTarget) -> None:
        if self._targets.get(owner) == target:
            return
        self._drop(owner)
        self._targets[owner] = target
        self._owners.setdefault(target, set()).add(owner)

    def _drop(self, owner: ScaleOwner) -> None:
        target = self._targets.pop(owner, None)
        if target is None:
            return
        owners = self._owners[target]
        owners.discard(owner)
        if not owners:
            del self._owners[target]


def other_owners(me: ScaleOwner, owners: Iterable[ScaleOwner]) -> tuple[ScaleOwner, ...]:
    """The owners of my target other than me, in a stable order (kind, namespace, name)."""
    return tuple(sorted(owner for owner in owners if owner != me))


def ambiguity_message(others: Iterable[ScaleOwner]) -> str:
    """The condition's and Event's message, naming every other owner."""
    names = ", ".join(str(owner) for owner in others)
    return (
        f"the target is also scaled by {names}; podpilot does not scale a target that "
        "another autoscaler scales (remove the other, or set mode: DryRun here)"
    )


__all__ = [
    "AMBIGUOUS_SCALE_TARGET",
    "AUTOSCALER_KIND",
    "HPA_KIND",
    "HpaTarget",
    "OwnerIndex",
    "ScaleOwner",
    "ScaleTarget",
    "ambiguity_message",
    "hpa_target",
    "other_owners",
]
