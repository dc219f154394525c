"""The demo on kind: what it applies and which operator log lines it shows (pure parts)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from podpilot_dev.cli import build_parser
from podpilot_dev.kind import demo


def test_the_demo_scales_its_served_web_on_cpu_like_an_hpa() -> None:
    documents = demo.manifests("podpilot.dev/cpuburn:abc")
    kinds = [(d["kind"], d["metadata"]["name"]) for d in documents]
    assert kinds[0] == ("Namespace", "podpilot-demo")
    assert ("Deployment", "web") in kinds and ("Service", "web") in kinds
    assert ("Deployment", "clients") in kinds and ("ConfigMap", "clients") in kinds
    (scaler,) = [d for d in documents if d["kind"] == "Autoscaler"]
    spec = scaler["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    assert spec["metrics"][0]["resource"]["target"] == {
        "type": "Utilization", "averageUtilization": 50
    }  # fmt: skip
    clients = next(d for d in documents if d["kind"] == "ConfigMap")
    assert clients["data"] == {"rate": str(demo.INITIAL_RATE)}
    for document in documents[1:]:
        assert document["metadata"]["namespace"] == "podpilot-demo"


def test_only_the_operators_lines_about_the_demo_are_shown() -> None:
    assert demo.is_decision(
        "INFO kopf.objects: [podpilot-demo/web] podpilot-demo/web: scaled 1 -> 3 (cpu above)"
    )
    assert not demo.is_decision('INFO aiohttp.access: "GET /healthz HTTP/1.1" 200')


def test_demo_runs_on_kind_unless_the_dev_cluster_is_asked_for() -> None:
    assert build_parser().parse_args(["demo"]).dev_cluster is False
    assert build_parser().parse_args(["demo", "--dev-cluster"]).dev_cluster is True


def test_the_decisions_are_followed_from_when_this_demo_applied_its_workload() -> None:
    """Lines of an earlier demo run on the same cluster, or lines already printed before a
    re-attach, are not printed again."""
    applied = datetime(2026, 12, 6, 9, 30, 5, 700_000, tzinfo=timezone(timedelta(hours=2)))
    command = demo.follow_command(["kubectl", "--kubeconfig=k"], applied)
    assert command[:4] == ["kubectl", "--kubeconfig=k", "logs", "-f"]
    assert command[-1] == "--since-time=2026-12-06T07:30:05Z"
    assert not any(argument.startswith("--since=") for argument in command)
