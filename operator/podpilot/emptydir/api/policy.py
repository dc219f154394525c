"""Read ``EmptyDirAuditPolicy.spec`` into typed settings, with the CRD's defaults."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from podpilot.apimachinery.durations import parse_go_duration
from podpilot.apimachinery.json_fields import mapping
from podpilot.apimachinery.selectors import SELECTOR_OPERATORS, Selector, selector_from_object
from podpilot.emptydir.engine.audit_policy import AuditPolicy, StatsSource
from podpilot.emptydir.engine.model import Thresholds
from podpilot.emptydir.engine.name_pattern import NamePattern
from podpilot.emptydir.engine.pod_audit import Exemptions

POLICY_NAME = "default"


def parse_duration(text: str) -> timedelta:
    """A Go duration such as ``"1h30m"``, ``"90s"`` or ``"0.5s"``.

    Raises:
        ValueError: If ``text`` is not a Go duration.
    """
    return timedelta(seconds=parse_go_duration(text))


def parse_policy(spec: Mapping[str, Any] | None) -> AuditPolicy:
    """Read a policy spec; invalid fields fall back to their defaults and are listed in problems.

    Args:
        spec: ``EmptyDirAuditPolicy.spec`` (may be empty or ``None``).

    Returns:
        The policy.
    """
    spec = spec or {}
    problems: list[str] = []
    defaults = Thresholds()
    raw_thresholds = mapping(spec.get("thresholds"))
    raw_polling = mapping(spec.get("polling"))
    raw_reports = mapping(spec.get("reports"))
    raw_exemptions = mapping(spec.get("exemptions"))

    def percent(key: str, default: float) -> float:
        value = raw_thresholds.get(key)
        if value is None:
            return default
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 100:
            return value / 100
        problems.append(f"thresholds.{key}: not a percent: {value!r}")
        return default

    def duration(raw: Mapping[str, Any], path: str, key: str, default: timedelta) -> timedelta:
        value = raw.get(key)
        if value is None:
            return default
        try:
            parsed = parse_duration(str(value))
        except ValueError as error:
            problems.append(f"{path}.{key}: {error}")
            return default
        if parsed <= timedelta(0):
            problems.append(f"{path}.{key}: not positive: {value!r}")
            return default
        return parsed

    def integer(raw: Mapping[str, Any], path: str, key: str, default: int, low: int) -> int:
        value = raw.get(key)
        if value is None:
            return default
        if isinstance(value, int) and not isinstance(value, bool) and value >= low:
            return value
        problems.append(f"{path}.{key}: not an integer >= {low}: {value!r}")
        return default

    thresholds = Thresholds(
        warn_ratio=percent("warnPercent", defaults.warn_ratio),
        critical_ratio=percent("criticalPercent", defaults.critical_ratio),
        projection_window=duration(
            raw_thresholds, "thresholds", "projectionWindow", defaults.projection_window
        ),
        trend_min_utilization=percent("trendMinUtilizationPercent", defaults.trend_min_utilization),
        inodes_low_ratio=percent("inodesLowPercent", defaults.inodes_low_ratio),
        stale_after=duration(raw_thresholds, "thresholds", "staleAfter", defaults.stale_after),
        failures_before_warning=integer(
            raw_thresholds,
            "thresholds",
            "failuresBeforeWarning",
            defaults.failures_before_warning,
            0,
        ),
    )
    pattern = raw_exemptions.get("volumeNamePattern")
    if pattern is not None:
        try:
            NamePattern(str(pattern))
        except ValueError as error:
            problems.append(f"exemptions.volumeNamePattern: {error}")
            pattern = None
    return AuditPolicy(
        namespace_selector=_selector(spec.get("namespaceSelector"), problems),
        exempt_namespaces=frozenset(_strings(raw_exemptions.get("namespaces"))),
        exempt_pod_labels={
            str(k): str(v) for k, v in mapping(raw_exemptions.get("podLabels")).items()
        },
        exemptions=Exemptions(
            finding_ids=frozenset(s.upper() for s in _strings(raw_exemptions.get("findingIds"))),
            volume_name_pattern=str(pattern) if pattern is not None else None,
        ),
        thresholds=thresholds,
        poll_interval=duration(raw_polling, "polling", "interval", timedelta(seconds=60)),
        max_concurrent=integer(raw_polling, "polling", "maxConcurrent", 8, 1),
        ring_size=integer(raw_polling, "polling", "ringSize", 10, 2),
        stats_source=_stats_source(raw_polling.get("source"), problems),
        max_volumes_per_report=integer(raw_reports, "reports", "maxVolumesPerReport", 50, 1),
        pod_granularity=raw_reports.get("metricsGranularity") == "pod",
        problems=tuple(problems),
    )


def _stats_source(raw: object, problems: list[str]) -> StatsSource:
    if raw is None:
        return StatsSource.KUBELET_DIRECT
    try:
        return StatsSource(raw)
    except ValueError:
        problems.append(f"polling.source: not kubeletDirect or apiserverProxy: {raw!r}")
        return StatsSource.KUBELET_DIRECT


def _selector(raw: object, problems: list[str]) -> Selector:
    """The ``namespaceSelector``; an invalid expression is reported and left out, not fatal."""
    selector = mapping(raw)
    labels = {str(k): str(v) for k, v in mapping(selector.get("matchLabels")).items()}
    expressions: list[dict[str, Any]] = []
    for index, term in enumerate(selector.get("matchExpressions") or []):
        term = mapping(term)
        operator = term.get("operator")
        if operator not in SELECTOR_OPERATORS or not term.get("key"):
            problems.append(f"namespaceSelector.matchExpressions[{index}]: invalid")
            continue
        values = _strings(term.get("values"))
        expressions.append({"key": str(term["key"]), "operator": operator, "values": values})
    return selector_from_object({"matchLabels": labels, "matchExpressions": expressions})


def _strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []
