"""The reporter's label selector flags: equality-based only (``a=b,c!=d,e,!f``).

Parsing, matching and label syntax are :mod:`podpilot.apimachinery.selectors`'; this module
only narrows what the flags accept. Set-based terms (``in``, ``notin``), ``>``/``<`` and keys or
values that are not label syntax raise :class:`SelectorError` (a ``ValueError``), so a typo in
a flag fails at startup instead of silently matching nothing.
"""

from __future__ import annotations

from podpilot.apimachinery.selectors import (
    Selector,
    SelectorError,
    check_label_key,
    check_label_value,
    format_selector,
    parse_selector,
)

EQUALITY_OPERATORS = frozenset({"=", "!=", "exists", "!"})


def parse_equality_selector(text: str) -> Selector:
    """Parse an equality-based selector; the empty string selects everything.

    Raises:
        SelectorError: The text is not a selector, has a set-based term, or a key or value
            that is not label syntax.
    """
    selector = parse_selector(text)
    for requirement in selector.requirements:
        term = format_selector(Selector((requirement,)))
        if requirement.operator not in EQUALITY_OPERATORS:
            raise SelectorError(
                f"only equality-based terms are supported, not {term!r} in selector {text!r}"
            )
        try:
            check_label_key(requirement.key)
            for value in requirement.values:
                check_label_value(requirement.key, value)
        except SelectorError as error:
            raise SelectorError(f"{error}, in selector term {term!r}") from None
    return selector
