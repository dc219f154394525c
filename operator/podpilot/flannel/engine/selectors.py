"""Equality-based label selectors (``a=b,c!=d,e,!f``), as ``kubectl -l`` accepts them.

Set-based selectors (``in``, ``notin``) are not supported; parsing one raises ``ValueError`` so a
typo in a flag fails at startup instead of silently matching nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_KEY = re.compile(r"^([a-z0-9A-Z.\-]+/)?[a-zA-Z0-9]([a-zA-Z0-9._-]*[a-zA-Z0-9])?$")


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # "=", "!=", "exists", "!exists"
    value: str = ""

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "exists":
            return self.key in labels
        if self.operator == "!exists":
            return self.key not in labels
        if self.operator == "=":
            return labels.get(self.key) == self.value
        return labels.get(self.key) != self.value


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        present = labels or {}
        return all(r.matches(present) for r in self.requirements)


def parse_selector(text: str) -> LabelSelector:
    """Parse an equality-based selector; the empty string selects everything."""
    requirements = []
    for raw in text.split(","):
        term = raw.strip()
        if not term:
            continue
        requirement = _parse_term(term)
        if not _KEY.match(requirement.key):
            raise ValueError(f"invalid label key in selector term {term!r}")
        requirements.append(requirement)
    return LabelSelector(tuple(requirements))


def _parse_term(term: str) -> Requirement:
    if " in " in term or " notin " in term or "(" in term:
        raise ValueError(f"set-based selector terms are not supported: {term!r}")
    if "!=" in term:
        key, value = term.split("!=", 1)
        return Requirement(key.strip(), "!=", value.strip())
    if "==" in term:
        key, value = term.split("==", 1)
        return Requirement(key.strip(), "=", value.strip())
    if "=" in term:
        key, value = term.split("=", 1)
        return Requirement(key.strip(), "=", value.strip())
    if term.startswith("!"):
        return Requirement(term[1:].strip(), "!exists")
    return Requirement(term, "exists")
