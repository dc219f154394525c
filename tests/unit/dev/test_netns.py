"""Deleting a host link: one gone before or during its delete is no failure (the kernel takes a
veth down with its peer's namespace, in its own time); any other failure is."""

from __future__ import annotations

import pytest

from podpilot_dev import netns

NO_SUCH_LINK = "ppdtestgone0"


def test_a_link_that_went_during_its_delete_is_no_failure() -> None:
    # `ip link delete` really runs and answers "Cannot find device"; the link was there a
    # moment before, as when the namespace holding its peer is torn down meanwhile.
    assert not netns.link_exists(NO_SUCH_LINK)
    netns.delete_link(NO_SUCH_LINK)


def test_a_link_still_there_after_a_failed_delete_is_a_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(netns, "link_exists", lambda name: True)
    with pytest.raises(netns.NetworkError, match=f"ip link delete {NO_SUCH_LINK} failed: "):
        netns.delete_link(NO_SUCH_LINK)
