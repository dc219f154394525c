"""kopf's settings as ``podpilot run`` gives them: with --namespace, kopf reads no namespace
and no CRD (a namespaced install is granted neither)."""

from __future__ import annotations

import kopf
import pytest

from podpilot.app.lifecycle import configure_kopf
from podpilot.settings import OperatorSettings


@pytest.mark.parametrize(
    ("namespaces", "scanning_off"),
    [((), False), (("team-a",), True)],
    ids=["cluster", "namespaced"],
)
def test_kopf_scans_the_cluster_only_when_it_watches_all_of_it(
    namespaces: tuple[str, ...], scanning_off: bool
) -> None:
    settings = kopf.OperatorSettings()
    configure_kopf(settings, OperatorSettings(namespaces=namespaces))
    assert settings.scanning.disabled is scanning_off
