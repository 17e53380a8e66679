"""The screening report as JSON, as shared findings (for SARIF), and the ``--fail-on`` gate."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from kastell.datascan.interface import (
    FAMILY_MAPPINGS,
    DatascanUsageError,
    Family,
    RecordHit,
    ScreeningReport,
)
from kastell.types import Finding, Location, Severity

__all__ = ["SEVERITIES", "Gate", "findings", "parse_fail_on", "report_dict"]

SEVERITIES: Mapping[str, Severity] = {
    "KS-DATA-INJECTION": Severity.HIGH,
    "KS-DATA-TRIGGER": Severity.HIGH,
    "KS-DATA-UNICODE": Severity.MEDIUM,
    "KS-DATA-FLOOD": Severity.MEDIUM,
    "KS-DATA-LABEL-FLIP": Severity.MEDIUM,
    "KS-DATA-PII": Severity.MEDIUM,
    "KS-DATA-SECRET": Severity.HIGH,
}
"""Severity of each rule id (a rule not listed is reported as high)."""

_TITLES = {
    Family.INJECTION: "Injected instruction in a dataset record",
    Family.TRIGGER: "Backdoor trigger candidate in a dataset record",
    Family.FLOODING: "Record floods the dataset (near-duplicate cluster)",
    Family.LABEL_FLIP: "Label disagrees with the nearest neighbours",
    Family.PERSONAL_DATA: "Personal data or secret in a dataset record",
}


@dataclasses.dataclass(frozen=True)
class Gate:
    """Per family, the largest share of flagged records that still passes."""

    limits: Mapping[Family, float]

    def failures(self, report: ScreeningReport) -> list[str]:
        """The families over their limit, as sentences (empty: the gate passes)."""
        failed = []
        for family in Family:
            if family in report.options.skip or not report.outcome(family).ran:
                continue
            share = report.flagged_share(family)
            limit = self.limits.get(family, 0.0)
            if share > limit:
                failed.append(f"{family.value}: {share:.4%} of the records flagged "
                              f"(limit {limit:.4%})")
        return failed


def parse_fail_on(values: tuple[str, ...]) -> Gate:
    """``FAMILY=SHARE`` items (share as 0.01 or 1%); families not named have limit 0."""
    limits: dict[Family, float] = {}
    for value in values:
        name, sep, text = value.partition("=")
        try:
            family = Family(name.strip())
            share = float(text.strip().removesuffix("%")) / (100 if text.strip().endswith("%")
                                                               else 1)
        except ValueError:
            raise DatascanUsageError(
                f"bad --fail-on {value!r}",
                hint=f"Write FAMILY=SHARE, FAMILY one of {', '.join(f.value for f in Family)}.",
            ) from None
        if not sep or not 0.0 <= share <= 1.0:
            raise DatascanUsageError(f"bad --fail-on {value!r}: the share must be in [0, 1]")
        limits[family] = share
    return Gate(limits)


def _finding(hit: RecordHit) -> Finding:
    file, _, index = hit.record.rpartition("#")
    member = f"record {index}" + (f" field {hit.field}" if hit.field else "")
    if hit.start is not None:
        member += f" chars {hit.start}-{hit.end}"
    return Finding(hit.rule_id, SEVERITIES.get(hit.rule_id, Severity.HIGH), _TITLES[hit.family],
                   hit.message, Location(file, member, hit.line), FAMILY_MAPPINGS[hit.family])


def findings(report: ScreeningReport) -> tuple[Finding, ...]:
    """Every record hit as a shared :class:`~kastell.types.Finding`."""
    return tuple(_finding(hit) for outcome in report.outcomes for hit in outcome.hits)


def report_dict(report: ScreeningReport, gate: Gate, max_hits: int = 1000) -> dict[str, Any]:
    """The JSON report (at most ``max_hits`` hits listed per family; counts are complete)."""
    failures = gate.failures(report)
    families = {}
    for outcome in report.outcomes:
        families[outcome.family.value] = {
            "ran": outcome.ran,
            "skipped": outcome.family in report.options.skip,
            "note": outcome.note,
            "flagged_records": len(outcome.flagged_records),
            "flagged_share": round(report.flagged_share(outcome.family), 6),
            "limit": gate.limits.get(outcome.family, 0.0),
            "details": dict(outcome.details),
            "hits": [hit.to_dict() for hit in outcome.hits[:max_hits]],
            "hits_total": len(outcome.hits),
        }
    return {
        "tool": report.tool,
        "dataset": {"name": report.name, "digest": report.dataset_digest,
                    "delta_of": report.delta_of},
        "records": report.records,
        "files": [f.to_dict() for f in report.files],
        "excluded": list(report.excluded),
        "complete": report.complete,
        "passed": report.complete and not failures,
        "failures": failures,
        "options": {k: (sorted(f.value for f in v) if isinstance(v, frozenset) else v)
                    for k, v in dataclasses.asdict(report.options).items()},
        "families": families,
    }
