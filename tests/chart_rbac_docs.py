"""The chart's RBAC as docs/security.md lists it, parsed from its two tables.

Only code spans count in a cell (everything else is commentary): `""` is the core API group,
`<fullname>`-style placeholders are filled in from the values a test renders with, and
`<secrets.field>` / `<scaleTargets.field>` placeholders expand once per list entry. A `When`
cell's spans are conditions, all of which must hold (``holds``; ``not <path>`` for a false value).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ROLES_HEADER = ("Role", "Kind", "Namespace", "Bound to", "Why")
RULES_HEADER = ("Role", "API groups", "Resources", "Verbs", "Resource names", "When")
ENTRY = re.compile(r"<(\w+)\.(\w+)>")

# (kind, namespace or "", role name, apiGroup, resource, verb, resourceName or "")
Grant = tuple[str, str, str, str, str, str, str]
RoleKey = tuple[str, str, str]  # (kind, namespace or "", name)
Entry = Mapping[str, Any]


@dataclass(frozen=True)
class DocRole:
    name: str
    kind: str
    namespace: str
    accounts: tuple[str, ...]


@dataclass(frozen=True)
class DocRule:
    role: str
    groups: tuple[str, ...]
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    names: tuple[str, ...]
    when: tuple[str, ...]


def code_spans(cell: str) -> tuple[str, ...]:
    return tuple("" if span == '""' else span for span in re.findall(r"`([^`]*)`", cell))


def table(text: str, header: Sequence[str]) -> list[tuple[str, ...]]:
    """The rows of the one Markdown table whose header is exactly ``header``."""
    lines = text.splitlines()
    heading = "| " + " | ".join(header) + " |"
    starts = [index for index, line in enumerate(lines) if line.strip() == heading]
    if len(starts) != 1:
        raise ValueError(f"expected one table headed {heading!r}, found {len(starts)}")
    rows = []
    for line in lines[starts[0] + 2 :]:
        if not line.startswith("|"):
            break
        cells = tuple(cell.strip() for cell in line.strip().strip("|").split("|"))
        if len(cells) != len(header):
            raise ValueError(f"row has {len(cells)} cells, the header {len(header)}: {line}")
        rows.append(cells)
    return rows


def one(cell: str) -> str:
    spans = code_spans(cell)
    return spans[0] if spans else ""


def parse(text: str) -> tuple[list[DocRole], list[DocRule]]:
    roles = [
        DocRole(one(name), one(kind), one(namespace), code_spans(bound))
        for name, kind, namespace, bound, _ in table(text, ROLES_HEADER)
    ]
    rules = [
        DocRule(one(role), *(code_spans(cell) for cell in cells))
        for role, *cells in table(text, RULES_HEADER)
    ]
    return roles, rules


def fill(value: str, fixed: Mapping[str, str], entry: Entry) -> list[str]:
    """``value`` with its placeholders filled in; a list field gives one value per item."""
    value = _filled(value, fixed)
    match = ENTRY.search(value)
    if match is None:
        if "<" in value:
            raise ValueError(f"unknown placeholder in {value!r}")
        return [value]
    found = entry[match.group(2)]
    items = found if isinstance(found, list) else [found]
    return [value.replace(match.group(0), str(item)) for item in items]


def entries_of(texts: Sequence[str], lists: Mapping[str, Sequence[Entry]]) -> Sequence[Entry]:
    """The entries a row expands over: those of the one list its placeholders name."""
    named = {match.group(1) for text in texts for match in ENTRY.finditer(text)}
    if len(named) > 1:
        raise ValueError(f"a row may name one list, not {sorted(named)}")
    return lists[named.pop()] if named else [{}]


def documented(
    text: str,
    fixed: Mapping[str, str],
    lists: Mapping[str, Sequence[Entry]],
    is_true: Callable[[str], bool],
) -> tuple[set[Grant], dict[RoleKey, set[str]]]:
    """The grants and bindings the docs promise for one set of values."""
    roles, rules = parse(text)
    by_name = {role.name: role for role in roles}
    grants: set[Grant] = set()
    bound_roles: set[DocRole] = set()
    for rule in rules:
        if not all(is_true(_filled(condition, fixed)) for condition in rule.when):
            continue
        role = by_name[rule.role]
        bound_roles.add(role)
        texts = [role.name, role.namespace, *rule.groups, *rule.resources, *rule.names]
        for entry in entries_of(texts, lists):
            grants.update(_grants(role, rule, fixed, entry))
    bindings: dict[RoleKey, set[str]] = {}
    for role in bound_roles:
        for entry in entries_of([role.name, role.namespace], lists):
            for key in _keys(role, fixed, entry):
                accounts = {a for text in role.accounts for a in fill(text, fixed, entry)}
                bindings.setdefault(key, set()).update(accounts)
    return grants, bindings


def _filled(text: str, fixed: Mapping[str, str]) -> str:
    for placeholder, replacement in fixed.items():
        text = text.replace(placeholder, replacement)
    return text


def _keys(role: DocRole, fixed: Mapping[str, str], entry: Entry) -> Iterator[RoleKey]:
    namespaces = fill(role.namespace, fixed, entry) if role.namespace else [""]
    for namespace in namespaces:
        for name in fill(role.name, fixed, entry):
            yield (role.kind, namespace, name)


def _grants(
    role: DocRole, rule: DocRule, fixed: Mapping[str, str], entry: Entry
) -> Iterator[Grant]:
    def each(values: Sequence[str]) -> list[str]:
        return [filled for value in values for filled in fill(value, fixed, entry)]

    names = each(rule.names) or [""]
    for key in _keys(role, fixed, entry):
        for group, resource, verb, name in itertools.product(
            each(rule.groups), each(rule.resources), rule.verbs, names
        ):
            yield (*key, group, resource, verb, name)


def dotted(values: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path (`controllers.emptydir.enabled`), as a `When` cell names it."""
    node: Any = values
    for key in path.split("."):
        node = node[key]
    return node


def holds(values: Mapping[str, Any], condition: str) -> bool:
    """Whether a `When` condition holds for the values (placeholders filled): a term that is
    true, `not ` and a term that is false, or `<left> > <right>`; a term is a whole number or a
    dotted path."""

    def term(text: str) -> Any:
        text = text.strip()
        return int(text) if text.isdigit() else dotted(values, text)

    if condition.startswith("not "):
        return not term(condition.removeprefix("not "))
    left, comparison, right = condition.partition(" > ")
    if not comparison:
        return bool(term(condition))
    return int(term(left)) > int(term(right))


def rendered(docs: Sequence[Mapping[str, Any]]) -> tuple[set[Grant], dict[RoleKey, set[str]]]:
    """The grants of every rendered Role and ClusterRole, and whom each binding names."""
    grants: set[Grant] = set()
    bindings: dict[RoleKey, set[str]] = {}
    for doc in docs:
        meta = doc["metadata"]
        if doc["kind"] in ("ClusterRole", "Role"):
            role = (doc["kind"], meta.get("namespace", ""), meta["name"])
            for rule in doc["rules"]:
                grants.update(
                    (*role, group, resource, verb, name)
                    for group, resource, verb, name in itertools.product(
                        rule["apiGroups"],
                        rule["resources"],
                        rule["verbs"],
                        rule.get("resourceNames") or [""],
                    )
                )
        elif doc["kind"] in ("ClusterRoleBinding", "RoleBinding"):
            ref = doc["roleRef"]
            key = (ref["kind"], meta.get("namespace", ""), ref["name"])
            bindings.setdefault(key, set()).update(s["name"] for s in doc["subjects"])
    return grants, bindings
