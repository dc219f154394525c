"""The manifests of everything that runs inside the kind cluster, rendered from Python.

``render`` takes the image references ``images.build_all`` returns (name to
``podpilot.dev/<name>:<key>``) and gives the documents to apply, in order: flannel first (no
pod starts before the network), then the metrics stack. ``to_yaml`` writes them as one
multi-document stream for ``kubectl apply -f -``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import yaml

from podpilot_dev.kind.addons import flannel, metrics_server, prometheus, prometheus_adapter
from podpilot_dev.kind.addons.common import Document


def render_network(references: Mapping[str, str]) -> list[Document]:
    return flannel.manifests(references["flannel"])


def render_metrics(references: Mapping[str, str]) -> list[Document]:
    return [
        *metrics_server.manifests(references["metrics-server"]),
        *prometheus.manifests(references["prometheus"]),
        *prometheus_adapter.manifests(references["prometheus-adapter"]),
    ]


def render(references: Mapping[str, str]) -> list[Document]:
    return [*render_network(references), *render_metrics(references)]


def to_yaml(documents: Sequence[Document]) -> str:
    return "---\n".join(yaml.safe_dump(d, sort_keys=False) for d in documents)
