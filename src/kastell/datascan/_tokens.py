"""Word tokens and the parts of a record that detectors compare.

Tokens here serve counting and shingling (near duplicates, trigger n-grams), not the decision
whether a text is an attack: that is the text core's. A token is a run of letters, digits or
underscores, lower-cased, or one character that is neither a letter nor a digit nor space.
"""

from __future__ import annotations

import re

from kastell.datascan.interface import Record

__all__ = ["content_text", "tokens"]

_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def tokens(text: str) -> list[str]:
    """The lower-cased tokens of ``text``."""
    return _TOKEN.findall(text.lower())


def content_text(record: Record, leave_out: frozenset[str] = frozenset()) -> str:
    """Every text field of ``record`` except those named in ``leave_out``, one per line."""
    return "\n".join(f.text for f in record.fields if f.path not in leave_out)
