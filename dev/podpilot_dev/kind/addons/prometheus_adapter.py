"""prometheus-adapter in ``monitoring``, serving custom.metrics.k8s.io and
external.metrics.k8s.io from the in-cluster Prometheus with the dev cluster's rules."""

from __future__ import annotations

from podpilot_dev.kind.addons import prometheus
from podpilot_dev.kind.addons.common import (
    Document,
    aggregated_server_rbac,
    cluster_role,
    cluster_role_binding,
    deployment,
    https_probe,
    metadata,
    restricted_container_security,
    restricted_pod_security,
    rule,
    service,
    service_account,
    tmp_volume,
)
from podpilot_dev.manifests import api_service, prometheus_adapter_configuration

NAME = "prometheus-adapter"
NAMESPACE = prometheus.NAMESPACE
LABELS = {"app.kubernetes.io/name": NAME}
PORT = 6443
CONFIGMAP = "prometheus-adapter-config"
CONFIG_FILE = "config.yaml"
# The same group versions the dev cluster registers.
API_VERSIONS = (
    ("custom.metrics.k8s.io", "v1beta2"),
    ("custom.metrics.k8s.io", "v1beta1"),
    ("external.metrics.k8s.io", "v1beta1"),
)


def arguments() -> list[str]:
    return [
        f"--prometheus-url={prometheus.URL}",
        f"--config=/etc/adapter/{CONFIG_FILE}",
        # The dev cluster's pace: new series are served within seconds.
        "--metrics-relist-interval=5s",
        "--metrics-max-age=10s",
        f"--secure-port={PORT}",
        "--cert-dir=/tmp/serving-cert",
    ]


def pod_spec(image: str) -> Document:
    container = {
        "name": NAME,
        "image": image,
        "imagePullPolicy": "Never",
        "args": arguments(),
        "ports": [{"name": "https", "containerPort": PORT, "protocol": "TCP"}],
        "readinessProbe": https_probe("/readyz", "https", period=5),
        "livenessProbe": https_probe("/livez", "https"),
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}},
        "securityContext": restricted_container_security(),
        "volumeMounts": [
            {"name": "config", "mountPath": "/etc/adapter", "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    return {
        "serviceAccountName": NAME,
        "securityContext": restricted_pod_security(),
        "containers": [container],
        "volumes": [{"name": "config", "configMap": {"name": CONFIGMAP}}, tmp_volume()],
    }


def manifests(image: str) -> list[Document]:
    return [
        service_account(NAME, NAMESPACE),
        cluster_role(
            f"{NAME}-resource-reader",
            [rule([""], ["namespaces", "pods", "services", "nodes"], ["get", "list", "watch"])],
        ),
        cluster_role_binding(f"{NAME}-resource-reader", f"{NAME}-resource-reader", NAME, NAMESPACE),
        *aggregated_server_rbac(NAME, NAMESPACE),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata(CONFIGMAP, NAMESPACE, **LABELS),
            "data": {CONFIG_FILE: prometheus_adapter_configuration()},
        },
        service(NAME, NAMESPACE, LABELS, 443, "https"),
        deployment(NAME, NAMESPACE, LABELS, pod_spec(image)),
        *(api_service(group, version, NAMESPACE, NAME, 443) for group, version in API_VERSIONS),
    ]
