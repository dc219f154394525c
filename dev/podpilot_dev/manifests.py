"""Configuration files and manifests the dev cluster writes; pure text, no I/O."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

# Series the test exporter serves follow a naming scheme so prometheus-adapter can map them:
#   podpilot_test_pod_<metric>{namespace, pod}           -> custom.metrics.k8s.io, pods
#   podpilot_test_object_<metric>{namespace, deployment} -> custom.metrics.k8s.io, deployments
#   podpilot_test_external_<metric>{namespace, ...}      -> external.metrics.k8s.io
POD_SERIES_PREFIX = "podpilot_test_pod_"
OBJECT_SERIES_PREFIX = "podpilot_test_object_"
EXTERNAL_SERIES_PREFIX = "podpilot_test_external_"


def kubeconfig(server: str, ca: Path, cert: Path, key: Path, user: str = "admin") -> str:
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "podpilot-dev",
                "cluster": {"server": server, "certificate-authority": str(ca)},
            }
        ],
        "users": [
            {"name": user, "user": {"client-certificate": str(cert), "client-key": str(key)}}
        ],
        "contexts": [
            {"name": "podpilot-dev", "context": {"cluster": "podpilot-dev", "user": user}}
        ],
        "current-context": "podpilot-dev",
    }
    return yaml.safe_dump(document, sort_keys=False)


def kwok_configuration(stage_files: Sequence[Path]) -> str:
    """kwok's config: node/pod stages from the kwok module, plus simulated resource usage."""
    documents: list[str] = [path.read_text() for path in stage_files]
    documents.append(
        yaml.safe_dump(
            {
                "apiVersion": "kwok.x-k8s.io/v1alpha1",
                "kind": "ClusterResourceUsage",
                "metadata": {"name": "usage-from-annotation"},
                "spec": {
                    "usages": [
                        {
                            "usage": {
                                "cpu": {"expression": _annotation_quantity("usage-cpu", "1m")},
                                "memory": {
                                    "expression": _annotation_quantity("usage-memory", "1Mi")
                                },
                            }
                        }
                    ]
                },
            },
            sort_keys=False,
        )
    )
    return "\n---\n".join(doc.strip() for doc in documents) + "\n"


def _annotation_quantity(name: str, default: str) -> str:
    key = f"kwok.x-k8s.io/{name}"
    return (
        f'"{key}" in pod.metadata.annotations ? '
        f'Quantity(pod.metadata.annotations["{key}"]) : Quantity("{default}")'
    )


def kwok_node(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {
                "kwok.x-k8s.io/node": "fake",
                "node.alpha.kubernetes.io/ttl": "0",
                "metrics.k8s.io/resource-metrics-path": f"/metrics/nodes/{name}/metrics/resource",
            },
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
                "podpilot.io/dev-node": "kwok",
            },
        },
        "spec": {},
        "status": {
            "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "250"},
            "capacity": {"cpu": "32", "memory": "256Gi", "pods": "250"},
        },
    }


def loopback_service(namespace: str, name: str) -> dict[str, Any]:
    """An ExternalName Service: the aggregator resolves it to 127.0.0.1 with no DNS or proxy."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"type": "ExternalName", "externalName": "127.0.0.1"},
    }


def api_service(
    group: str, version: str, namespace: str, service: str, port: int
) -> dict[str, Any]:
    return {
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": f"{version}.{group}"},
        "spec": {
            "group": group,
            "version": version,
            "service": {"namespace": namespace, "name": service, "port": port},
            "insecureSkipTLSVerify": True,
            "groupPriorityMinimum": 100,
            "versionPriority": 100,
        },
    }


def only_loopback() -> dict[str, Any]:
    """A relabeling that keeps 127.0.0.1 targets only (a fresh one each time: no YAML aliases)."""
    return {"source_labels": ["__address__"], "regex": r"127\.0\.0\.1:\d+", "action": "keep"}


# The file_sd subdirectory of the targets scraped like a ServiceMonitor, and the target labels
# prometheus-operator sets from Kubernetes metadata (job is the Service's name).
SERVICE_MONITOR_TARGETS = "service-monitor"
SERVICE_MONITOR_TARGET_LABELS = (
    ("namespace", "namespace"),
    ("pod_name", "pod"),
    ("service_name", "service"),
    ("service_name", "job"),
)


def prometheus_configuration(exporter_port: int, file_sd_dir: Path) -> str:
    document = {
        "global": {"scrape_interval": "2s", "evaluation_interval": "2s", "scrape_timeout": "2s"},
        "scrape_configs": [
            {
                "job_name": "podpilot-test-exporter",
                "honor_labels": True,
                "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}],
            },
            {
                # Tests and the demo register 127.0.0.1 targets (e.g. the operator's /metrics)
                # by dropping JSON files here; nothing else is ever scraped.
                "job_name": "podpilot-registered",
                "file_sd_configs": [
                    {"files": [str(file_sd_dir / "*.json")], "refresh_interval": "2s"}
                ],
                "relabel_configs": [only_loopback()],
            },
            {
                # Scraped as prometheus-operator scrapes the chart's ServiceMonitor (with its
                # default honorLabels: true): the target gets namespace, pod, service, job and
                # endpoint from its Kubernetes metadata (here given in the file_sd JSON, see
                # service_monitor_target), and the scraped series' own labels win.
                "job_name": "podpilot-service-monitor",
                "honor_labels": True,
                "file_sd_configs": [
                    {
                        "files": [str(file_sd_dir / SERVICE_MONITOR_TARGETS / "*.json")],
                        "refresh_interval": "2s",
                    }
                ],
                "relabel_configs": [
                    only_loopback(),
                    *(
                        {"source_labels": [f"__meta_kubernetes_{meta}"], "target_label": label}
                        for meta, label in SERVICE_MONITOR_TARGET_LABELS
                    ),
                    {"target_label": "endpoint", "replacement": "metrics"},
                ],
            },
        ],
    }
    return yaml.safe_dump(document, sort_keys=False)


def service_monitor_target(port: int, namespace: str, pod: str, service: str) -> str:
    """A file_sd target for the ``podpilot-service-monitor`` job: the operator's /metrics with
    the Kubernetes metadata prometheus-operator's service discovery would give it."""
    meta = {"namespace": namespace, "pod_name": pod, "service_name": service}
    labels = {f"__meta_kubernetes_{key}": value for key, value in meta.items()}
    return json.dumps([{"targets": [f"127.0.0.1:{port}"], "labels": labels}])


def file_sd_target(job: str, port: int, labels: Mapping[str, str] | None = None) -> str:
    return json.dumps(
        [{"targets": [f"127.0.0.1:{port}"], "labels": {"podpilot_job": job, **(labels or {})}}]
    )


def prometheus_adapter_configuration() -> str:
    namespace_and_pod = {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}
    sum_by_group = "sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)"
    document = {
        "rules": [
            {
                "seriesQuery": f'{{__name__=~"^{POD_SERIES_PREFIX}.*",namespace!="",pod!=""}}',
                "resources": {"overrides": namespace_and_pod},
                "name": {"matches": f"^{POD_SERIES_PREFIX}(.*)$", "as": "${1}"},
                "metricsQuery": sum_by_group,
            },
            {
                "seriesQuery": (
                    f'{{__name__=~"^{OBJECT_SERIES_PREFIX}.*",namespace!="",deployment!=""}}'
                ),
                "resources": {
                    "overrides": {
                        "namespace": {"resource": "namespace"},
                        "deployment": {"group": "apps", "resource": "deployment"},
                    }
                },
                "name": {"matches": f"^{OBJECT_SERIES_PREFIX}(.*)$", "as": "${1}"},
                "metricsQuery": sum_by_group,
            },
        ],
        "externalRules": [
            {
                "seriesQuery": f'{{__name__=~"^{EXTERNAL_SERIES_PREFIX}.*",namespace!=""}}',
                "resources": {"overrides": {"namespace": {"resource": "namespace"}}},
                "name": {"matches": f"^{EXTERNAL_SERIES_PREFIX}(.*)$", "as": "${1}"},
                "metricsQuery": "sum(<<.Series>>{<<.LabelMatchers>>})",
            }
        ],
    }
    return yaml.safe_dump(document, sort_keys=False)
