"""Turn HorizontalPodAutoscaler manifests into podpilot Autoscaler manifests.

Pure: documents in, documents out, no I/O and no Kubernetes client, so the ``podpilot convert``
command, the tests and the controller can all call it.

``autoscaling/v2`` and ``autoscaling/v2beta2`` specs are already Autoscaler specs: only the
apiVersion and kind change, and what the server wrote (status, managed fields, uid, ...) is
dropped. ``autoscaling/v1`` is lifted to the v2 shape first: ``targetCPUUtilizationPercentage``
becomes a Resource cpu Utilization metric, as the apiserver's own v1-to-v2 conversion does.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from podpilot.apimachinery.group import API_VERSION

AUTOSCALER_API_VERSION = API_VERSION
AUTOSCALER_KIND = "Autoscaler"
HPA_KIND = "HorizontalPodAutoscaler"
MODES = ("Active", "DryRun")

V1 = "autoscaling/v1"
SAME_SHAPE_VERSIONS = frozenset({"autoscaling/v2", "autoscaling/v2beta2"})
LIST_KINDS = frozenset({"List", "HorizontalPodAutoscalerList"})

# Only what a user wrote survives; everything else in metadata belongs to the old object.
KEPT_METADATA = ("name", "generateName", "namespace", "labels", "annotations")
DROPPED_ANNOTATIONS = frozenset({"kubectl.kubernetes.io/last-applied-configuration"})
# autoscaling/v1 objects read back from a cluster keep their v2-only fields in these.
V1_ALPHA_ANNOTATION_PREFIX = "autoscaling.alpha.kubernetes.io/"
V1_ALPHA_SPEC_ANNOTATIONS = frozenset(
    {V1_ALPHA_ANNOTATION_PREFIX + "metrics", V1_ALPHA_ANNOTATION_PREFIX + "behavior"}
)


# How YAML writes what it reads as a float that is not a number.
_YAML_NOT_FINITE = {"nan": ".nan", "inf": ".inf", "-inf": "-.inf"}


class ConversionError(ValueError):
    """A document that cannot be turned into an Autoscaler; the message says why and what to do."""


@dataclass(frozen=True)
class Conversion:
    """One converted manifest and the notes worth telling the user (things dropped or changed)."""

    autoscaler: dict[str, Any]
    notes: tuple[str, ...] = ()


def convert_documents(
    documents: Iterable[object], *, mode: str | None = None
) -> Iterator[Conversion]:
    """Convert every HPA in ``documents``; empty documents are skipped and lists are expanded."""
    for document in documents:
        for item in objects_of(document):
            yield convert_hpa(item, mode=mode)


def objects_of(document: object) -> list[object]:
    """The objects of one YAML document: none when it is empty, a ``List``'s items, or itself."""
    if document is None:
        return []
    if isinstance(document, Mapping) and _text(document.get("kind")) in LIST_KINDS:
        items = document.get("items") or []
        if not isinstance(items, list):
            raise ConversionError(f"{document.get('kind')} has items that are not a list")
        return items
    return [document]


def convert_hpa(document: object, *, mode: str | None = None) -> Conversion:
    """Convert one HorizontalPodAutoscaler manifest; ``mode`` sets spec.mode when given."""
    if not isinstance(document, Mapping):
        raise ConversionError(
            f"expected a Kubernetes object, got {type(document).__name__}; "
            "give HorizontalPodAutoscaler manifests"
        )
    _require_hpa(document)
    if mode is not None and mode not in MODES:
        raise ConversionError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")

    notes: list[str] = []
    metadata = _converted_metadata(document.get("metadata"), notes)
    spec = _spec_in_v2_shape(document)
    if mode is not None:
        spec["mode"] = mode

    autoscaler: dict[str, Any] = {
        "apiVersion": AUTOSCALER_API_VERSION,
        "kind": AUTOSCALER_KIND,
        "metadata": metadata,
        "spec": spec,
    }
    return Conversion(autoscaler=autoscaler, notes=tuple(notes))


def _text(value: object) -> str | None:
    """A field that must be a string, as the manifest gives it; None when it is not one."""
    return value if isinstance(value, str) else None


def _describe(document: Mapping[str, Any]) -> str:
    metadata = document.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    api_version = document.get("apiVersion") or "<no apiVersion>"
    what = f"{api_version} {document.get('kind') or '<no kind>'}"
    return f"{what} {name!r}" if name else what


def _require_hpa(document: Mapping[str, Any]) -> None:
    kind = _text(document.get("kind"))
    api_version = document.get("apiVersion")
    if kind == AUTOSCALER_KIND and api_version == AUTOSCALER_API_VERSION:
        raise ConversionError(f"{_describe(document)} is already an Autoscaler; apply it as it is")
    if kind != HPA_KIND:
        raise ConversionError(
            f"{_describe(document)} is not a HorizontalPodAutoscaler; "
            "only HorizontalPodAutoscaler manifests can be converted"
        )
    if api_version == "autoscaling/v2beta1":
        raise ConversionError(
            f"{_describe(document)}: autoscaling/v2beta1 uses an older metric layout; "
            "read it back as autoscaling/v2 (kubectl get hpa.v2.autoscaling NAME -o yaml) "
            "and convert that"
        )
    if api_version != V1 and (
        not isinstance(api_version, str) or api_version not in SAME_SHAPE_VERSIONS
    ):
        raise ConversionError(
            f"{_describe(document)}: unsupported apiVersion; "
            "use autoscaling/v2, autoscaling/v2beta2 or autoscaling/v1"
        )
    if not isinstance(document.get("spec"), Mapping):
        raise ConversionError(f"{_describe(document)} has no spec")


def require_name(manifest: Mapping[str, Any]) -> None:
    """Refuse a manifest the API server could not create for want of a name: it needs
    ``metadata.name`` or ``metadata.generateName``."""
    metadata = manifest.get("metadata")
    names = (
        (metadata.get(key) for key in ("name", "generateName"))
        if isinstance(metadata, Mapping)
        else ()
    )
    if not any(isinstance(name, str) and name for name in names):
        raise ConversionError(
            "metadata.name is required (or metadata.generateName): an Autoscaler needs a name"
        )


def _converted_metadata(metadata: object, notes: list[str]) -> dict[str, Any]:
    if not isinstance(metadata, Mapping):
        raise ConversionError("the manifest has no metadata; an Autoscaler needs a name")
    for field in ("labels", "annotations"):
        require_string_map(metadata.get(field), f"metadata.{field}")
    kept = {key: copy.deepcopy(metadata[key]) for key in KEPT_METADATA if key in metadata}
    annotations = kept.get("annotations")
    if isinstance(annotations, dict):
        for key in sorted(annotations):
            if key in DROPPED_ANNOTATIONS or key.startswith(V1_ALPHA_ANNOTATION_PREFIX):
                del annotations[key]
        if not annotations:
            del kept["annotations"]
    for key in ("ownerReferences", "finalizers"):
        if metadata.get(key):
            notes.append(f"dropped metadata.{key}: they belonged to the HorizontalPodAutoscaler")
    return kept


def require_string_map(labels: object, path: str) -> None:
    """Refuse labels or annotations that are not strings keyed by strings, as kubectl refuses
    them when it reads the file (``json: cannot unmarshal bool into Go struct field
    ObjectMeta.metadata.labels of type string``): YAML reads an unquoted ``true`` or ``3`` as a
    boolean or a number, and ``1: x`` with a number as its key. A null value passes: a Go map
    of strings reads JSON's null as the empty string.

    Raises:
        ConversionError: Naming the first key or value at fault.
    """
    if labels is None:
        return
    if not isinstance(labels, Mapping):
        raise ConversionError(f"{path} must be an object, not {_shown(labels)}")
    for key, value in labels.items():
        if not isinstance(key, str):
            raise ConversionError(f"{path}: key {_shown(key)} is not a string: quote it")
        if value is not None and not isinstance(value, str):
            quote = "" if isinstance(value, Mapping | list) else ": quote it"
            raise ConversionError(f"{path}.{key}: must be a string, not {_read_as(value)}{quote}")


def _read_as(value: object) -> str:
    """What YAML read a value as: the boolean true (from true, yes or on), the number 3."""
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, float) and not math.isfinite(value):
        return _YAML_NOT_FINITE[str(value)]
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return _shown(value)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:40]}..."


def _spec_in_v2_shape(document: Mapping[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(dict(document["spec"]))
    if document.get("apiVersion") != V1:
        return spec
    annotations = (document.get("metadata") or {}).get("annotations") or {}
    hidden = sorted(V1_ALPHA_SPEC_ANNOTATIONS.intersection(annotations))
    if hidden:
        raise ConversionError(
            f"{_describe(document)} keeps autoscaling/v2 fields in annotation "
            f"{', '.join(hidden)}, which autoscaling/v1 cannot express; read it back as "
            "autoscaling/v2 (kubectl get hpa.v2.autoscaling NAME -o yaml) and convert that"
        )
    target_cpu = spec.pop("targetCPUUtilizationPercentage", None)
    if target_cpu is not None:
        spec["metrics"] = [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": target_cpu},
                },
            }
        ]
    # Without targetCPUUtilizationPercentage, v1 means cpu at 80%, which is also the
    # Autoscaler's default for an unset spec.metrics.
    return spec
