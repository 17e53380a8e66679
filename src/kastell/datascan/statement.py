"""The signed screening statement: in-toto Statement v1, predicate ``data-screening/v1``.

The subject is the dataset digest (the manifest's Merkle root, the same digest ``kastell attest
dataset`` signs), so the screening is bound to exactly the bytes that were screened. The
predicate (JSON schema shipped as ``kastell/datascan/data/screening-predicate.schema.json``)
records what ran, what was flagged per family, the thresholds, the verdict, and the SHA-256 of
the full JSON report. Signing uses the integrity keys and the provenance bundle writer, like
``kastell attest dataset``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from kastell.datascan.interface import ScreeningReport
from kastell.datascan.report import Gate
from kastell.integrity.interface import Signer
from kastell.provenance.statement import build_statement, write_signed_statement
from kastell.types import Digest, Subject

__all__ = [
    "SCREENING_PREDICATE_TYPE",
    "build_screening_statement",
    "screening_predicate_schema",
    "sign_screening_statement",
]

SCREENING_PREDICATE_TYPE = "https://kastell.dev/data-screening/v1"


def screening_predicate_schema() -> dict[str, Any]:
    """The JSON schema of the screening predicate (package data)."""
    text = resources.files("kastell.datascan").joinpath(
        "data/screening-predicate.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def build_screening_statement(
    report: ScreeningReport,
    gate: Gate,
    report_json: bytes,
    *,
    attestation: tuple[str, Digest] | None = None,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> dict[str, Any]:
    """The (unsigned) statement for a finished screening.

    Args:
        report: the screening report.
        gate: the ``--fail-on`` limits applied.
        report_json: the exact bytes of the JSON report written beside the statement.
        attestation: the dataset attestation screened (its path as given and SHA-256), if any.
        clock: returns the screening time (UTC).
    """
    failures = gate.failures(report)
    families = {
        o.family.value: {
            "ran": o.ran,
            "skipped": o.family in report.options.skip,
            "flaggedRecords": len(o.flagged_records),
            "flaggedShare": round(report.flagged_share(o.family), 6),
            "limit": gate.limits.get(o.family, 0.0),
            "note": o.note,
        }
        for o in report.outcomes
    }
    predicate = {
        "dataset": {
            "name": report.name,
            "digest": report.dataset_digest,
            "attestation": None if attestation is None else
            {"uri": attestation[0], "digest": {"sha256": attestation[1].hex}},
            "deltaOf": report.delta_of,
        },
        "records": report.records,
        "files": [{"path": f.path, "format": f.format, "records": f.records}
                  for f in report.files],
        "excluded": list(report.excluded),
        "families": families,
        "complete": report.complete,
        "passed": report.complete and not failures,
        "failures": failures,
        "report": {"sha256": hashlib.sha256(report_json).hexdigest()},
        "screenedAt": clock().isoformat().replace("+00:00", "Z"),
        "screener": report.tool,
    }
    subject = Subject(report.name, Digest.parse(report.dataset_digest))
    return build_statement([subject], SCREENING_PREDICATE_TYPE, predicate)


def sign_screening_statement(statement: dict[str, Any], signers: Sequence[Signer],
                             output: Path) -> Digest:
    """Sign the statement (every signer into one envelope) and write the bundle."""
    return write_signed_statement(statement, signers, output)
