"""Time reading one namespace's ``metrics.k8s.io`` pod-metrics list of 3,000 pods (not a test).

Run: ``scripts/dev bench pod_metrics_parse``. The list is built the way metrics-server writes
one (labels, a timestamp and window per pod, nanocores and KiB as quantities, values varied so
no two pods share one); the bench prints the best of 5 runs of decoding its JSON, of
converting it to per-pod usage, and of that conversion with the pods' CPU readings, the steps
every namespace's list goes through a few times per period (``autoscaler/sources/resource.py``).
"""

from __future__ import annotations

import json
import platform
import random
import sys
import timeit
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "operator"))

from podpilot.autoscaler.sources.resource import converted_list, parse_pod_metrics_list

PODS = 3_000


def pod_metrics_list(pods: int, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    items: list[dict[str, Any]] = []
    for index in range(pods):
        app = f"d-{index // 3:05d}"
        items.append(
            {
                "metadata": {
                    "name": f"{app}-7d9f8b6c5-{index:05d}",
                    "namespace": "bench-3",
                    "creationTimestamp": "2026-12-04T16:30:00Z",
                    "labels": {"app": app, "pod-template-hash": "7d9f8b6c5"},
                },
                "timestamp": f"2026-12-04T16:29:{index % 15 + 40}Z",
                "window": "15.012s",
                "containers": [
                    {
                        "name": "app",
                        "usage": {
                            "cpu": f"{rng.randint(1, 900_000_000)}n",
                            "memory": f"{rng.randint(1_000, 900_000)}Ki",
                        },
                    }
                ],
            }
        )
    document = {"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "items": items}
    return json.dumps(document).encode()


def best_ms(step: Any, runs: int = 5, number: int = 10) -> float:
    return min(timeit.repeat(step, repeat=runs, number=number)) / number * 1000


def main() -> None:
    body = pod_metrics_list(PODS)
    document = json.loads(body)
    print(f"python {platform.python_version()} on {platform.machine()}")
    print(f"one pod-metrics list: {PODS} pods, {len(body) / 1e6:.2f} MB of JSON")
    print(f"  decode the JSON       {best_ms(lambda: json.loads(body)):7.1f} ms")
    print(f"  convert to pod usage  {best_ms(lambda: parse_pod_metrics_list(document)):7.1f} ms")
    cpu = {("cpu", "")}
    with_cpu = best_ms(lambda: converted_list(document, asked=cpu))
    print(f"  and the CPU readings  {with_cpu:7.1f} ms")


if __name__ == "__main__":
    main()
