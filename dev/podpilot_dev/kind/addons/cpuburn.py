"""A workload that burns real CPU: ``cpuburn`` pods, told their load by a ConfigMap.

Each pod burns the millicores in its ConfigMap's ``millicores`` key, mounted at
``/etc/burn``; cpuburn rereads the file every second, so patching the ConfigMap changes the
load without restarting pods (the kubelet refreshes ConfigMap volumes within about a minute;
``MILLICORES`` in the pod's env is the load until then).
"""

from __future__ import annotations

from podpilot_dev.kind.addons.common import (
    Document,
    deployment,
    metadata,
    restricted_container_security,
    restricted_pod_security,
)

MILLICORES_KEY = "millicores"
MOUNT = "/etc/burn"


def config_map(name: str, namespace_name: str, millicores: int) -> Document:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(name, namespace_name),
        "data": {MILLICORES_KEY: str(millicores)},
    }


def workload(
    name: str, namespace_name: str, image: str, millicores: int, cpu_request: str = "200m"
) -> list[Document]:
    """The ConfigMap and the Deployment (one replica; an autoscaler changes that)."""
    labels = {"app.kubernetes.io/name": name}
    container = {
        "name": "cpuburn",
        "image": image,
        "imagePullPolicy": "Never",
        "args": [f"--millicores-file={MOUNT}/{MILLICORES_KEY}"],
        "env": [{"name": "MILLICORES", "value": str(millicores)}],
        "resources": {"requests": {"cpu": cpu_request, "memory": "16Mi"}},
        "securityContext": restricted_container_security(),
        "volumeMounts": [{"name": "burn", "mountPath": MOUNT, "readOnly": True}],
    }
    pod_spec = {
        "securityContext": restricted_pod_security(),
        "terminationGracePeriodSeconds": 5,
        "containers": [container],
        "volumes": [{"name": "burn", "configMap": {"name": name}}],
    }
    return [
        config_map(name, namespace_name, millicores),
        deployment(name, namespace_name, labels, pod_spec),
    ]
