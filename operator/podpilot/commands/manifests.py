"""Manifests read as kubectl reads ``-f``: a file, ``-`` for stdin, or a directory's manifest
files; each YAML document parsed as kubectl parses it (``go_yaml``) and refused, naming the
field, when no Kubernetes object (which is JSON) could hold it; a file and a field named as the
one-line errors name them. ``convert``, ``backtest`` and ``recommend`` read their input here."""

from __future__ import annotations

import io
import math
import os
import sys
from collections.abc import Iterator
from typing import IO, Any

import yaml

from podpilot.commands.conventions import printable
from podpilot.commands.go_yaml import MANIFEST_LOADER

STDIN = "-"
MANIFEST_EXTENSIONS = (".json", ".yaml", ".yml")
# No Kubernetes object nests near this deep; much deeper, the deep copies and the YAML dumper
# overflow Python's stack (libyaml itself stops at 1000).
MAX_MANIFEST_NESTING = 100
# Values an alias may repeat, all aliases of a document together: a few shared labels repeat
# tens; a "billion laughs" document of a few lines repeats billions.
MAX_ALIASED_VALUES = 100_000


class ManifestError(ValueError):
    """A document YAML can hold but a Kubernetes object, which is JSON, cannot; the message
    names the field."""


def manifest_files(source: str) -> list[str]:
    """The files ``-f SOURCE`` reads, as kubectl reads them: ``-`` (stdin) or a file as given;
    a directory's ``.json``, ``.yaml`` and ``.yml`` files in name order, not those of its
    subdirectories (kubectl reads those only with ``-R``).

    Raises:
        OSError: If ``source`` is a directory that cannot be listed.
    """
    if source == STDIN or not os.path.isdir(source):
        return [source]
    with os.scandir(source) as entries:
        return sorted(
            entry.path
            for entry in entries
            if entry.name.endswith(MANIFEST_EXTENSIONS) and entry.is_file()
        )


def read_manifests(path: str) -> Iterator[object]:
    """Each YAML document of the file ``path`` (stdin for ``-``), UTF-8, as ``load_manifests``
    parses it.

    Raises:
        OSError, UnicodeDecodeError, yaml.YAMLError: When it cannot be read; ``unreadable``
            says why in one line.
    """
    if path == STDIN:
        yield from load_manifests(_utf8_stdin())
        return
    with open(path, encoding="utf-8") as stream:
        yield from load_manifests(stream)


def load_manifests(stream: IO[str]) -> Iterator[object]:
    """Each YAML document of ``stream``, parsed as kubectl parses manifests, as it is read (the
    input is never held whole as text). Check each with ``require_json`` before using it."""
    return yaml.load_all(stream, Loader=MANIFEST_LOADER)


def _utf8_stdin() -> IO[str]:
    """stdin, read as a file is: UTF-8, and other bytes a ``UnicodeDecodeError`` (Python reads
    stdin with surrogateescape under a C.UTF-8 locale, whose surrogates libyaml cannot take)."""
    if isinstance(sys.stdin, io.TextIOWrapper):
        sys.stdin.reconfigure(encoding="utf-8", errors="strict")
    return sys.stdin


def source_label(path: str) -> str:
    """A file as messages name it: ``stdin`` for ``-``; a name that is not UTF-8 with its
    bytes escaped (``\\xff``), printable on any output."""
    return "stdin" if path == STDIN else printable(path)


def unreadable(error: Exception) -> str:
    """Why a YAML file could not be read, in one line (PyYAML's marks take several)."""
    if isinstance(error, UnicodeDecodeError):
        return "not UTF-8 text"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror  # without the path again: the message names the file already
    return " ".join(str(error).split())


def require_json(document: object) -> None:
    """Refuse a document that no Kubernetes object can be: one with a value JSON has no form
    for (``.inf``, ``!!binary``, a key that is not a string), an alias inside its own anchor,
    aliases that repeat more than ``MAX_ALIASED_VALUES`` values, or nesting deeper than
    ``MAX_MANIFEST_NESTING``.

    Raises:
        ManifestError: Naming the first field found at fault.
    """
    _JsonWalk().size(document, "", 0)


_UNFINISHED = 0  # the size of a list or object whose items are being walked


class _JsonWalk:
    """One walk of a document, which visits a list or object once however many aliases name
    it: an alias bomb is measured, never expanded."""

    def __init__(self) -> None:
        self.sizes: dict[int, int] = {}
        self.aliased = 0

    def size(self, value: object, path: str, depth: int) -> int:
        """How many values ``value`` holds, itself included, with aliases expanded."""
        if not isinstance(value, dict | list):
            _require_json_scalar(value, path)
            return 1
        known = self.sizes.get(id(value))
        if known is not None:
            return self._again(known, path)
        if depth >= MAX_MANIFEST_NESTING:
            raise ManifestError(
                f"{shown_path(path)}: nested deeper than {MAX_MANIFEST_NESTING} levels"
            )
        self.sizes[id(value)] = _UNFINISHED
        total = 1 + sum(self.size(item, at, depth + 1) for at, item in _items(value, path))
        self.sizes[id(value)] = total
        return total

    def _again(self, size: int, path: str) -> int:
        """A list or object met before: an alias."""
        if size == _UNFINISHED:
            raise ManifestError(
                f"{shown_path(path)}: an alias inside its own anchor (as in &a [*a]); "
                "a Kubernetes object cannot contain itself"
            )
        self.aliased += size
        if self.aliased > MAX_ALIASED_VALUES:
            raise ManifestError(
                f"its aliases repeat more than {MAX_ALIASED_VALUES:,} values (a YAML alias "
                "bomb?): write the repeated parts out"
            )
        return size


def _items(value: dict[Any, Any] | list[Any], path: str) -> Iterator[tuple[str, object]]:
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield f"{path}[{index}]", item
        return
    for key, item in value.items():
        if not isinstance(key, str):
            raise ManifestError(
                f"{shown_path(path)}: key {key!r} is not a string: quote it, as every key of a "
                "Kubernetes object is a string"
            )
        yield f"{path}.{key}" if path else key, item


# What YAML gives for the tags JSON has no value for.
_YAML_ONLY: dict[type, str] = {bytes: "!!binary", set: "!!set", tuple: "!!omap or !!pairs"}
_INSTEAD: dict[type, str] = {bytes: ": write its base64 text as a plain string"}


def _require_json_scalar(value: object, path: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        written = ".nan" if math.isnan(value) else f"{'-' if value < 0 else ''}.inf"
        raise ManifestError(
            f"{shown_path(path)}: {written} is not a number JSON can hold: quote it if it is text"
        )
    if not isinstance(value, str | int | float | bool | None):
        tag = _YAML_ONLY.get(type(value), type(value).__name__)
        raise ManifestError(
            f"{shown_path(path)}: a YAML {tag} value, which a Kubernetes object (JSON) cannot "
            f"hold{_INSTEAD.get(type(value), '')}"
        )


def shown_path(path: str) -> str:
    """A field's path (``spec.metrics[0]``) as an error names it: its start, when it is long."""
    if len(path) > 80:
        return f"{path[:80]}..."
    return path or "the document"
