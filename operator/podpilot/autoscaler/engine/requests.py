"""Per-pod resource requests for utilization targets (``calculateRequests``).

Port of ``calculateRequests``, ``calculatePodLevelRequests`` and
``calculatePodRequestsFromContainers`` in ``replica_calculator.go``.
"""

from __future__ import annotations

from collections.abc import Iterable

from .errors import MissingRequestError
from .model import PodInfo

__all__ = [
    "calculate_pod_level_request",
    "calculate_pod_request_from_containers",
    "calculate_requests",
]


def calculate_pod_level_request(pod: PodInfo, resource: str) -> int:
    """Return the pod-level request (KEP-2837) for ``resource``, in milli-units.

    Raises:
        MissingRequestError: If the pod sets pod-level requests but not this one.
    """
    requests = pod.pod_level_requests or {}
    if resource not in requests:
        raise MissingRequestError(f"missing pod-level request for {resource} in Pod {pod.name}")
    return requests[resource]


def calculate_pod_request_from_containers(pod: PodInfo, container: str, resource: str) -> int:
    """Sum the containers' requests for ``resource``, or take one named container's.

    Regular containers and restartable init containers (sidecars) count; plain init
    containers do not.

    Args:
        pod: The pod.
        container: A container name, or ``""`` for the whole pod.
        resource: The resource name, e.g. ``"cpu"``.

    Returns:
        The request in milli-units.

    Raises:
        MissingRequestError: If a counted container has no request for the resource,
            or the named container does not exist.
    """
    counted = pod.containers + tuple(c for c in pod.init_containers if c.restartable_init)
    request = 0
    for spec in counted:
        if container in ("", spec.name):
            if resource not in spec.requests:
                raise MissingRequestError(
                    f"missing request for {resource} in container {spec.name} of Pod {pod.name}"
                )
            request += spec.requests[resource]
        if container == spec.name:
            return request
    if container:
        raise MissingRequestError(f"container {container} not found in Pod {pod.name}")
    return request


def calculate_requests(
    pods: Iterable[PodInfo],
    container: str,
    resource: str,
    *,
    pod_level_resources: bool = True,
) -> dict[str, int]:
    """Return every pod's request for ``resource`` by pod name, in milli-units.

    Pod-level requests win when the ``PodLevelResources`` feature is on, the pod sets
    them, and no container is named; otherwise container requests are summed.

    Args:
        pods: All pods the selector matched (failed and deleted ones too: upstream
            computes requests for the whole list).
        container: A container name for ContainerResource metrics, else ``""``.
        resource: The resource name.
        pod_level_resources: Whether the ``PodLevelResources`` feature gate is on.

    Raises:
        MissingRequestError: If a needed request is absent.
    """
    requests: dict[str, int] = {}
    for pod in pods:
        if pod_level_resources and pod.pod_level_requests and container == "":
            requests[pod.name] = calculate_pod_level_request(pod, resource)
        else:
            requests[pod.name] = calculate_pod_request_from_containers(pod, container, resource)
    return requests
