"""The pure parts of ``podpilot-dev cluster install``: pod route, chart values, OCI layout."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

from podpilot_dev import flannel, install, ocilayout, podroute


def test_conflist_gains_the_gateway_route_once() -> None:
    subnet_env = {"FLANNEL_SUBNET": "10.245.1.1/24", "FLANNEL_MTU": "1450",
                  "FLANNEL_NETWORK": "10.245.0.0/16"}  # fmt: skip
    original = flannel.cni_conflist(subnet_env, Path("/ipam"))
    once = podroute.conflist_with_route(original, "172.30.5.1/32")
    assert podroute.conflist_with_route(once, "172.30.5.1/32") == once
    routes = json.loads(once)["plugins"][0]["ipam"]["routes"]
    assert routes == [{"dst": "10.245.0.0/16"}, {"dst": "172.30.5.1/32"}]


def test_only_the_relay_port_is_masqueraded_and_the_rest_to_the_gateway_dropped() -> None:
    rules = podroute.rules("172.30.5.1")
    assert [(table, rule[0], rule[-1]) for table, rule in rules] == [
        ("nat", "POSTROUTING", "MASQUERADE"),
        ("filter", "FORWARD", "DROP"),
        ("filter", "FORWARD", "ACCEPT"),  # inserted last, so it sits above the DROP
    ]
    for _, rule in rules:
        assert rule[rule.index("-d") + 1] == "172.30.5.1/32"
    assert "6443" in rules[0][1] and "6443" not in rules[1][1]


def test_values_point_in_cluster_config_at_the_relay_on_real_nodes() -> None:
    values = install.values("podpilot.dev/podpilot:abc", "172.30.5.1", replicas=2)
    assert values["image"] == {"repository": "podpilot.dev/podpilot", "tag": "abc",
                               "pullPolicy": "Never"}  # fmt: skip
    assert values["extraEnv"] == [
        {"name": "KUBERNETES_SERVICE_HOST", "value": "172.30.5.1"},
        {"name": "KUBERNETES_SERVICE_PORT", "value": "6443"},
    ]
    assert values["nodeSelector"] == {"podpilot.io/dev-node": "real"}
    assert values["tolerations"][0]["effect"] == "NoSchedule"
    assert values["replicaCount"] == 2
    assert "--horizontal-pod-autoscaler-downscale-stabilization=30s" in values["extraArgs"]


def test_oci_archive_names_the_image_and_carries_the_layers(tmp_path: Path) -> None:
    (tmp_path / "root" / "etc").mkdir(parents=True)
    (tmp_path / "root" / "etc" / "hello").write_text("hi\n")
    layer = tmp_path / "layer.tar"
    ocilayout.directory_layer(
        tmp_path / "root", layer, extra={"bin/x": ocilayout.ExtraFile(b"#!", 0o755)}
    )
    with tarfile.open(layer) as archive:
        members = {m.name: m for m in archive.getmembers()}
    assert set(members) == {"etc", "etc/hello", "bin/x"}
    assert members["etc/hello"].uid == 0 and members["bin/x"].mode == 0o755

    destination = tmp_path / "image.oci.tar"
    digest = ocilayout.write_archive("example.dev/img:1", [layer], {"User": "10001"}, destination)
    with tarfile.open(destination) as archive:
        index = json.load(archive.extractfile("index.json"))  # type: ignore[arg-type]
        names = archive.getnames()
    entry = index["manifests"][0]
    assert entry["digest"] == digest
    assert entry["annotations"]["io.containerd.image.name"] == "example.dev/img:1"
    assert f"blobs/sha256/{ocilayout.file_digest(layer)[7:]}" in names


CTR_LISTING = """\
REF                             TYPE                                       DIGEST     SIZE    PLATFORMS   LABELS
podpilot.dev/pause:1            application/vnd.oci.image.manifest.v1+json sha256:p   2.0 MiB linux/amd64 -
podpilot.dev/podpilot:new       application/vnd.oci.image.manifest.v1+json sha256:n   160 MiB linux/amd64 -
podpilot.dev/podpilot:old       application/vnd.oci.image.manifest.v1+json sha256:o   160 MiB linux/amd64 -
podpilot.dev/podpilot:running   application/vnd.oci.image.manifest.v1+json sha256:r   160 MiB linux/amd64 -
podpilot.dev/podpilot:same      application/vnd.oci.image.manifest.v1+json sha256:n   160 MiB linux/amd64 -
sha256:id-new                   application/vnd.oci.image.manifest.v1+json sha256:n   160 MiB linux/amd64 -
sha256:id-old                   application/vnd.oci.image.manifest.v1+json sha256:o   160 MiB linux/amd64 -
sha256:id-pause                 application/vnd.oci.image.manifest.v1+json sha256:p   2.0 MiB linux/amd64 -
sha256:id-running               application/vnd.oci.image.manifest.v1+json sha256:r   160 MiB linux/amd64 -
"""  # noqa: E501


def test_stale_operator_images_spare_the_new_tag_those_pods_name_and_shared_ids() -> None:
    stale = install.stale_operator_images(
        CTR_LISTING, keep="podpilot.dev/podpilot:new", in_use={"podpilot.dev/podpilot:running"}
    )
    # :same is another tag of the new image: the tag goes, the image (and its ID) stays.
    assert stale == ["podpilot.dev/podpilot:old", "podpilot.dev/podpilot:same", "sha256:id-old"]


def test_nothing_is_stale_on_a_node_with_only_the_new_image() -> None:
    listing = (
        "REF TYPE DIGEST SIZE PLATFORMS LABELS\npodpilot.dev/podpilot:new x sha256:n 1 MiB -\n"
    )
    assert install.stale_operator_images(listing, "podpilot.dev/podpilot:new", set()) == []
