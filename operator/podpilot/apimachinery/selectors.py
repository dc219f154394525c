"""Kubernetes label selectors: parse the string form, match labels, render the object form.

The ``/scale`` subresource gives a workload's pod selector as a string
(``app=web,tier in (a,b)``); metric selectors in the spec are ``LabelSelector`` objects that
the metrics APIs take as a string query parameter.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class SelectorError(ValueError):
    """The selector text is not valid label-selector syntax."""


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # "=", "!=", "in", "notin", "exists", "!", "gt", "lt"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        if self.operator in ("=", "in"):
            return present and value in self.values
        if self.operator in ("!=", "notin"):
            return not present or value not in self.values
        if self.operator in ("gt", "lt"):
            try:
                number, bound = int(value or ""), int(self.values[0])
            except ValueError:
                return False
            return number > bound if self.operator == "gt" else number < bound
        raise SelectorError(f"unknown operator {self.operator!r}")


@dataclass(frozen=True)
class Selector:
    """A parsed selector; the empty selector matches everything."""

    requirements: tuple[Requirement, ...]

    @functools.cached_property
    def _equalities(self) -> tuple[tuple[str, str], ...] | None:
        """``key=value`` pairs when that is all the selector says (a Deployment's usually):
        matched without the general path, since every pod of the namespace is tested."""
        if all(r.operator in ("=", "in") and len(r.values) == 1 for r in self.requirements):
            return tuple((r.key, r.values[0]) for r in self.requirements)
        return None

    @functools.cached_property
    def required_labels(self) -> tuple[tuple[str, str], ...]:
        """``key=value`` pairs every matching label set carries (from ``=`` and one-value
        ``in`` requirements): a label index narrows the candidates to one of them."""
        return tuple(
            (r.key, r.values[0])
            for r in self.requirements
            if r.operator in ("=", "in") and len(r.values) == 1
        )

    def matches(self, labels: Mapping[str, str]) -> bool:
        equalities = self._equalities
        if equalities is not None:
            return all(labels.get(key) == value for key, value in equalities)
        return all(requirement.matches(labels) for requirement in self.requirements)

    @property
    def is_empty(self) -> bool:
        return not self.requirements


def _split_top_level(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise SelectorError(f"unbalanced ')' in selector {text!r}")
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if depth != 0:
        raise SelectorError(f"unbalanced '(' in selector {text!r}")
    parts.append("".join(current))
    return [part.strip() for part in parts if part.strip()]


def _set_values(text: str, whole: str) -> tuple[str, ...]:
    text = text.strip()
    if not (text.startswith("(") and text.endswith(")")):
        raise SelectorError(f"expected '(values)' in selector {whole!r}")
    return tuple(value.strip() for value in text[1:-1].split(",") if value.strip())


def _requirement(term: str, whole: str) -> Requirement:
    for word, operator in ((" notin ", "notin"), (" in ", "in")):
        if word in f" {term} ":
            key, _, rest = f" {term} ".partition(word)
            return Requirement(key.strip(), operator, _set_values(rest, whole))
    for symbol, operator in (("!=", "!="), ("==", "="), ("=", "="), (">", "gt"), ("<", "lt")):
        if symbol in term:
            key, _, value = term.partition(symbol)
            return Requirement(key.strip(), operator, (value.strip(),))
    if term.startswith("!"):
        return Requirement(term[1:].strip(), "!")
    if " " in term:
        raise SelectorError(f"cannot parse {term!r} in selector {whole!r}")
    return Requirement(term, "exists")


@functools.lru_cache(maxsize=32768)
def parse_selector(text: str) -> Selector:
    """Parse the string form of a label selector (the same ones every period: cached).

    The cache holds more selectors than there are Autoscalers (10,000 at the benchmarked
    ceiling): each period asks for every one in turn, and an LRU smaller than that cycle
    misses every time."""
    return Selector(tuple(_requirement(term, text) for term in _split_top_level(text)))


# A LabelSelector object's ``matchExpressions`` operators, and the requirement each becomes.
SELECTOR_OPERATORS: Mapping[str, str] = {
    "In": "in",
    "NotIn": "notin",
    "Exists": "exists",
    "DoesNotExist": "!",
}


def selector_from_object(selector: Mapping[str, Any] | None) -> Selector:
    """Convert a ``LabelSelector`` object (``matchLabels``/``matchExpressions``)."""
    if not selector:
        return Selector(())
    requirements = [
        Requirement(key, "=", (str(value),))
        for key, value in sorted((selector.get("matchLabels") or {}).items())
    ]
    for expression in selector.get("matchExpressions") or []:
        operator = SELECTOR_OPERATORS.get(expression.get("operator", ""))
        if operator is None:
            raise SelectorError(f"unknown selector operator {expression.get('operator')!r}")
        values = tuple(sorted(str(v) for v in expression.get("values") or []))
        requirements.append(Requirement(str(expression["key"]), operator, values))
    return Selector(tuple(requirements))


# Matched whole (fullmatch): a "$" would also match before a trailing newline.
_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def check_label_key(key: str) -> None:
    """Refuse a label key that is not ``[prefix/]name`` label syntax (SelectorError)."""
    prefix, slash, name = key.rpartition("/")
    if slash and not (len(prefix) <= 253 and _DNS_SUBDOMAIN.fullmatch(prefix)):
        raise SelectorError(f"label key {key!r}: the prefix must be a DNS subdomain")
    if not (len(name) <= 63 and _NAME.fullmatch(name)):
        raise SelectorError(
            f"label key {key!r} must be at most 63 characters of letters, digits, '-', '_' "
            "and '.', beginning and ending with a letter or digit"
        )


def check_label_value(key: str, value: str) -> None:
    """Refuse a value of label ``key`` that is not label syntax (SelectorError)."""
    if value and not (len(value) <= 63 and _NAME.fullmatch(value)):
        raise SelectorError(
            f"value {value!r} of label {key!r} must be empty or at most 63 characters of "
            "letters, digits, '-', '_' and '.', beginning and ending with a letter or digit"
        )


def check_label_selector(selector: Mapping[str, Any] | None) -> None:
    """Refuse what ``metav1.LabelSelectorAsSelector`` refuses (``labels.NewRequirement``): a
    selector whose keys or values are not label syntax would be sent as other requirements
    (``queue: "a,env!=prod"`` reads as two), so the metric would come from other series."""
    if not selector:
        return
    for key, value in (selector.get("matchLabels") or {}).items():
        check_label_key(str(key))
        check_label_value(str(key), str(value))
    for expression in selector.get("matchExpressions") or []:
        key, operator = str(expression.get("key", "")), expression.get("operator")
        values = [str(v) for v in expression.get("values") or []]
        check_label_key(key)
        if operator in ("In", "NotIn") and not values:
            raise SelectorError(f"label {key!r}: {operator} needs at least one value")
        if operator in ("Exists", "DoesNotExist") and values:
            raise SelectorError(f"label {key!r}: {operator} takes no values")
        for value in values:
            check_label_value(key, value)


def format_selector(selector: Selector) -> str:
    """The canonical string form, as used in ``labelSelector`` query parameters."""
    terms = []
    for requirement in selector.requirements:
        if requirement.operator == "exists":
            terms.append(requirement.key)
        elif requirement.operator == "!":
            terms.append(f"!{requirement.key}")
        elif requirement.operator in ("in", "notin"):
            terms.append(
                f"{requirement.key} {requirement.operator} ({','.join(requirement.values)})"
            )
        elif requirement.operator in ("gt", "lt"):
            symbol = ">" if requirement.operator == "gt" else "<"
            terms.append(f"{requirement.key}{symbol}{requirement.values[0]}")
        else:
            terms.append(f"{requirement.key}{requirement.operator}{requirement.values[0]}")
    return ",".join(terms)
