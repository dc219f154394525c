"""Removing a cgroup tree (podpilot_dev.hostcleanup.remove_cgroup_tree), on plain directories:
a cgroup directory, like these, can be removed once its children are."""

from __future__ import annotations

from pathlib import Path

from podpilot_dev import hostcleanup


def test_a_tree_goes_deepest_first(tmp_path: Path) -> None:
    top = tmp_path / "podpilot-node-0"
    (top / "pods" / "burstable" / "pod-a").mkdir(parents=True)
    (top / "pods" / "besteffort").mkdir()
    assert hostcleanup.remove_cgroup_tree(top)
    assert not top.exists()


def test_a_tree_already_gone_is_removed(tmp_path: Path) -> None:
    assert hostcleanup.remove_cgroup_tree(tmp_path / "never-created")
