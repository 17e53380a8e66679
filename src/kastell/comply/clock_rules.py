"""The reporting obligations Kastell knows; keys are catalog control ids.

Each rule says which regime starts which clock, from which event, for how long, to whom and
with which content.

Sources: NIS2 (Directive (EU) 2022/2555) Art. 23; CRA (Regulation (EU) 2024/2847) Art. 14 and
71(2); AI Act (Regulation (EU) 2024/1689) Art. 26(5), 73 and 113; GDPR (Regulation (EU) 2016/679)
Art. 33. Paraphrased, not legal advice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from kastell.comply.incident import Regime
from kastell.types import ControlId

__all__ = [
    "AIA_REPORTING_FROM",
    "M1",
    "CLOCK_RULES",
    "CRA_REPORTING_FROM",
    "ClockRule",
    "Period",
]


@dataclasses.dataclass(frozen=True)
class Period:
    """A legal period: a number of hours, days or months."""

    amount: int
    unit: str
    """``hours``, ``days`` or ``months``."""

    def __str__(self) -> str:
        if self.unit == "undue_delay":
            return "without undue delay"
        unit = self.unit[:-1] if self.amount == 1 else self.unit
        return f"{self.amount} {unit}"


@dataclasses.dataclass(frozen=True)
class ClockRule:
    """One reporting obligation: which regime starts it, from which event, for how long."""

    key: ControlId
    regime: Regime
    step: str
    basis: str
    period: Period
    start: str
    """``awareness``, ``fix`` or ``submitted:<key>`` (the submission of another notification)."""
    recipient: str
    content: tuple[str, ...]


def _rule(key: str, regime: Regime, step: str, basis: str, period: Period, start: str,
          recipient: str, *content: str) -> ClockRule:  # fmt: skip
    return ClockRule(ControlId(key), regime, step, basis, period, start, recipient, content)


_H24, _H72, M1 = Period(24, "hours"), Period(72, "hours"), Period(1, "months")
_NOW = Period(0, "undue_delay")
_CSIRT = "CSIRT or competent authority (NIS2)"
_ENISA = "designated CSIRT and ENISA via the single reporting platform (CRA)"
_MSA = "market surveillance authority of the Member State(s) concerned (AI Act)"

CLOCK_RULES: tuple[ClockRule, ...] = (
    _rule(
        "NIS2-23.4.a",
        Regime.NIS2_SIGNIFICANT,
        "early warning",
        "NIS2 Art. 23(4)(a)",
        _H24,
        "awareness",
        _CSIRT,
        "suspected_malicious_or_unlawful",
        "possible_cross_border_impact",
    ),
    _rule(
        "NIS2-23.4.b",
        Regime.NIS2_SIGNIFICANT,
        "incident notification",
        "NIS2 Art. 23(4)(b)",
        _H72,
        "awareness",
        _CSIRT,
        "update_of_early_warning",
        "initial_assessment",
        "severity",
        "impact",
        "indicators_of_compromise",
    ),
    _rule(
        "NIS2-23.4.d",
        Regime.NIS2_SIGNIFICANT,
        "final report",
        "NIS2 Art. 23(4)(d)",
        M1,
        "submitted:NIS2-23.4.b",
        _CSIRT,
        "detailed_description",
        "severity_and_impact",
        "threat_type_or_root_cause",
        "mitigations_applied_and_ongoing",
        "cross_border_impact",
    ),
    _rule(
        "CRA-14.2.a",
        Regime.CRA_EXPLOITED_VULNERABILITY,
        "early warning",
        "CRA Art. 14(2)(a)",
        _H24,
        "awareness",
        _ENISA,
        "member_states_where_available",
    ),
    _rule(
        "CRA-14.2.b",
        Regime.CRA_EXPLOITED_VULNERABILITY,
        "vulnerability notification",
        "CRA Art. 14(2)(b)",
        _H72,
        "awareness",
        _ENISA,
        "product_info",
        "nature_of_exploit_and_vulnerability",
        "measures_taken",
        "user_measures",
        "sensitivity",
    ),
    _rule(
        "CRA-14.2.c",
        Regime.CRA_EXPLOITED_VULNERABILITY,
        "final report",
        "CRA Art. 14(2)(c)",
        Period(14, "days"),
        "fix",
        _ENISA,
        "description_severity_impact",
        "malicious_actor_info",
        "corrective_measures",
    ),
    _rule(
        "CRA-14.4.a",
        Regime.CRA_SEVERE_INCIDENT,
        "early warning",
        "CRA Art. 14(4)(a)",
        _H24,
        "awareness",
        _ENISA,
        "suspected_malicious_or_unlawful",
        "member_states_where_available",
    ),
    _rule(
        "CRA-14.4.b",
        Regime.CRA_SEVERE_INCIDENT,
        "incident notification",
        "CRA Art. 14(4)(b)",
        _H72,
        "awareness",
        _ENISA,
        "nature_of_incident",
        "initial_assessment",
        "measures_taken",
        "user_measures",
        "sensitivity",
    ),
    _rule(
        "CRA-14.4.c",
        Regime.CRA_SEVERE_INCIDENT,
        "final report",
        "CRA Art. 14(4)(c)",
        M1,
        "submitted:CRA-14.4.b",
        _ENISA,
        "detailed_description_severity_impact",
        "threat_type_or_root_cause",
        "mitigations_applied_and_ongoing",
    ),
    _rule(
        "AIA-73.2",
        Regime.AIA_SERIOUS,
        "serious incident report",
        "AI Act Art. 73(2)",
        Period(15, "days"),
        "awareness",
        _MSA,
        "system_identification",
        "incident_description",
        "causal_link",
        "corrective_action",
        "affected_persons",
    ),
    _rule(
        "AIA-73.3",
        Regime.AIA_WIDESPREAD,
        "serious incident report (widespread / critical infrastructure)",
        "AI Act Art. 73(3)",
        Period(2, "days"),
        "awareness",
        _MSA,
        "system_identification",
        "incident_description",
        "affected_infrastructure",
        "corrective_action",
    ),
    _rule(
        "AIA-73.4",
        Regime.AIA_DEATH,
        "serious incident report (death)",
        "AI Act Art. 73(4)",
        Period(10, "days"),
        "awareness",
        _MSA,
        "system_identification",
        "incident_description",
        "causal_link",
        "corrective_action",
    ),
    _rule("NIS2-23.4.e", Regime.NIS2_SIGNIFICANT, "progress report (incident ongoing)",
          "NIS2 Art. 23(4)(e)", M1, "submitted:NIS2-23.4.b", _CSIRT,
          "progress_of_handling", "mitigations_applied_and_ongoing"),
    _rule("NIS2-23.1", Regime.NIS2_SIGNIFICANT, "notice to recipients of the services",
          "NIS2 Art. 23(1) second subparagraph, 23(2)", _NOW, "awareness",
          "recipients of the entity's services likely to be adversely affected",
          "incident_description", "measures_recipients_can_take"),
    _rule("CRA-14.8", Regime.CRA_SEVERE_INCIDENT, "information to impacted users",
          "CRA Art. 14(8)", _NOW, "awareness", "impacted users of the product (and all users "
          "where appropriate)", "incident_description", "user_measures"),
    _rule("CRA-14.8", Regime.CRA_EXPLOITED_VULNERABILITY, "information to impacted users",
          "CRA Art. 14(8)", _NOW, "awareness", "impacted users of the product (and all users "
          "where appropriate)", "nature_of_exploit_and_vulnerability", "user_measures"),
    _rule("AIA-26.5", Regime.AIA_SERIOUS, "deployer informs the provider (then importer or "
          "distributor and the market surveillance authority)", "AI Act Art. 26(5)", _NOW,
          "awareness", "provider of the high-risk AI system", "system_identification",
          "incident_description"),
    _rule("GDPR-33.1", Regime.GDPR_BREACH, "personal data breach notification",
          "GDPR Art. 33(1), (3)", _H72, "awareness", "competent supervisory authority (GDPR)",
          "nature_of_breach", "data_subjects_and_records", "dpo_contact", "likely_consequences",
          "measures_taken"),
)  # fmt: skip
"""Every reporting clock Kastell knows; keys are catalog control ids."""

CRA_REPORTING_FROM = dt.date(2026, 9, 11)
"""CRA Art. 14 applies from this date (Art. 71(2)); no CRA clock for earlier awareness."""
AIA_REPORTING_FROM = dt.date(2026, 8, 2)
"""AI Act Art. 26 and 73 apply from the general date (Art. 113); earlier: no clock."""


