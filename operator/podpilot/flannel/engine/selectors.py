"""The reporter's label selector flags: equality-based only (``a=b,c!=d,e,!f``).

Parsing and matching are :mod:`podpilot.apimachinery.selectors`'; this module only narrows
what the flags accept. Set-based terms (``in``, ``notin``), ``>``/``<`` and invalid label keys raise
:class:`SelectorError` (a ``ValueError``), so a typo in a flag fails at startup instead of
silently matching nothing.
"""

from __future__ import annotations

import re

from podpilot.apimachinery.selectors import (
    Selector,
    SelectorError,
    format_selector,
    parse_selector,
)

EQUALITY_OPERATORS = frozenset({"=", "!=", "exists", "!"})
_KEY = re.compile(r"^([a-z0-9A-Z.\-]+/)?[a-zA-Z0-9]([a-zA-Z0-9._-]*[a-zA-Z0-9])?$")


def parse_equality_selector(text: str) -> Selector:
    """Parse an equality-based selector; the empty string selects everything.

    Raises:
        SelectorError: The text is not a selector, has a set-based term, or an invalid key.
    """
    selector = parse_selector(text)
    for requirement in selector.requirements:
        term = format_selector(Selector((requirement,)))
        if requirement.operator not in EQUALITY_OPERATORS:
            raise SelectorError(
                f"only equality-based terms are supported, not {term!r} in selector {text!r}"
            )
        if not _KEY.match(requirement.key):
            raise SelectorError(f"invalid label key in selector term {term!r}")
    return selector
