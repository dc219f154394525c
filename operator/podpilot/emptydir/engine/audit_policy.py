"""What to audit and how: the typed settings of ``EmptyDirAuditPolicy/default``.

:mod:`podpilot.emptydir.api.policy` reads them from the resource; the scan applies them.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum

from podpilot.apimachinery.selectors import Selector, selector_from_object
from podpilot.emptydir.engine.model import Thresholds
from podpilot.emptydir.engine.pod_audit import Exemptions


class StatsSource(Enum):
    """Where kubelet Summaries are read (``spec.polling.source``)."""

    KUBELET_DIRECT = "kubeletDirect"
    """``https://InternalIP:kubeletPort/stats/summary``, authorized by ``nodes/stats`` get."""
    APISERVER_PROXY = "apiserverProxy"
    """``/api/v1/nodes/NAME/proxy/stats/summary``: needs ``nodes/proxy`` get, which the kubelet
    also accepts for exec into any container; opt-in only."""


@dataclass(frozen=True)
class AuditPolicy:
    """What to audit and how, from ``EmptyDirAuditPolicy/default``.

    Attributes:
        namespace_selector: Namespaces to audit.
        exempt_namespaces: Namespaces never audited.
        exempt_pod_labels: Pods carrying all of these labels are not audited (empty: none).
        exemptions: Finding IDs and volume names the pure audit drops.
        thresholds: Usage finding thresholds.
        poll_interval: Time between polls of one node.
        max_concurrent: Nodes polled at the same time.
        ring_size: Usage samples kept per volume.
        stats_source: Where kubelet Summaries are read.
        max_volumes_per_report: Cap on ``status.volumes``.
        pod_granularity: Label metrics per pod and node, not only per workload.
        problems: Fields that were invalid and replaced by defaults.
    """

    namespace_selector: Selector = field(default_factory=lambda: Selector(()))
    exempt_namespaces: frozenset[str] = frozenset()
    exempt_pod_labels: Mapping[str, str] = field(default_factory=dict)
    exemptions: Exemptions = field(default_factory=Exemptions)
    thresholds: Thresholds = field(default_factory=Thresholds)
    poll_interval: timedelta = timedelta(seconds=60)
    max_concurrent: int = 8
    ring_size: int = 10
    stats_source: StatsSource = StatsSource.KUBELET_DIRECT
    max_volumes_per_report: int = 50
    pod_granularity: bool = False
    problems: tuple[str, ...] = ()

    def audits_namespace(self, namespace: str, labels: Mapping[str, str] | None) -> bool:
        """Whether pods in ``namespace`` (with namespace ``labels``, if known) are audited.

        A namespace whose labels are unknown is audited only by an empty selector.
        """
        if namespace in self.exempt_namespaces:
            return False
        if self.namespace_selector.is_empty:
            return True
        return labels is not None and self.namespace_selector.matches(labels)

    def exempts_pod(self, labels: Mapping[str, str]) -> bool:
        """Whether a pod with ``labels`` is left out by ``exemptions.podLabels``."""
        return bool(self.exempt_pod_labels) and self._exempt_pods.matches(labels)

    @functools.cached_property
    def _exempt_pods(self) -> Selector:
        return selector_from_object({"matchLabels": self.exempt_pod_labels})
