"""Prometheus in the ``monitoring`` namespace, discovering what to scrape from the API server.

Two jobs, both in-cluster only:

* ``kubernetes-pods``: pods annotated ``prometheus.io/scrape: "true"`` (with optional
  ``prometheus.io/port`` and ``prometheus.io/path``), labelled with ``namespace`` and ``pod``;
  the series' own labels win (``honor_labels``), as for the dev cluster's test exporter.
* ``podpilot``: the operator chart's metrics Services (``app.kubernetes.io/part-of: podpilot``,
  ``app.kubernetes.io/component: metrics``, port ``metrics``), scraped the way
  prometheus-operator scrapes the chart's ServiceMonitor: ``honor_labels`` and the
  ``namespace``, ``pod``, ``service``, ``job`` and ``endpoint`` target labels.
"""

from __future__ import annotations

from typing import Any

import yaml

from podpilot_dev.kind.addons.common import (
    Document,
    cluster_role,
    cluster_role_binding,
    deployment,
    metadata,
    namespace,
    restricted_container_security,
    restricted_pod_security,
    rule,
    service,
    service_account,
)
from podpilot_dev.manifests import SERVICE_MONITOR_TARGET_LABELS

NAME = "prometheus"
NAMESPACE = "monitoring"
LABELS = {"app.kubernetes.io/name": NAME}
PORT = 9090
CONFIGMAP = "prometheus-config"
CONFIG_FILE = "prometheus.yml"
URL = f"http://{NAME}.{NAMESPACE}.svc:{PORT}/"
# The dev cluster's pace, so the tests' timings hold on both clusters.
SCRAPE_INTERVAL = "2s"


def _meta(name: str) -> str:
    return f"__meta_kubernetes_{name}"


def _keep(label: str, value: str) -> dict[str, Any]:
    return {"source_labels": [label], "regex": value, "action": "keep"}


def pods_job() -> dict[str, Any]:
    annotation = _meta("pod_annotation_prometheus_io_")
    return {
        "job_name": "kubernetes-pods",
        "honor_labels": True,
        # Prometheus 3 refuses a scrape without a valid Content-Type unless told what to expect;
        # annotated pods may serve any exporter.
        "fallback_scrape_protocol": "PrometheusText0.0.4",
        "kubernetes_sd_configs": [{"role": "pod"}],
        "relabel_configs": [
            _keep(f"{annotation}scrape", "true"),
            _keep(_meta("pod_phase"), "Running"),
            {
                "source_labels": [f"{annotation}path"],
                "regex": "(.+)",
                "target_label": "__metrics_path__",
            },
            {
                "source_labels": ["__address__", f"{annotation}port"],
                "regex": r"([^:]+)(?::\d+)?;(\d+)",
                "replacement": "$1:$2",
                "target_label": "__address__",
            },
            {"source_labels": [_meta("namespace")], "target_label": "namespace"},
            {"source_labels": [_meta("pod_name")], "target_label": "pod"},
        ],
    }


def operator_job() -> dict[str, Any]:
    service_label = _meta("service_label_app_kubernetes_io_")
    return {
        "job_name": "podpilot",
        "honor_labels": True,
        "kubernetes_sd_configs": [{"role": "endpointslice"}],
        "relabel_configs": [
            _keep(f"{service_label}part_of", "podpilot"),
            _keep(f"{service_label}component", "metrics"),
            _keep(_meta("endpointslice_port_name"), "metrics"),
            *(
                {"source_labels": [_meta(meta)], "target_label": label}
                for meta, label in SERVICE_MONITOR_TARGET_LABELS
            ),
            {"target_label": "endpoint", "replacement": "metrics"},
        ],
    }


def configuration() -> str:
    document = {
        "global": {
            "scrape_interval": SCRAPE_INTERVAL,
            "scrape_timeout": SCRAPE_INTERVAL,
            "evaluation_interval": SCRAPE_INTERVAL,
        },
        "scrape_configs": [pods_job(), operator_job()],
    }
    return yaml.safe_dump(document, sort_keys=False)


def pod_spec(image: str) -> Document:
    container = {
        "name": NAME,
        "image": image,
        "imagePullPolicy": "Never",
        "args": [
            f"--config.file=/etc/prometheus/{CONFIG_FILE}",
            "--storage.tsdb.path=/prometheus",
            "--storage.tsdb.retention.time=2h",
            f"--web.listen-address=:{PORT}",
            "--web.enable-lifecycle",
        ],
        "ports": [{"name": "web", "containerPort": PORT, "protocol": "TCP"}],
        "readinessProbe": {"httpGet": {"path": "/-/ready", "port": "web"}, "periodSeconds": 5},
        "livenessProbe": {"httpGet": {"path": "/-/healthy", "port": "web"}, "periodSeconds": 10},
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}},
        "securityContext": restricted_container_security(),
        "volumeMounts": [
            {"name": "config", "mountPath": "/etc/prometheus", "readOnly": True},
            {"name": "data", "mountPath": "/prometheus"},
        ],
    }
    return {
        "serviceAccountName": NAME,
        "securityContext": restricted_pod_security(),
        "containers": [container],
        "volumes": [
            {"name": "config", "configMap": {"name": CONFIGMAP}},
            {"name": "data", "emptyDir": {"sizeLimit": "1Gi"}},
        ],
    }


def manifests(image: str) -> list[Document]:
    return [
        namespace(NAMESPACE, "restricted"),
        service_account(NAME, NAMESPACE),
        cluster_role(
            NAME,
            [
                rule([""], ["nodes", "services", "endpoints", "pods"], ["get", "list", "watch"]),
                rule(["discovery.k8s.io"], ["endpointslices"], ["get", "list", "watch"]),
            ],
        ),
        cluster_role_binding(NAME, NAME, NAME, NAMESPACE),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata(CONFIGMAP, NAMESPACE, **LABELS),
            "data": {CONFIG_FILE: configuration()},
        },
        service(NAME, NAMESPACE, LABELS, PORT, "web"),
        deployment(NAME, NAMESPACE, LABELS, pod_spec(image)),
    ]
