"""Control evaluation: a pure function of (catalog, evidence, now, freshness policy).

Rules, applied per control in this order (documented in docs/comply.md):

Per kind and subject only the latest fresh record counts (a passing re-run replaces a failure).

1. ``failing``: some fresh evidence of one of the control's kinds states ``passed: false``; the
   findings it carries (those mapped to this control, else all of them) are attached.
2. ``missing``: a kind Kastell can produce (signature, scan, red-team, ...) has no fresh evidence
   that states ``passed: true``. Evidence without an outcome counts as unknown, i.e. missing.
3. ``needs_attestation``: only organisational kinds (documentation, human oversight, access
   control, vulnerability disclosure) lack evidence; a person must record it (``evidence add``).
4. ``satisfied``: every kind the control lists has fresh evidence, and none of it fails.

Stale evidence (older than the freshness window for its kind) is ignored and reported as stale.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kastell.comply.catalog import Catalog
from kastell.comply.interface import (
    ComplyUsageError,
    Control,
    ControlResult,
    ControlStatus,
    StoredEvidence,
)
from kastell.types import ControlId, EvidenceKind, Finding, Location, Severity

__all__ = [
    "ORGANISATIONAL_KINDS",
    "FreshnessPolicy",
    "applies_later",
    "covers",
    "evaluate_control",
    "evaluate_controls",
    "expired",
    "finding_from_dict",
    "summarize",
]

ORGANISATIONAL_KINDS = frozenset(
    {
        EvidenceKind.DOCUMENTATION,
        EvidenceKind.HUMAN_OVERSIGHT_PROCEDURE,
        EvidenceKind.ACCESS_CONTROL,
        EvidenceKind.VULNERABILITY_DISCLOSURE,
    }
)
"""Kinds only people can attest; recorded by hand with ``kastell evidence add``."""


@dataclasses.dataclass(frozen=True)
class FreshnessPolicy:
    """How old evidence may be and still count.

    Args:
        default: the window for machine-produced evidence.
        organisational: the window for organisational kinds (documents are reviewed yearly).
        per_kind: overrides by kind.
    """

    default: dt.timedelta = dt.timedelta(days=30)
    organisational: dt.timedelta = dt.timedelta(days=365)
    per_kind: Mapping[EvidenceKind, dt.timedelta] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        windows = [self.default, self.organisational, *self.per_kind.values()]
        if any(w <= dt.timedelta(0) for w in windows):
            raise ComplyUsageError(
                "freshness windows must be positive", hint="Use e.g. 30d or 720h."
            )

    def window(self, kind: EvidenceKind) -> dt.timedelta:
        """The freshness window for ``kind``."""
        if kind in self.per_kind:
            return self.per_kind[kind]
        return self.organisational if kind in ORGANISATIONAL_KINDS else self.default


def finding_from_dict(raw: Mapping[str, Any]) -> Finding:
    """Rebuild a ``Finding`` from ``Finding.to_dict()`` output kept in an evidence summary."""
    location = raw.get("location")
    return Finding(
        rule_id=str(raw.get("rule_id", "unknown")),
        severity=Severity.parse(str(raw.get("severity", "info"))),
        title=str(raw.get("title", "")),
        message=str(raw.get("message", "")),
        location=Location(**location) if isinstance(location, Mapping) else None,
        mappings=tuple(ControlId(str(m)) for m in raw.get("mappings", ())),
    )


def _outcome(record: StoredEvidence) -> bool | None:
    passed = record.evidence.summary.get("passed")
    if isinstance(passed, bool):
        return passed
    if record.evidence.kind in ORGANISATIONAL_KINDS:
        return True  # a person recorded the document: attested, no machine outcome to check
    return None


def _findings_for(control: Control, records: Iterable[StoredEvidence]) -> tuple[Finding, ...]:
    found: list[Finding] = []
    for record in records:
        raw = [finding_from_dict(f) for f in record.evidence.summary.get("findings", ())]
        mapped = [f for f in raw if control.id in f.mappings]
        found.extend(mapped or raw)
    return tuple(found)


def covers(record: StoredEvidence, control: Control, max_controls: int) -> bool:
    """Whether an organisational record is evidence for ``control``.

    It must name the control, and name no more controls than the catalog's cap (a catch-all
    policy counts for none). Machine evidence is bound by its kind alone.
    """
    if record.evidence.kind not in ORGANISATIONAL_KINDS:
        return True
    named = record.evidence.summary.get("controls")
    if not isinstance(named, list) or not named or len(named) > max_controls:
        return False
    return control.id in named


def expired(record: StoredEvidence, now: dt.datetime) -> bool:
    """Whether the record's declared validity (``valid_until``) ended before ``now``."""
    until = record.evidence.summary.get("valid_until")
    if until is None:
        return False
    try:
        return dt.date.fromisoformat(str(until)) < now.astimezone(dt.UTC).date()
    except ValueError:
        return True  # an unreadable validity is no validity


def _latest_fresh(
    control: Control,
    evidence: Sequence[StoredEvidence],
    now: dt.datetime,
    freshness: FreshnessPolicy,
    max_controls: int = 6,
) -> tuple[dict[EvidenceKind, list[StoredEvidence]], set[EvidenceKind]]:
    """The latest fresh record per (kind, subject) of the control's kinds, and the stale kinds."""
    latest: dict[tuple[EvidenceKind, str], StoredEvidence] = {}
    stale: set[EvidenceKind] = set()
    for record in evidence:
        kind = record.evidence.kind
        if kind not in control.evidence_kinds or not covers(record, control, max_controls):
            continue
        age = now.astimezone(dt.UTC) - record.evidence.produced_at.astimezone(dt.UTC)
        if age > freshness.window(kind) or expired(record, now):
            stale.add(kind)
            continue
        key = (kind, record.evidence.subject.name)
        current = latest.get(key)
        order = (record.evidence.produced_at.astimezone(dt.UTC), record.id)
        if current is None or order > (current.evidence.produced_at.astimezone(dt.UTC), current.id):
            latest[key] = record
    fresh: dict[EvidenceKind, list[StoredEvidence]] = {}
    for (kind, _), record in latest.items():
        fresh.setdefault(kind, []).append(record)
    return fresh, stale


def evaluate_control(
    control: Control,
    evidence: Sequence[StoredEvidence],
    now: dt.datetime,
    freshness: FreshnessPolicy,
    max_controls: int = 6,
) -> ControlResult:
    """Evaluate one control from the evidence (of any kinds; only its own kinds are read).

    Per kind and subject only the latest fresh record counts, so a re-run that passes replaces
    an earlier failure.
    """
    fresh, stale = _latest_fresh(control, evidence, now, freshness, max_controls)
    used = tuple(r for kind in control.evidence_kinds for r in fresh.get(kind, ()))
    stale_kinds = tuple(k for k in control.evidence_kinds if k in stale and k not in fresh)
    failing = [r for r in used if _outcome(r) is False]
    if failing:
        kinds = sorted({r.evidence.kind.value for r in failing})
        return ControlResult(
            control,
            ControlStatus.FAILING,
            f"failing evidence: {', '.join(kinds)}",
            used,
            _findings_for(control, failing),
            stale_kinds=stale_kinds,
        )
    unproven = tuple(
        k for k in control.evidence_kinds if not any(_outcome(r) is True for r in fresh.get(k, ()))
    )
    machine = tuple(k for k in unproven if k not in ORGANISATIONAL_KINDS)
    if machine:
        unknown = [k.value for k in machine if k in fresh]
        reason = f"no fresh passing evidence of: {', '.join(k.value for k in machine)}"
        if unknown:
            reason += f" (evidence without an outcome: {', '.join(unknown)})"
        return ControlResult(
            control,
            ControlStatus.MISSING,
            reason,
            used,
            missing_kinds=unproven,
            stale_kinds=stale_kinds,
        )
    if unproven:
        reason = f"needs a person to record: {', '.join(k.value for k in unproven)}"
        return ControlResult(
            control,
            ControlStatus.NEEDS_ATTESTATION,
            reason,
            used,
            missing_kinds=unproven,
            stale_kinds=stale_kinds,
        )
    return ControlResult(
        control,
        ControlStatus.SATISFIED,
        "all evidence kinds present, fresh and passing",
        used,
        stale_kinds=stale_kinds,
    )


def evaluate_controls(
    catalog: Catalog,
    evidence: Sequence[StoredEvidence],
    now: dt.datetime,
    freshness: FreshnessPolicy | None = None,
) -> tuple[ControlResult, ...]:
    """Evaluate every control of the catalog, in catalog order."""
    if now.tzinfo is None:
        raise ComplyUsageError(
            "evaluation time has no time zone", hint="Pass an aware datetime (UTC)."
        )
    policy = freshness or FreshnessPolicy()
    cap = catalog.max_controls_per_document
    return tuple(evaluate_control(c, evidence, now, policy, cap) for c in catalog.controls)


def applies_later(results: Iterable[ControlResult], today: dt.date) -> dict[str, int]:
    """Per framework, how many controls apply only after ``today`` (their ``applies_from``)."""
    table: dict[str, int] = {}
    for result in results:
        control = result.control
        later = control.applies_from is not None and control.applies_from > today
        table[control.framework] = table.get(control.framework, 0) + int(later)
    return table


def summarize(results: Iterable[ControlResult]) -> dict[str, dict[str, int]]:
    """Counts per framework and status: ``{framework: {status: n}}``."""
    table: dict[str, dict[str, int]] = {}
    for result in results:
        row = table.setdefault(result.control.framework, {s.value: 0 for s in ControlStatus})
        row[result.status.value] += 1
    return table
