"""Pieces every in-cluster manifest shares: restricted security contexts, RBAC, Services."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Document = dict[str, Any]

NOBODY = 65534
# Caps on the Pods' ephemeral /tmp; nothing here writes much there.
TMP_LIMIT = "64Mi"


def restricted_pod_security() -> Document:
    """The pod half of the ``restricted`` Pod Security Standard."""
    return {
        "runAsNonRoot": True,
        "runAsUser": NOBODY,
        "runAsGroup": NOBODY,
        "fsGroup": NOBODY,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def restricted_container_security() -> Document:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def metadata(name: str, namespace: str | None = None, **labels: str) -> Document:
    result: Document = {"name": name}
    if namespace is not None:
        result["namespace"] = namespace
    if labels:
        result["labels"] = dict(labels)
    return result


def namespace(name: str, enforce: str) -> Document:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {"pod-security.kubernetes.io/enforce": enforce},
        },
    }


def service_account(name: str, namespace_name: str) -> Document:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(name, namespace_name),
    }


def cluster_role(name: str, rules: Sequence[Document], **labels: str) -> Document:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": metadata(name, **labels),
        "rules": list(rules),
    }


def rule(groups: Sequence[str], resources: Sequence[str], verbs: Sequence[str]) -> Document:
    return {"apiGroups": list(groups), "resources": list(resources), "verbs": list(verbs)}


def _subject(account: str, account_namespace: str) -> Document:
    return {"kind": "ServiceAccount", "name": account, "namespace": account_namespace}


def cluster_role_binding(name: str, role: str, account: str, account_namespace: str) -> Document:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": metadata(name),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [_subject(account, account_namespace)],
    }


def auth_reader_binding(name: str, account: str, account_namespace: str) -> Document:
    """Lets an aggregated API server read the front proxy's CA from kube-system."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": metadata(name, "kube-system"),
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": "extension-apiserver-authentication-reader",
        },
        "subjects": [_subject(account, account_namespace)],
    }


def aggregated_server_rbac(account: str, account_namespace: str) -> list[Document]:
    """What every aggregated API server needs: delegate authentication and authorization."""
    return [
        auth_reader_binding(f"{account}-auth-reader", account, account_namespace),
        cluster_role_binding(
            f"{account}:system:auth-delegator", "system:auth-delegator", account, account_namespace
        ),
    ]


def service(
    name: str, namespace_name: str, selector: Mapping[str, str], port: int, target: str
) -> Document:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(name, namespace_name, **selector),
        "spec": {
            "selector": dict(selector),
            "ports": [{"name": target, "port": port, "targetPort": target, "protocol": "TCP"}],
        },
    }


def deployment(
    name: str, namespace_name: str, labels: Mapping[str, str], pod_spec: Document
) -> Document:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(name, namespace_name, **labels),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": dict(labels)},
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
        },
    }


def tmp_volume() -> Document:
    return {"name": "tmp", "emptyDir": {"sizeLimit": TMP_LIMIT}}


def https_probe(path: str, port: str, period: int = 10) -> Document:
    return {
        "httpGet": {"path": path, "port": port, "scheme": "HTTPS"},
        "periodSeconds": period,
        "failureThreshold": 3,
    }


def http_probe(path: str, port: str, period: int = 10) -> Document:
    return {
        "httpGet": {"path": path, "port": port, "scheme": "HTTP"},
        "periodSeconds": period,
        "failureThreshold": 3,
    }
