"""Workloads that burn real CPU, from the ``cpuburn`` image.

``workload`` burns a fixed load per pod: each pod burns the millicores in its ConfigMap's
``millicores`` key, mounted at ``/etc/burn``; cpuburn rereads the file every second, so
patching the ConfigMap changes the load without restarting pods (the kubelet refreshes
ConfigMap volumes within about a minute; ``MILLICORES`` in the pod's env is the load until
then).

``server`` and ``driver`` make a load that splits across replicas, as the HPA walkthrough's
php-apache and load generator do: the driver sends ``rate`` requests a second to the
server's Service, each request costs ``work_ms`` of CPU, so the servers burn
``rate * work_ms`` millicores in all, shared by however many replicas there are. The rate
comes from the driver's ConfigMap (key ``rate``, mounted at ``/etc/drive``) the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from podpilot_dev.kind.addons.common import (
    Document,
    deployment,
    http_probe,
    metadata,
    restricted_container_security,
    restricted_pod_security,
    service,
)

MILLICORES_KEY = "millicores"
MOUNT = "/etc/burn"
RATE_KEY = "rate"
DRIVE_MOUNT = "/etc/drive"
SERVE_PORT = 8080
DRIVE_METRICS_PORT = 9102


def _labels(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name}


def _container(
    image: str, args: Sequence[str], env: Mapping[str, str], cpu_request: str, memory: str
) -> Document:
    container: Document = {
        "name": "cpuburn",
        "image": image,
        "imagePullPolicy": "Never",
        "args": list(args),
    }
    if env:
        container["env"] = [{"name": key, "value": value} for key, value in env.items()]
    container["resources"] = {"requests": {"cpu": cpu_request, "memory": memory}}
    container["securityContext"] = restricted_container_security()
    return container


def _pod(container: Document) -> Document:
    return {
        "securityContext": restricted_pod_security(),
        "terminationGracePeriodSeconds": 5,
        "containers": [container],
    }


def _pod_reading(container: Document, config_map: str, volume: str, path: str) -> Document:
    """A pod whose container reads ``config_map``, mounted read-only at ``path``."""
    mount = {"name": volume, "mountPath": path, "readOnly": True}
    pod = _pod({**container, "volumeMounts": [mount]})
    pod["volumes"] = [{"name": volume, "configMap": {"name": config_map}}]
    return pod


def config_map(name: str, namespace_name: str, millicores: int) -> Document:
    return _config_map(name, namespace_name, MILLICORES_KEY, str(millicores))


def _config_map(name: str, namespace_name: str, key: str, value: str) -> Document:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(name, namespace_name),
        "data": {key: value},
    }


def workload(
    name: str, namespace_name: str, image: str, millicores: int, cpu_request: str = "200m"
) -> list[Document]:
    """The ConfigMap and the Deployment (one replica; an autoscaler changes that)."""
    container = _container(
        image,
        [f"--millicores-file={MOUNT}/{MILLICORES_KEY}"],
        {"MILLICORES": str(millicores)},
        cpu_request,
        "16Mi",
    )
    return [
        config_map(name, namespace_name, millicores),
        deployment(
            name,
            namespace_name,
            _labels(name),
            _pod_reading(container, name, "burn", MOUNT),
        ),
    ]


def server(
    name: str, namespace_name: str, image: str, work_ms: int, cpu_request: str = "200m"
) -> list[Document]:
    """The serving Deployment and its Service. The Deployment leaves ``replicas`` unset (1 when
    created) to the autoscaler: a manifest that set it would take the field back from the
    autoscaler's ``/scale`` writes on every apply, and a server-side apply run again (a second
    ``scripts/dev demo``) would fail on the conflict."""
    container = {
        **_container(
            image,
            ["serve", f"--listen=:{SERVE_PORT}", f"--work-ms={work_ms}"],
            {},
            cpu_request,
            "16Mi",
        ),
        "ports": [{"name": "http", "containerPort": SERVE_PORT, "protocol": "TCP"}],
        "readinessProbe": http_probe("/healthz", "http", period=5),
    }
    labels = _labels(name)
    serving = deployment(name, namespace_name, labels, _pod(container))
    del serving["spec"]["replicas"]
    return [serving, service(name, namespace_name, labels, 80, "http")]


def service_url(name: str, namespace_name: str) -> str:
    """Where the driver reaches the server named ``name`` (its Service, port 80)."""
    return f"http://{name}.{namespace_name}.svc.cluster.local/"


def driver(name: str, namespace_name: str, image: str, url: str, rate: float) -> list[Document]:
    """The ConfigMap holding the rate (requests a second) and the one-replica Deployment, whose
    ``/metrics`` (``cpuburn_drive_requests_total``) the in-cluster Prometheus scrapes."""
    text = format(rate, "g")
    container = {
        **_container(
            image,
            ["drive", f"--url={url}", f"--rate-file={DRIVE_MOUNT}/{RATE_KEY}",
             f"--metrics-listen=:{DRIVE_METRICS_PORT}"],
            {"RATE": text},
            "50m",
            "32Mi",
        ),
        "ports": [{"name": "metrics", "containerPort": DRIVE_METRICS_PORT, "protocol": "TCP"}],
    }  # fmt: skip
    workload = deployment(
        name, namespace_name, _labels(name), _pod_reading(container, name, "drive", DRIVE_MOUNT)
    )
    # A new rate takes a new pod (see ``driver``'s callers); Recreate never runs two drivers.
    workload["spec"]["strategy"] = {"type": "Recreate"}
    workload["spec"]["template"]["metadata"]["annotations"] = {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(DRIVE_METRICS_PORT),
    }
    return [_config_map(name, namespace_name, RATE_KEY, text), workload]
