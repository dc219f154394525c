"""A Prometheus exporter on 127.0.0.1 whose series the tests and the demo set over HTTP.

``PUT /series`` with ``{"name": ..., "labels": {...}, "value": 1.5}`` sets a gauge,
``DELETE /series`` with ``{"name": ..., "labels": {...}}`` removes it (``{"labels": {...}}``
without a name removes every series carrying those labels), ``GET /metrics`` serves them all.
"""

from __future__ import annotations

import argparse
import json
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]


class SeriesStore:
    """Thread-safe gauges keyed by metric name and label set."""

    def __init__(self) -> None:
        self._values: dict[SeriesKey, float] = {}
        self._lock = threading.Lock()

    def set(self, name: str, labels: Mapping[str, str], value: float) -> None:
        with self._lock:
            self._values[(name, tuple(sorted(labels.items())))] = value

    def delete(self, name: str | None, labels: Mapping[str, str]) -> int:
        wanted = set(labels.items())
        with self._lock:
            doomed = [
                key
                for key in self._values
                if (name is None or key[0] == name) and wanted <= set(key[1])
            ]
            for key in doomed:
                del self._values[key]
        return len(doomed)

    def exposition(self) -> str:
        with self._lock:
            items = sorted(self._values.items())
        lines: list[str] = []
        typed: set[str] = set()
        for (name, labels), value in items:
            if name not in typed:
                lines.append(f"# TYPE {name} gauge")
                typed.add(name)
            rendered = ",".join(f'{key}="{_escape(val)}"' for key, val in labels)
            lines.append(f"{name}{{{rendered}}} {value!r}")
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def make_handler(store: SeriesStore) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _reply(self, status: int, body: str, content_type: str = "text/plain") -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _json_body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length", "0"))
            parsed = json.loads(self.rfile.read(length) or b"{}")
            if not isinstance(parsed, dict):
                raise ValueError("body must be a JSON object")
            return parsed

        def do_GET(self) -> None:
            if self.path in ("/metrics", "/"):
                self._reply(200, store.exposition(), "text/plain; version=0.0.4")
            elif self.path == "/healthz":
                self._reply(200, "ok")
            else:
                self._reply(404, "not found")

        def do_PUT(self) -> None:
            try:
                body = self._json_body()
                store.set(str(body["name"]), dict(body.get("labels", {})), float(body["value"]))
            except (KeyError, ValueError, TypeError) as error:
                self._reply(400, f"bad series: {error}")
                return
            self._reply(200, "ok")

        def do_DELETE(self) -> None:
            try:
                body = self._json_body()
                removed = store.delete(body.get("name"), dict(body.get("labels", {})))
            except ValueError as error:
                self._reply(400, f"bad request: {error}")
                return
            self._reply(200, str(removed))

    return Handler


def serve(port: int) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(SeriesStore()))
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    serve(parser.parse_args().port)


if __name__ == "__main__":
    main()
