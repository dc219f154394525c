"""Time one replica proposal over 10, 1,000 and 10,000 pods (not a test).

Run: ``.venv/bin/python bench/engine_bench.py``. Each size times
``resource_utilization_replicas`` (CPU Utilization target, every pod ready, one pod in
ten missing its metric so the rebalancing path runs) and prints the per-call time.
"""

from __future__ import annotations

import platform
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "operator"))

from podpilot.autoscaler.engine import (
    ContainerSpec,
    PodInfo,
    PodMetric,
    ReadyCondition,
    resource_utilization_replicas,
)

NOW = 1_700_000_000.0


def scenario(pod_count: int) -> tuple[list[PodInfo], dict[str, PodMetric]]:
    pods = [
        PodInfo(
            f"pod-{index}",
            start_time=NOW - 3600,
            ready=ReadyCondition(True, NOW - 3500),
            containers=(ContainerSpec("app", {"cpu": 500}), ContainerSpec("sidecar", {"cpu": 100})),
        )
        for index in range(pod_count)
    ]
    metrics = {
        pod.name: PodMetric(300 + index % 200, NOW - 10)
        for index, pod in enumerate(pods)
        if index % 10 != 9
    }
    return pods, metrics


def main() -> None:
    print(f"python {platform.python_version()} on {platform.machine()}")
    for pod_count in (10, 1_000, 10_000):
        pods, metrics = scenario(pod_count)

        def call(
            pods: list[PodInfo] = pods,
            metrics: dict[str, PodMetric] = metrics,
            current: int = pod_count,
        ) -> None:
            resource_utilization_replicas(
                current_replicas=current,
                target_utilization=60,
                resource="cpu",
                pods=pods,
                metrics=metrics,
                now=NOW,
            )

        timer = timeit.Timer(call)
        loops, _ = timer.autorange()
        best = min(timer.repeat(repeat=5, number=loops)) / loops
        print(f"{pod_count:>6} pods: {best * 1e6:10.1f} us per call ({loops} calls, best of 5)")


if __name__ == "__main__":
    main()
