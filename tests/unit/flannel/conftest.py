"""Shared fixtures for the flannel reporter tests."""

from typing import Any

import pytest

from ._fixtures import healthy_nodes, load_json, upstream_net_conf


@pytest.fixture
def nodes() -> list[dict[str, Any]]:
    """Three healthy vxlan nodes."""
    return healthy_nodes()


@pytest.fixture
def pods() -> list[dict[str, Any]]:
    """A few pods: pod-network, host-network, finished and pending."""
    return list(load_json("pods.json")["items"])


@pytest.fixture
def net_conf() -> str:
    """The upstream net-conf.json."""
    return upstream_net_conf()
