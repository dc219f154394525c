from __future__ import annotations

from podpilot.apimachinery.authored import SERVER_METADATA, authored


def test_status_and_the_server_s_metadata_go_and_the_rest_stays() -> None:
    read = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": "web",
            "labels": {"team": "shop"},
            **dict.fromkeys(SERVER_METADATA, "written by the apiserver"),
        },
        "spec": {"maxReplicas": 5},
        "status": {"currentReplicas": 2},
    }
    assert authored(read) == {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "labels": {"team": "shop"}},
        "spec": {"maxReplicas": 5},
    }
    assert "uid" in read["metadata"]  # the object read is left as it was
