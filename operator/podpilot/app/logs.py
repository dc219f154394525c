"""The operator's log: one line per decision that changed something and per error, as text or
as JSON for log pipelines.

kopf reports every handler run at INFO (``Handler 'flannel_node_event' succeeded.``, then
``Resuming is processed: 1 succeeded; 0 failed.``): one or two lines per watch event, which bury
the Autoscaler's decisions. Those reports are DEBUG here (shown with ``--verbose``); kopf's
failures keep their level. A record kopf logs for an object carries the object's reference
(``k8s_ref``), printed as ``[namespace/name]`` in text and as fields in JSON.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(object_prefix)s%(message)s"
# kopf's reports of a per-object handler that ran well: "<Handler|Timer|Daemon> 'id' succeeded."
# and "<Creation|Update|Resuming|Deletion> is processed: N succeeded; 0 failed." Activities
# (login, startup) keep INFO: they run once per start (or re-login) and say the operator is up.
_KOPF_SUCCESS = re.compile(
    r"^(Handler|Timer|Daemon) '[^']*' succeeded\.$|^\w+ is processed: \d+ succeeded; 0 failed\.$"
)


class KopfSuccessesAtDebug(logging.Filter):
    """Lower kopf's per-handler success reports to DEBUG, and drop every record below
    ``level`` (the handler's own level is checked before its filters, so it stays NOTSET)."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        if (
            record.name.startswith("kopf")
            and record.levelno == logging.INFO
            and _KOPF_SUCCESS.match(record.getMessage())
        ):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return record.levelno >= self.level


def object_reference(record: logging.LogRecord) -> dict[str, Any] | None:
    reference = getattr(record, "k8s_ref", None)
    return reference if isinstance(reference, dict) else None


class TextFormatter(logging.Formatter):
    """The classic line, with kopf's object as ``[namespace/name]`` before the message."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        reference = object_reference(record)
        record.object_prefix = ""
        if reference is not None:
            path = "/".join(p for p in (reference.get("namespace"), reference.get("name")) if p)
            record.object_prefix = f"[{path}] "
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (RFC 3339, UTC), ``level``, ``logger``, ``message``,
    the object kopf logged for (``kind``, ``namespace``, ``name``) and ``error`` (a traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        reference = object_reference(record)
        if reference is not None:
            line |= {
                key: reference[key]
                for key in ("kind", "namespace", "name")
                if reference.get(key) is not None
            }
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure(verbose: bool, log_format: str = "text") -> logging.Handler:
    """One stderr handler on the root logger, replacing any other; returns it."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    level = logging.DEBUG if verbose else logging.INFO
    handler.addFilter(KopfSuccessesAtDebug(level))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
