"""The pods the reporter reads: those bound to a node, kept slim and filed under their node,
fed by the process's pod watch (``kube.pod_watch``) on the event loop."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

ObjectKey = tuple[str, str]


class PodsByNode(Mapping[str, Iterable[dict[str, Any]]]):
    """Node name → the slim pods scheduled there (the ``pods`` index ``model_cache.snapshot``
    reads). ``changed`` is called when a pod's slim copy is new, differs from the one kept, or
    is removed; a pod event that leaves the copy as it was (status churn) calls nothing."""

    def __init__(self, changed: Callable[[], None]) -> None:
        self._changed = changed
        self._node_of: dict[ObjectKey, str] = {}
        self._by_node: dict[str, dict[ObjectKey, dict[str, Any]]] = {}

    def put(self, key: ObjectKey, pod: dict[str, Any]) -> None:
        node = str(pod["spec"]["nodeName"])
        if self._node_of.get(key) == node and self._by_node[node][key] == pod:
            return
        self._drop(key)
        self._node_of[key] = node
        self._by_node.setdefault(node, {})[key] = pod
        self._changed()

    def remove(self, key: ObjectKey) -> None:
        if self._drop(key):
            self._changed()

    def _drop(self, key: ObjectKey) -> bool:
        node = self._node_of.pop(key, None)
        if node is None:
            return False
        pods = self._by_node[node]
        del pods[key]
        if not pods:
            del self._by_node[node]
        return True

    def __getitem__(self, node: str) -> Iterable[dict[str, Any]]:
        return self._by_node[node].values()

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_node)

    def __len__(self) -> int:
        return len(self._by_node)
