"""The kind tooling's pure parts: cache keys, rendered config files, kind-config.yaml."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from podpilot_dev import cluster, toolchain
from podpilot_dev.kind import basefiles, controlplane, kubeproxy, nodeimage, podman, rootfs
from podpilot_dev.paths import repo_root

BINARY_KEYS = {"etcd": "e1", "k8s": "k1", "kubeadm": "a1", "coredns": "c1", "kind": "d1"}


def _key(**changes: Any) -> str:
    arguments: dict[str, Any] = {
        "rootfs_key": "r1",
        "kind_files_digest": "f1",
        "binary_keys": BINARY_KEYS,
        "references": ["registry.k8s.io/pause:3.10.2", "registry.k8s.io/etcd:3.6.8-0"],
        "generated_files": ["config", "wrapper"],
    }
    arguments.update(changes)
    return nodeimage.image_key(**arguments)


def test_the_node_image_key_is_stable_and_ignores_the_order_of_binaries_and_images() -> None:
    assert _key() == _key()
    assert _key(binary_keys=dict(reversed(list(BINARY_KEYS.items())))) == _key()
    assert _key(references=["registry.k8s.io/etcd:3.6.8-0", "registry.k8s.io/pause:3.10.2"]) == (
        _key()
    )


@pytest.mark.parametrize(
    "change",
    [
        {"rootfs_key": "r2"},
        {"kind_files_digest": "f2"},
        {"binary_keys": {**BINARY_KEYS, "kubeadm": "a2"}},
        {"references": ["registry.k8s.io/pause:3.10.3"]},
        {"generated_files": ["config", "another wrapper"]},
    ],
)
def test_every_input_changes_the_node_image_key(change: dict[str, Any]) -> None:
    assert _key(**change) != _key()


def test_the_rootfs_key_follows_the_package_list(monkeypatch: pytest.MonkeyPatch) -> None:
    before = rootfs.cache_key()
    monkeypatch.setattr(rootfs, "PACKAGES", (*rootfs.PACKAGES, "strace"))
    assert rootfs.cache_key() != before


def test_directory_digest_covers_names_and_contents(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "a.conf").write_text("one")
    first = nodeimage.directory_digest(tmp_path)
    (tmp_path / "etc" / "a.conf").write_text("two")
    second = nodeimage.directory_digest(tmp_path)
    (tmp_path / "etc" / "a.conf").rename(tmp_path / "etc" / "b.conf")
    assert len({first, second, nodeimage.directory_digest(tmp_path)}) == 3


def test_kind_components_are_separate_from_the_dev_cluster_build() -> None:
    kind_names = {comp.name for comp in toolchain.KIND_COMPONENTS}
    assert kind_names == {"kind", "kubeadm", "coredns"}
    assert not kind_names & {comp.name for comp in toolchain.COMPONENTS}
    kubeadm = toolchain.component("kubeadm")
    assert kubeadm.ldflags() == toolchain.component("k8s").ldflags()
    for comp in toolchain.KIND_COMPONENTS:
        assert (comp.module_dir / "go.mod").exists()


def test_kubeadm_builds_the_same_kubernetes_version_as_the_dev_cluster() -> None:
    def kubernetes_lines(name: str) -> list[str]:
        text = (repo_root() / "tools" / name / "go.mod").read_text()
        return [line.strip() for line in text.splitlines() if "k8s.io/" in line and "=>" in line]

    assert kubernetes_lines("kubeadm") == kubernetes_lines("k8s")
    assert (
        f"k8s.io/kubernetes {toolchain.KUBERNETES_VERSION}"
        in (repo_root() / "tools" / "kubeadm" / "go.mod").read_text()
    )


def test_podman_configuration_files_parse_and_say_what_this_machine_needs(tmp_path: Path) -> None:
    containers = tomllib.loads(podman.containers_conf(tmp_path))
    assert containers["containers"]["default_ulimits"] == [
        "nofile=20000:20000",
        "nproc=32768:32768",
    ]
    assert containers["engine"]["cgroup_manager"] == "cgroupfs"
    assert containers["engine"]["events_logger"] == "file"
    assert containers["engine"]["pull_policy"] == "never"
    assert containers["network"]["network_backend"] == "netavark"
    assert Path(containers["network"]["network_config_dir"]).is_relative_to(tmp_path)
    storage = tomllib.loads(podman.storage_conf(tmp_path))["storage"]
    assert Path(storage["graphroot"]).is_relative_to(tmp_path)
    assert Path(storage["runroot"]).is_relative_to(tmp_path)
    assert tomllib.loads(podman.REGISTRIES_CONF)["unqualified-search-registries"] == []


def test_the_node_containerd_config_parses_and_uses_the_preloaded_pause_image() -> None:
    config = tomllib.loads(basefiles.containerd_config())
    cri = config["plugins"]["io.containerd.grpc.v1.cri"]
    assert config["version"] == 2
    assert cri["sandbox_image"] == basefiles.PAUSE_IMAGE in controlplane.references()
    assert cri["restrict_oom_score_adj"] is True
    runc = cri["containerd"]["runtimes"]["runc"]
    assert runc["options"]["SystemdCgroup"] is True
    assert runc["base_runtime_spec"] == "/etc/containerd/cri-base.json"


def test_cri_base_spec_adds_kinds_hook_and_drops_rlimits() -> None:
    spec = {"process": {"rlimits": [{"type": "RLIMIT_NOFILE"}], "cwd": "/"}}
    result = basefiles.cri_base_spec(spec)
    assert "rlimits" not in result["process"]
    assert result["hooks"]["createContainer"] == [{"path": "/kind/bin/mount-product-files.sh"}]
    assert spec["process"]["rlimits"]  # the input is left alone


def test_wanted_by_reads_every_install_target() -> None:
    unit = "[Unit]\nDescription=x\n[Install]\nWantedBy=multi-user.target other.target\n"
    assert basefiles.wanted_by(unit) == ["multi-user.target", "other.target"]


def test_control_plane_image_references_are_what_kubeadm_lists() -> None:
    version = toolchain.KUBERNETES_VERSION
    assert controlplane.references() == sorted(
        [
            f"registry.k8s.io/kube-apiserver:{version}",
            f"registry.k8s.io/kube-controller-manager:{version}",
            f"registry.k8s.io/kube-scheduler:{version}",
            f"registry.k8s.io/kube-proxy:{version}",
            "registry.k8s.io/coredns/coredns:v1.14.2",
            "registry.k8s.io/pause:3.10.2",
            "registry.k8s.io/etcd:3.6.8-0",
        ]
    )


def test_ldd_output_gives_every_absolute_library_path() -> None:
    output = (
        "\tlinux-vdso.so.1 (0x00007ffd)\n"
        "\tlibm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x00007f)\n"
        "\t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n"
    )
    assert kubeproxy.shared_libraries(output) == [
        "/lib/x86_64-linux-gnu/libm.so.6",
        "/lib64/ld-linux-x86-64.so.2",
    ]


def test_links_resolve_inside_the_rootfs_even_when_absolute(tmp_path: Path) -> None:
    (tmp_path / "usr/lib/x86_64-linux-gnu").mkdir(parents=True)
    (tmp_path / "usr/lib64").mkdir()
    (tmp_path / "lib").symlink_to("usr/lib")
    (tmp_path / "lib64").symlink_to("usr/lib64")
    (tmp_path / "usr/lib/x86_64-linux-gnu/ld.so").write_text("")
    (tmp_path / "usr/lib64/ld.so").symlink_to("/lib/x86_64-linux-gnu/ld.so")
    resolved = kubeproxy.resolve_inside(tmp_path, "/lib64/ld.so")
    assert resolved == "/usr/lib/x86_64-linux-gnu/ld.so"


def _kind_config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((repo_root() / "kind-config.yaml").read_text())
    return loaded


def test_kind_config_has_one_control_plane_two_workers_and_no_default_cni() -> None:
    config = _kind_config()
    assert [node["role"] for node in config["nodes"]] == ["control-plane", "worker", "worker"]
    assert config["networking"]["disableDefaultCNI"] is True
    assert config["networking"]["podSubnet"] == "10.244.0.0/16"


def test_kind_config_carries_the_dev_clusters_hpa_settings_and_the_cgroup_v1_patch() -> None:
    config = _kind_config()
    patches = [yaml.safe_load(patch) for patch in config["nodes"][0]["kubeadmConfigPatches"]]
    cluster_configuration = next(p for p in patches if p["kind"] == "ClusterConfiguration")
    assert cluster_configuration["controllerManager"]["extraArgs"] == cluster.HPA_SETTINGS
    kubelet = [yaml.safe_load(patch) for patch in config["kubeadmConfigPatches"]]
    assert {
        "kind": "KubeletConfiguration", "failCgroupV1": False, "volumeStatsAggPeriod": "10s"
    } in kubelet  # fmt: skip
    assert config["featureGates"] == {"HPAScaleToZero": True}


def test_loaded_images_are_found_under_containerd_s_names() -> None:
    from podpilot_dev.kind.stack import _qualified

    assert _qualified("podpilot.dev/flannel:abc") == "podpilot.dev/flannel:abc"
    assert _qualified("pause:1") == "docker.io/library/pause:1"
