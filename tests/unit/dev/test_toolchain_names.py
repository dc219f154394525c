"""Each component's binaries come out of one ``go build -o DIR/``; the names go gives them."""

from __future__ import annotations

import pytest

from podpilot_dev import toolchain
from podpilot_dev.kind.images import KIND_IMAGE_COMPONENTS


@pytest.mark.parametrize(
    ("package", "name"),
    [
        ("k8s.io/kubernetes/cmd/kube-apiserver", "kube-apiserver"),
        ("go.etcd.io/etcd/server/v3", "server"),
        ("github.com/flannel-io/flannel", "flannel"),
        ("sigs.k8s.io/kind", "kind"),
        ("example.com/tool/v1", "v1"),
        ("example.com/tool/v05", "v05"),
    ],
)
def test_go_names_a_binary_after_its_package(package: str, name: str) -> None:
    assert toolchain.go_default_binary_name(package) == name


def test_binaries_of_one_component_never_share_a_name() -> None:
    for comp in (*toolchain.COMPONENTS, *toolchain.KIND_COMPONENTS, *KIND_IMAGE_COMPONENTS):
        names = [toolchain.go_default_binary_name(package) for _, package in comp.binaries]
        assert len(set(names)) == len(names), comp.name
