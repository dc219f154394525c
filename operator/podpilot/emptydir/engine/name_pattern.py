"""``exemptions.volumeNamePattern``: RE2 syntax and RE2's linear-time matching, as documented.

Python's ``re`` backtracks: a pattern like ``(a+)+$`` from any policy author could pin the
audit's thread on one long volume name. RE2 matches in time linear in the name, and refuses the
constructs that need backtracking (back-references, look-around) when the pattern is compiled.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2


class NamePattern:
    """A compiled pattern; :meth:`matches` is a full match, like the CRD's description says."""

    def __init__(self, text: str) -> None:
        options = re2.Options()
        options.log_errors = False  # the error goes into the policy's problems, not stderr
        try:
            self._compiled: Any = re2.compile(text, options)
        except re2.error as error:
            raise ValueError(f"not an RE2 pattern: {_message(error)}") from None
        self.text = text

    def matches(self, name: str) -> bool:
        return self._compiled.fullmatch(name) is not None


def _message(error: Exception) -> str:
    detail = error.args[0] if error.args else error
    return detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)


@lru_cache(maxsize=64)
def name_pattern(text: str) -> NamePattern:
    """The compiled pattern, compiled once per text (every pod audit asks for it)."""
    return NamePattern(text)
