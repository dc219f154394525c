"""e2e helpers for the Prometheus metric source: a throwaway Prometheus and an auth proxy.

Both listen on 127.0.0.1 only. The throwaway Prometheus scrapes the dev cluster's test
exporter, so tests can stop it (an outage) without touching the shared dev Prometheus.
"""

from __future__ import annotations

import http.server
import shutil
import subprocess
import tempfile
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from tests.e2e.waiting import wait_until

from podpilot_dev.ports import free_port


class ThrowawayPrometheus:
    """Debian's ``prometheus`` on a free 127.0.0.1 port, restartable on the same port and data."""

    def __init__(self, exporter_url: str) -> None:
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="podpilot-e2e-prometheus-"))
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
            "scrape_configs": [
                {
                    "job_name": "exporter",
                    "honor_labels": True,
                    "static_configs": [{"targets": [exporter_url.split("://", 1)[1]]}],
                }
            ],
        }
        (self.directory / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with (self.directory / "prometheus.log").open("ab") as log:
            self.process = subprocess.Popen(
                [
                    "prometheus",
                    f"--config.file={self.directory / 'prometheus.yml'}",
                    f"--storage.tsdb.path={self.directory / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until(self.ready, timeout=30, what="the throwaway Prometheus to be ready")

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def close(self) -> None:
        """Stop it and remove its configuration and data."""
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


class BearerProxy:
    """A reverse proxy to a Prometheus that answers 401 unless given ``Bearer <token>``."""

    def __init__(self, upstream: str, token: str) -> None:
        self.port = free_port()
        self.seen_authorization: list[str] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                header = self.headers.get("Authorization", "")
                proxy.seen_authorization.append(header)
                if header != f"Bearer {token}":
                    self._reply(401, b"Unauthorized")
                    return
                try:
                    with urllib.request.urlopen(upstream + self.path, timeout=5) as response:
                        self._reply(response.status, response.read())
                except urllib.error.HTTPError as error:
                    self._reply(error.code, error.read())

            def _reply(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def prometheus_server(name: str, url: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "podpilot.io/v1alpha1",
        "kind": "PrometheusServer",
        "metadata": {"name": name},
        "spec": {"url": url, "timeoutSeconds": 2, **spec},
    }


def prometheus_metric(
    server: str, query: str, *, average_value: str | None = None, value: str | None = None,
    **extra: Any,
) -> dict[str, Any]:  # fmt: skip
    target: dict[str, Any] = (
        {"type": "AverageValue", "averageValue": average_value}
        if average_value is not None
        else {"type": "Value", "value": value}
    )
    return {
        "type": "Prometheus",
        "prometheus": {"serverRef": {"name": server}, "query": query, "target": target, **extra},
    }
