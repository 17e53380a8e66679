"""Text helpers shared by the scanners (private)."""

from __future__ import annotations

import functools
import re
import unicodedata

from kastell.guard.interface import Action, RuleInfo
from kastell.types import ControlId, Severity

_SPACES = re.compile(r"\s+")

CLASSIFIER_MAPPINGS = ("OWASP-LLM01", "ATLAS-AML.T0051", "ATLAS-AML.T0054", "AIA-15.5.AE")
"""Controls the injection/jailbreak classifiers (n-gram and MiniLM) give evidence for."""


@functools.lru_cache(maxsize=256)
def fold(text: str) -> str:
    """Lower-case, strip accents and collapse whitespace, keeping character positions loose.

    Several scanners fold the same text one after the other; the small cache makes that one
    pass (the argument is the text itself, so a hit can only return that text's folding).
    """
    if text.isascii():
        return _SPACES.sub(" ", text.lower())
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", stripped.casefold())


def rule(
    rule_id: str,
    title: str,
    severity: Severity,
    mappings: tuple[str, ...],
    action: Action,
    *,
    incident: bool = False,
) -> RuleInfo:
    """Build a ``RuleInfo`` (mappings typed as control ids)."""
    return RuleInfo(
        rule_id=rule_id,
        title=title,
        severity=severity,
        mappings=tuple(ControlId(m) for m in mappings),
        default_action=action,
        incident=incident,
    )
