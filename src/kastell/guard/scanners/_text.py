"""Rule metadata helpers shared by the scanners (private); text logic is in ``kastell.text``."""

from __future__ import annotations

from kastell.guard.interface import Action, RuleInfo
from kastell.types import ControlId, Severity

CLASSIFIER_MAPPINGS = ("OWASP-LLM01", "ATLAS-AML.T0051", "ATLAS-AML.T0054", "AIA-15.5.AE")
"""Controls the injection/jailbreak classifiers (n-gram and MiniLM) give evidence for."""


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
