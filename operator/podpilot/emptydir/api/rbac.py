"""The exact RBAC rules the emptyDir controller uses, beside kopf's own (see docs).

Kept as data so the documentation, the Helm chart review and the RBAC e2e test agree.
"""

from __future__ import annotations

from typing import Any

from podpilot.apimachinery.group import GROUP

from .policy import POLICY_NAME

RULES: tuple[dict[str, Any], ...] = (
    # The in-memory model: the pod watch and kopf's indices list and watch these (no per-scan
    # LIST).
    {"apiGroups": [""], "resources": ["pods", "nodes", "namespaces"], "verbs": ["list", "watch"]},
    # GET https://INTERNAL_IP:PORT/stats/summary: the kubelet authorizes its Summary API as this.
    {"apiGroups": [""], "resources": ["nodes/stats"], "verbs": ["get"]},
    # ReplicaSet -> Deployment and Job -> CronJob, resolved once per owner and cached.
    {"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": ["get"]},
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get"]},
    # The policy: kopf watches it for the daemon and patches its own finalizer onto the one
    # the daemon runs for (kopf does so for every daemon, to stop it before the object is
    # gone); the controller writes its status.
    {
        "apiGroups": [GROUP],
        "resources": ["emptydirauditpolicies"],
        "verbs": ["list", "watch"],
    },
    {
        "apiGroups": [GROUP],
        "resources": ["emptydirauditpolicies"],
        "verbs": ["patch"],
        "resourceNames": [POLICY_NAME],
    },
    {
        "apiGroups": [GROUP],
        "resources": ["emptydirauditpolicies/status"],
        "verbs": ["patch"],
        "resourceNames": [POLICY_NAME],
    },
    # Reports: listed once at start, server-side applied, deleted when unused. An apply that
    # creates the object is authorized as create as well as patch.
    {
        "apiGroups": [GROUP],
        "resources": ["emptydirreports"],
        "verbs": ["list", "create", "patch", "delete"],
    },
    {"apiGroups": [GROUP], "resources": ["emptydirreports/status"], "verbs": ["patch"]},
    # Transition Events on pods, posted by podpilot.kube.events; the kubelet's Evicted Events,
    # watched (server-side filtered to reason=Evicted on pods) to trace evictions of deleted pods.
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "list", "watch"]},
)

KOPF_RULES: tuple[dict[str, Any], ...] = (
    # kopf discovers resources through CRDs when it watches cluster-wide.
    {
        "apiGroups": ["apiextensions.k8s.io"],
        "resources": ["customresourcedefinitions"],
        "verbs": ["list", "watch"],
    },
)
"""What kopf itself needs to run ``podpilot run --standalone``, as under the Lease. kopf peering,
with leader election off, adds list/watch on ``clusterkopfpeerings`` and get/patch on the one
named by ``--peering-name`` (podpilot gets it before it starts; kopf patches its keep-alive into
it and into no other), so the chart limits get/patch to its own peering objects by
``resourceNames``; with ``--namespace``, the same on ``kopfpeerings`` in each namespace given."""
