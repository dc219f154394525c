"""``podpilot takeover hpa NAME`` and ``podpilot takeover --undo hpa NAME``: move a workload
from its HPA to an Autoscaler without a step change, and back. The order of the writes and the
seed are explained in ``autoscaler/api/takeover.py``; every step is an Event on the Autoscaler.
It runs with the user's credentials (get, list, create, patch of Autoscalers; get, create,
delete of HPAs; create of Events)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, TypeGuard, TypeVar, cast

from podpilot.apimachinery.events import EventSpec, ObjectRef
from podpilot.apimachinery.group import API_VERSION, GROUP, VERSION
from podpilot.apimachinery.json_fields import mapping
from podpilot.autoscaler.api.conversion import ConversionError, convert_hpa
from podpilot.autoscaler.api.takeover import (
    CREATED_ANNOTATION,
    DEFAULT_MIN_EVALUATIONS,
    DEFAULT_THRESHOLD,
    MANIFEST_ANNOTATION,
    SEED_ANNOTATION,
    TakeoverSeed,
    hpa_counts,
    hpa_reference,
    kept_manifest,
    refusal,
    seed_from_hpa,
    seeded_message,
)
from podpilot.commands.api_errors import api_failure, unexpected_answer, unreadable_answer_errors
from podpilot.commands.conventions import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_STATUS,
    EXIT_USAGE,
    LARGEST_WHOLE_NUMBER,
    CommandError,
    add_kubeconfig_arguments,
    add_request_timeout_argument,
    connect_one_call_at_a_time,
    namespace_name,
    number,
    resource_name,
    whole_number_within,
)

if TYPE_CHECKING:
    from podpilot.kube.clients import ApiClients

EXIT_REFUSED = 4
COMPONENT = "podpilot-takeover"
DELETE_ATTEMPTS = 5
TAKEOVER_ONLY_FLAGS = (
    ("force", "--force"),
    ("threshold", "--threshold"),
    ("min_evaluations", "--min-evaluations"),
)
"""The flags that decide whether to take over (argument name, flag): --undo takes none."""
T = TypeVar("T")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Hand a workload from its HorizontalPodAutoscaler to an Autoscaler without a step "
        "change: the Autoscaler shadowing it (or one converted from it) becomes Active with "
        "its stabilization seeded from the HPA, then the HPA is deleted, its manifest kept on "
        "the Autoscaler. --undo creates the HPA again and returns the Autoscaler to DryRun "
        "(or deletes it, when the takeover created it)."
    )
    parser.epilog = EXIT_STATUS.replace(
        "  130",
        f"  {EXIT_REFUSED}    refused: the shadow tally does not allow a takeover (too few "
        "comparable\n       evaluations, or agreement below --threshold); --force overrides\n  130",
    )
    parser.add_argument("type", metavar="TYPE", help="hpa (or hpa/NAME, as kubectl takes it)")
    parser.add_argument(
        "name", metavar="NAME", nargs="?", type=resource_name, help="the HPA's name"
    )
    parser.add_argument(
        "-n",
        "--namespace",
        default=None,
        type=namespace_name,
        help="the HPA's namespace (default: the kubeconfig context's namespace, else the pod's "
        "in a cluster, else 'default')",
    )
    parser.add_argument(
        "--undo", action="store_true", help="create the HPA again from the kept manifest"
    )
    parser.add_argument(
        "--force", action="store_true", help="take over whatever the shadow tally says"
    )
    # No argparse defaults: run() tells a flag given from one left out (--undo takes none).
    parser.add_argument(
        "--threshold",
        type=number,
        default=None,
        help="the least share of comparable evaluations that must have agreed with the HPA "
        f"(default: {DEFAULT_THRESHOLD})",
    )
    parser.add_argument(
        "--min-evaluations",
        type=evaluation_count,
        default=None,
        help="the least number of comparable evaluations in the shadow tally; 0 still needs "
        f"one, to measure the agreement (default: {DEFAULT_MIN_EVALUATIONS})",
    )
    add_kubeconfig_arguments(parser)
    add_request_timeout_argument(parser, "how long to wait for each API answer")


def evaluation_count(text: str) -> int:
    """A number of evaluations, 0 or more."""
    return whole_number_within(text, "a number of evaluations", 0, LARGEST_WHOLE_NUMBER)


def hpa_name(kind: str, name: str | None) -> str:
    """``hpa NAME`` or ``hpa/NAME``, as kubectl takes a type and a name."""
    try:
        return hpa_reference(kind, name)
    except ValueError as error:
        raise CommandError(str(error), EXIT_USAGE) from None


def run(args: argparse.Namespace) -> int:
    name = hpa_name(args.type, args.name)
    refuse_takeover_flags_with_undo(args)
    tally_rules = with_defaults(args)
    if not 0.0 <= tally_rules.threshold <= 1.0:
        raise CommandError("--threshold must be between 0 and 1", EXIT_USAGE)
    clients = connect_one_call_at_a_time(args)
    try:
        session = Session(clients, args.namespace or clients.pykube.config.namespace)
        message = session.undo(name) if args.undo else session.take_over(name, tally_rules)
    finally:
        clients.close()
    print(message)
    return EXIT_OK


def refuse_takeover_flags_with_undo(args: argparse.Namespace) -> None:
    """--undo with a flag that decides whether to take over: a usage error, not a flag
    silently ignored."""
    # `is not`, not `in (None, False)`: --min-evaluations 0 is given, and 0 == False.
    given = [
        flag
        for dest, flag in TAKEOVER_ONLY_FLAGS
        if getattr(args, dest) is not None and getattr(args, dest) is not False
    ]
    if args.undo and given:
        raise CommandError(
            f"--undo cannot be combined with {', '.join(given)} (they decide whether to take over)",
            EXIT_USAGE,
        )


def with_defaults(args: argparse.Namespace) -> argparse.Namespace:
    """``args`` with the tally flags left out at their defaults."""
    defaults = {"threshold": DEFAULT_THRESHOLD, "min_evaluations": DEFAULT_MIN_EVALUATIONS}
    left_out = {dest: value for dest, value in defaults.items() if getattr(args, dest) is None}
    return argparse.Namespace(**{**vars(args), **left_out})


class Session:
    """The calls of one takeover or undo, each failure turned into one line."""

    def __init__(self, clients: ApiClients, namespace: str) -> None:
        import kubernetes

        self.clients = clients
        self.namespace = namespace
        self.custom = kubernetes.client.CustomObjectsApi(clients.kubernetes)
        self.hpas = kubernetes.client.AutoscalingV2Api(clients.kubernetes)
        self.core = kubernetes.client.CoreV1Api(clients.kubernetes)

    # --- the two commands -----------------------------------------------------------------

    def take_over(self, name: str, args: argparse.Namespace) -> str:
        hpa = self.read_hpa(name)
        if hpa is None:
            raise CommandError(f"HorizontalPodAutoscaler {self.namespace}/{name} not found")
        seed = self.seed(hpa)
        autoscaler = self.shadowing(hpa)
        kept = _annotations(autoscaler or {}).get(MANIFEST_ANNOTATION)
        # A takeover that stopped before the HPA was deleted (or an HPA applied again since):
        # the checks were made then; seed again from the HPA as it is, and delete it.
        resuming = kept is not None and _kept_name(kept) == name
        if kept is not None and not resuming:
            taken = _name(autoscaler or {})
            raise CommandError(
                f"Autoscaler {self.namespace}/{taken} already took over HPA {_kept_name(kept)}"
            )
        shadow = mapping((autoscaler or {}).get("status")).get("shadow")
        reason = None if resuming else refusal(shadow, name, args.threshold, args.min_evaluations)
        if reason is not None and not args.force:
            raise CommandError(f"refusing to take over HPA {name}: {reason}", EXIT_REFUSED)
        annotations = {
            MANIFEST_ANNOTATION: json.dumps(kept_manifest(hpa), sort_keys=True),
            SEED_ANNOTATION: seed.to_annotation(),
        }
        if autoscaler is None:
            autoscaler = self.create_autoscaler(hpa, annotations)
        else:
            autoscaler = self.activate(autoscaler, annotations)
        status = hpa.get("status") or {}
        forced = f" (forced: {reason})" if reason is not None else ""
        counts = hpa_counts(status.get("currentReplicas"), status.get("desiredReplicas"))
        self.event(autoscaler, "TakeoverSeeded", seeded_message(name, seed, counts, forced))
        seed = self.delete_hpa(hpa, autoscaler, seed)
        self.event(
            autoscaler,
            "HpaDeleted",
            f"deleted HPA {name}; its manifest is kept in annotation {MANIFEST_ANNOTATION} "
            f"(podpilot takeover --undo hpa {name} creates it again)",
        )
        taken = _name(autoscaler)
        return (
            f"autoscaler.{GROUP}/{taken} took over from horizontalpodautoscaler/{name} "
            f"(seeded at {seed.replicas} replicas)"
        )

    def undo(self, name: str) -> str:
        autoscaler = self.keeper(name)
        if autoscaler is None:
            raise CommandError(
                f"no Autoscaler in namespace {self.namespace} keeps the manifest of HPA {name} "
                "(was it taken over with podpilot takeover?)"
            )
        if self.read_hpa(name) is not None:
            raise CommandError(f"HorizontalPodAutoscaler {self.namespace}/{name} already exists")
        manifest = self.restorable_manifest(autoscaler, name)
        created = _annotations(autoscaler).get(CREATED_ANNOTATION) == "true"
        # DryRun first: between this write and the HPA's creation nobody scales the target,
        # rather than two autoscalers for a moment.
        autoscaler = self.patch_autoscaler(autoscaler, {"spec": {"mode": "DryRun"}})
        self.call(
            lambda: self.hpas.create_namespaced_horizontal_pod_autoscaler(
                self.namespace, cast(Any, manifest)
            ),
            f"create HorizontalPodAutoscaler {self.namespace}/{name}",
        )
        self.event(autoscaler, "HpaRestored", f"created HPA {name} again from the kept manifest")
        taken = _name(autoscaler)
        if created:
            self.event(autoscaler, "TakeoverUndone", "deleting this Autoscaler: takeover made it")
            self.call(
                lambda: self.custom.delete_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, "autoscalers", taken
                ),
                f"delete Autoscaler {self.namespace}/{taken}",
            )
            return f"horizontalpodautoscaler/{name} restored; autoscaler.{GROUP}/{taken} deleted"
        dropped = dict.fromkeys((MANIFEST_ANNOTATION, SEED_ANNOTATION, CREATED_ANNOTATION))
        autoscaler = self.patch_autoscaler(autoscaler, {"metadata": {"annotations": dropped}})
        self.event(autoscaler, "TakeoverUndone", f"back to DryRun beside HPA {name}")
        return f"horizontalpodautoscaler/{name} restored; autoscaler.{GROUP}/{taken} is DryRun"

    # --- steps ----------------------------------------------------------------------------

    def read_hpa(self, name: str) -> dict[str, Any] | None:
        """The HPA, or None when there is none; an answer that is not it is an error (a
        proxy's page, a List), before anything is written."""
        what = f"read HorizontalPodAutoscaler {self.namespace}/{name}"
        found: object = self.call(
            lambda: self.hpas.api_client.sanitize_for_serialization(
                self.hpas.read_namespaced_horizontal_pod_autoscaler(name, self.namespace)
            ),
            what,
            missing_ok=True,
        )
        if found is None:
            return None
        if not _is_hpa(found, name):
            raise _unexpected(what, f"not HorizontalPodAutoscaler {name}")
        return dict(found)

    def seed(self, hpa: Mapping[str, Any]) -> TakeoverSeed:
        """The seed of the HPA as read; an error when its status has no count to seed from."""
        seed = seed_from_hpa(hpa, time.time())
        if seed is None:
            raise CommandError(
                f"HorizontalPodAutoscaler {self.namespace}/{_name(hpa)} has no replica count "
                "yet (the HPA controller has not synced it: its status has no currentReplicas "
                "and no conditions), so none to seed the Autoscaler with: wait for its first "
                "sync (--force does not override this)"
            )
        return seed

    def autoscalers(self) -> list[dict[str, Any]]:
        what = f"list Autoscalers in {self.namespace}"
        listed: object = self.call(
            lambda: self.custom.list_namespaced_custom_object(
                GROUP, VERSION, self.namespace, "autoscalers"
            ),
            what,
        )
        items = listed.get("items") if isinstance(listed, Mapping) else None
        if not isinstance(items, list) or not all(_is_named(item) for item in items):
            raise _unexpected(what, "not a list of Autoscalers")
        return [dict(item) for item in items]

    def shadowing(self, hpa: Mapping[str, Any]) -> dict[str, Any] | None:
        """The Autoscaler whose target is the HPA's; an error when several are."""
        wanted = _target(hpa)
        found = [a for a in self.autoscalers() if _target(a) == wanted]
        if len(found) > 1:
            names = ", ".join(sorted(_name(a) for a in found))
            raise CommandError(f"several Autoscalers scale {wanted[0]}/{wanted[1]}: {names}")
        return found[0] if found else None

    def keeper(self, name: str) -> dict[str, Any] | None:
        """The Autoscaler keeping HPA ``name``'s manifest."""
        for autoscaler in self.autoscalers():
            kept = _annotations(autoscaler).get(MANIFEST_ANNOTATION)
            if kept and _kept_name(kept) == name:
                return autoscaler
        return None

    def restorable_manifest(self, autoscaler: Mapping[str, Any], name: str) -> dict[str, Any]:
        """The kept manifest, checked before the undo writes anything: the client would refuse
        one that is not an HPA only once the Autoscaler is DryRun."""
        import kubernetes
        import pydantic

        manifest: dict[str, Any] = json.loads(_annotations(autoscaler)[MANIFEST_ANNOTATION])
        try:
            kubernetes.client.V2HorizontalPodAutoscaler.from_dict(manifest)
        except pydantic.ValidationError:
            raise CommandError(
                f"the manifest of HPA {name} kept in annotation {MANIFEST_ANNOTATION} of "
                f"Autoscaler {self.namespace}/{_name(autoscaler)} is not an HPA"
            ) from None
        return manifest

    def create_autoscaler(
        self, hpa: Mapping[str, Any], annotations: Mapping[str, str]
    ) -> dict[str, Any]:
        try:
            body = convert_hpa(kept_manifest(hpa), mode="Active").autoscaler
        except ConversionError as error:
            raise CommandError(f"cannot convert the HPA: {error}") from None
        metadata = body.setdefault("metadata", {})
        metadata["namespace"] = self.namespace
        metadata["annotations"] = {
            **(metadata.get("annotations") or {}),
            **annotations,
            CREATED_ANNOTATION: "true",
        }
        created: object = self.call(
            lambda: self.custom.create_namespaced_custom_object(
                GROUP, VERSION, self.namespace, "autoscalers", body
            ),
            f"create Autoscaler {self.namespace}/{metadata.get('name')}",
        )
        return dict(created) if _is_named(created) else body

    def activate(
        self, autoscaler: Mapping[str, Any], annotations: Mapping[str, str]
    ) -> dict[str, Any]:
        """Active and seeded in one write. Not conditional on the version read: a shadowing
        Autoscaler's status (and so its resourceVersion) changes at every evaluation."""
        patch = {"metadata": {"annotations": dict(annotations)}, "spec": {"mode": "Active"}}
        return self.patch_autoscaler(autoscaler, patch)

    def patch_autoscaler(
        self, autoscaler: Mapping[str, Any], patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        name = _name(autoscaler)
        patched: object = self.call(
            lambda: self.custom.patch_namespaced_custom_object(
                GROUP, VERSION, self.namespace, "autoscalers", name, dict(patch)
            ),
            f"patch Autoscaler {self.namespace}/{name}",
        )
        return dict(patched) if _is_named(patched) else dict(autoscaler)

    def delete_hpa(
        self, hpa: Mapping[str, Any], autoscaler: Mapping[str, Any], seed: TakeoverSeed
    ) -> TakeoverSeed:
        """Delete the HPA on condition it is the version ``seed`` was read from; when it
        changed meanwhile (its status moves every sync), seed again from the new version."""
        name = hpa["metadata"]["name"]
        for _ in range(DELETE_ATTEMPTS):
            try:
                self.call(
                    partial(self._delete_hpa_at, name, hpa["metadata"]["resourceVersion"]),
                    f"delete HorizontalPodAutoscaler {self.namespace}/{name}",
                    conflict_ok=True,
                )
                return seed
            except _ConflictError:
                fresh = self.read_hpa(name)
                if fresh is None:
                    return seed  # deleted by someone else: the seed stands
                hpa = fresh
                seed = self.reseed(hpa, autoscaler, seed)
        raise CommandError(
            f"HPA {name} kept changing while it was being deleted; the Autoscaler is Active "
            "and held while the HPA exists: run the takeover again, or --undo"
        )

    def reseed(
        self, hpa: Mapping[str, Any], autoscaler: Mapping[str, Any], seed: TakeoverSeed
    ) -> TakeoverSeed:
        """The seed of the HPA's new version, written to the Autoscaler; ``seed`` stays when
        the new version has no count (its last known one is still the best)."""
        fresh = seed_from_hpa(hpa, time.time())
        if fresh is None:
            return seed
        annotations = {SEED_ANNOTATION: fresh.to_annotation()}
        self.patch_autoscaler(autoscaler, {"metadata": {"annotations": annotations}})
        return fresh

    def _delete_hpa_at(self, name: str, resource_version: str) -> object:
        import kubernetes

        preconditions = kubernetes.client.V1Preconditions(resource_version=resource_version)
        options = kubernetes.client.V1DeleteOptions(preconditions=preconditions)
        return self.hpas.delete_namespaced_horizontal_pod_autoscaler(
            name, self.namespace, body=options
        )

    def event(self, autoscaler: Mapping[str, Any], reason: str, message: str) -> None:
        """Best effort, as every Event podpilot posts: a refused Event (a common RBAC gap)
        fails nothing, it is one warning line."""
        from podpilot.kube.events import event_request

        metadata = mapping(autoscaler.get("metadata"))
        about = ObjectRef(
            API_VERSION, "Autoscaler", _name(autoscaler), self.namespace, metadata.get("uid")
        )
        spec = EventSpec(about, "Normal", reason, message, COMPONENT)
        try:
            self.call(event_request(self.core, spec, datetime.now(UTC)), f"create Event {reason}")
        except CommandError as failure:
            print(f"podpilot takeover: warning: {failure}", file=sys.stderr)

    def call(
        self,
        request: Callable[[], T],
        what: str,
        *,
        missing_ok: bool = False,
        conflict_ok: bool = False,
    ) -> T | None:
        import kubernetes

        from podpilot.kube.clients import TRANSPORT_ERRORS

        try:
            return request()
        except unreadable_answer_errors() as error:
            raise api_failure(error, self.clients, what) from None
        except kubernetes.client.ApiException as error:
            if missing_ok and error.status == 404:
                return None
            if conflict_ok and error.status == 409:
                raise _ConflictError from None
            raise api_failure(error, self.clients, what) from None
        except TRANSPORT_ERRORS as error:
            raise api_failure(error, self.clients, what) from None


class _ConflictError(Exception):
    pass


def _kept_name(kept: str) -> str | None:
    """The name in a kept manifest annotation (None when it does not parse)."""
    try:
        manifest = json.loads(kept)
    except ValueError:
        return None
    metadata = manifest.get("metadata") if isinstance(manifest, Mapping) else None
    return str(metadata.get("name")) if isinstance(metadata, Mapping) else None


def _annotations(obj: Mapping[str, Any]) -> Mapping[str, str]:
    return mapping(mapping(obj.get("metadata")).get("annotations"))


def _target(obj: Mapping[str, Any]) -> tuple[str, str]:
    reference = mapping(mapping(obj.get("spec")).get("scaleTargetRef"))
    return str(reference.get("kind") or ""), str(reference.get("name") or "")


def _name(obj: Mapping[str, Any]) -> str:
    return str(mapping(obj.get("metadata")).get("name") or "")


def _is_named(answer: object) -> TypeGuard[Mapping[str, Any]]:
    """An object as the API server answers one: with a ``metadata.name``."""
    return isinstance(answer, Mapping) and bool(_name(answer))


def _is_hpa(answer: object, name: str) -> TypeGuard[Mapping[str, Any]]:
    """The HPA ``name``, with what the takeover reads of it: its version and its spec."""
    if not isinstance(answer, Mapping) or _name(answer) != name:
        return False
    version = mapping(answer.get("metadata")).get("resourceVersion")
    return bool(version) and isinstance(answer.get("spec"), Mapping)


def _unexpected(what: str, problem: str) -> CommandError:
    return CommandError(f"cannot {what}: {unexpected_answer(problem=problem)}", EXIT_FAILED)
