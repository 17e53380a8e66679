"""Interface of the compliance capability: catalog, evidence, evaluation, assessment, incidents.

``comply`` reads evidence only; it never trusts a capability's word without a recorded artefact.
Unknown is never reported as satisfied.

Errors::

    KastellError
     └── ComplyError
          ├── CatalogError (CheckError)          the packaged catalog is unreadable or malformed
          ├── UnknownControlError (UsageError)   a control id is not in the catalog
          ├── DescriptorError (UsageError)       the deployment descriptor is invalid (field path)
          ├── EvidenceNotFoundError (UsageError) no evidence or payload with that id / digest
          ├── EvidenceInputError (UsageError)    manual evidence cannot be read or is malformed
          ├── IncidentError (UsageError)         an incident id, time or field is wrong
          ├── ComplyUsageError (UsageError)      a bad parameter (naive time, window, network)
          ├── PayloadDigestError (VerificationError)  a stored payload no longer matches
          ├── ReportWriteError (CheckError)      the report could not be written or printed
          └── StepUnavailableError (CheckError)  an assessment step could not run
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Mapping
from typing import Any, NewType

from kastell.errors import CheckError, KastellError, UsageError, VerificationError
from kastell.types import ControlId, Evidence, EvidenceKind, Finding

__all__ = [
    "CatalogError",
    "ComplyError",
    "ComplyUsageError",
    "Control",
    "ControlResult",
    "ControlStatus",
    "DescriptorError",
    "EvidenceId",
    "EvidenceInputError",
    "EvidenceNotFoundError",
    "IncidentError",
    "PayloadDigestError",
    "ReportWriteError",
    "StepOutcome",
    "StepResult",
    "StepUnavailableError",
    "StoredEvidence",
    "UnknownControlError",
]

EvidenceId = NewType("EvidenceId", int)
"""The store's id of one evidence record."""


class ComplyError(KastellError):
    """Base of every error raised by the compliance capability."""


class CatalogError(ComplyError, CheckError):
    """The packaged control catalog cannot be read or is malformed."""

    default_hint = "Reinstall Kastell; the catalog ships as package data (comply/data)."


class UnknownControlError(ComplyError, UsageError):
    """A control id is not in the catalog."""

    default_hint = (
        "List the catalog ids with `kastell evidence list --controls` or grep controls.yaml."
    )


class DescriptorError(ComplyError, UsageError):
    """The deployment descriptor is invalid; the message names the field path."""

    default_hint = "Fix the named field; the schema is documented in docs/deployment-descriptor.md."


class EvidenceNotFoundError(ComplyError, UsageError):
    """No evidence record or payload with the given id or digest."""

    default_hint = "List what the store holds with `kastell evidence list`."


class EvidenceInputError(ComplyError, UsageError):
    """Manual evidence given to the store cannot be read or is malformed."""

    default_hint = "Give an existing, readable file and a kind from `kastell evidence add --help`."


class IncidentError(ComplyError, UsageError):
    """An incident id, time or field is wrong."""

    default_hint = "List incidents with `kastell incident list`; times are ISO 8601 with a zone."


class ComplyUsageError(ComplyError, UsageError):
    """A parameter is wrong: a time without zone, a non-positive window, a malformed network."""


class PayloadDigestError(ComplyError, VerificationError):
    """A stored payload no longer matches its digest (the store was altered)."""

    default_hint = "Treat the store as tampered; restore it from a backup and re-run the steps."


class ReportWriteError(ComplyError, CheckError):
    """The report could not be written (directory) or printed (PDF)."""

    default_hint = "Choose a writable output directory (--output-dir)."


class StepUnavailableError(ComplyError, CheckError):
    """An assessment step could not run (capability missing, input missing, tool failed)."""

    default_hint = "The step's result is unknown, not a pass; fix the cause and assess again."


class ControlStatus(enum.StrEnum):
    """The state of one control after evaluation. Only ``SATISFIED`` counts as a pass."""

    SATISFIED = "satisfied"
    FAILING = "failing"
    MISSING = "missing"
    NEEDS_ATTESTATION = "needs_attestation"


@dataclasses.dataclass(frozen=True)
class Control:
    """One control of the catalog."""

    id: ControlId
    framework: str
    reference: str
    title: str
    summary: str
    evidence_kinds: tuple[EvidenceKind, ...]
    applies_from: dt.date | None = None
    verification: str | None = None
    """A caveat: the entry (or part of it) could not be checked against the official text."""
    deadlines: tuple[Mapping[str, Any], ...] = ()


@dataclasses.dataclass(frozen=True)
class StoredEvidence:
    """An evidence record as held by the store, with its store id."""

    id: EvidenceId
    evidence: Evidence


@dataclasses.dataclass(frozen=True)
class ControlResult:
    """The evaluation of one control: status, why, and the evidence it rests on."""

    control: Control
    status: ControlStatus
    reason: str
    evidence: tuple[StoredEvidence, ...] = ()
    findings: tuple[Finding, ...] = ()
    missing_kinds: tuple[EvidenceKind, ...] = ()
    stale_kinds: tuple[EvidenceKind, ...] = ()


class StepOutcome(enum.StrEnum):
    """How one assessment step ended."""

    PASSED = "passed"
    FAILED = "failed"
    NOT_CHECKED = "not_checked"
    """Could not check: the result is unknown (exit 3), never a pass."""
    SKIPPED = "skipped"
    """The descriptor does not ask for this step (e.g. no red-team suite declared)."""


@dataclasses.dataclass(frozen=True)
class StepResult:
    """The result of one assessment step and the evidence it produced."""

    name: str
    outcome: StepOutcome
    detail: str
    findings: tuple[Finding, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    payloads: Mapping[str, bytes] = dataclasses.field(default_factory=dict)
    """Payload bytes by digest text, to be stored content-addressed beside the evidence."""
    data: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """Step-specific facts for the report (chain tree, red-team rates, scanned files, ...)."""
