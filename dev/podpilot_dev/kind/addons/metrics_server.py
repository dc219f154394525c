"""metrics-server in kube-system, as its components.yaml deploys it, serving metrics.k8s.io.

kind's kubelets serve self-signed certificates and are reached by their InternalIP, hence
``--kubelet-insecure-tls`` and ``--kubelet-preferred-address-types=InternalIP``.
"""

from __future__ import annotations

from podpilot_dev.kind.addons.common import (
    Document,
    aggregated_server_rbac,
    cluster_role,
    cluster_role_binding,
    deployment,
    https_probe,
    restricted_container_security,
    restricted_pod_security,
    rule,
    service,
    service_account,
    tmp_volume,
)
from podpilot_dev.manifests import api_service

NAME = "metrics-server"
NAMESPACE = "kube-system"
LABELS = {"k8s-app": NAME}
PORT = 10250
RESOLUTION = "10s"  # the dev cluster's --metric-resolution; the HPA tests depend on it


def arguments() -> list[str]:
    return [
        "--cert-dir=/tmp",
        f"--secure-port={PORT}",
        "--kubelet-preferred-address-types=InternalIP",
        "--kubelet-use-node-status-port",
        "--kubelet-insecure-tls",
        f"--metric-resolution={RESOLUTION}",
        # metrics-server refuses a timeout that is not below the resolution (default 10s).
        "--kubelet-request-timeout=5s",
    ]


def pod_spec(image: str) -> Document:
    container = {
        "name": NAME,
        "image": image,
        "imagePullPolicy": "Never",
        "args": arguments(),
        "ports": [{"name": "https", "containerPort": PORT, "protocol": "TCP"}],
        "readinessProbe": {**https_probe("/readyz", "https"), "initialDelaySeconds": 20},
        "livenessProbe": https_probe("/livez", "https"),
        "resources": {"requests": {"cpu": "100m", "memory": "200Mi"}},
        "securityContext": restricted_container_security(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    return {
        "serviceAccountName": NAME,
        "priorityClassName": "system-cluster-critical",
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "securityContext": restricted_pod_security(),
        "containers": [container],
        "volumes": [tmp_volume()],
    }


def manifests(image: str) -> list[Document]:
    reader = rule(["metrics.k8s.io"], ["pods", "nodes"], ["get", "list", "watch"])
    return [
        service_account(NAME, NAMESPACE),
        cluster_role(
            "system:aggregated-metrics-reader",
            [reader],
            **{
                f"rbac.authorization.k8s.io/aggregate-to-{role}": "true"
                for role in ("admin", "edit", "view")
            },
        ),
        cluster_role(
            "system:metrics-server",
            [
                rule([""], ["nodes/metrics"], ["get"]),
                rule([""], ["pods", "nodes"], ["get", "list", "watch"]),
            ],
        ),
        cluster_role_binding("system:metrics-server", "system:metrics-server", NAME, NAMESPACE),
        *aggregated_server_rbac(NAME, NAMESPACE),
        service(NAME, NAMESPACE, LABELS, 443, "https"),
        deployment(NAME, NAMESPACE, LABELS, pod_spec(image)),
        api_service("metrics.k8s.io", "v1beta1", NAMESPACE, NAME, 443),
    ]
