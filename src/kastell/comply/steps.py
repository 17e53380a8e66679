"""The assessment steps, each a small typed unit: inputs in, ``StepResult`` (with evidence) out.

Each step calls the owning capability's library API (integrity, provenance, scan, redteam,
guard) and turns its result into evidence. A step raises ``KastellError`` subclasses; the
pipeline turns a ``VerificationError`` into a failed step and anything else into "not checked".
A capability that is not part of this build raises ``StepUnavailableError``: never a pass.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import pathlib
from collections.abc import Mapping, Sequence

from kastell.comply._evidence import digest_subject, evidence_of, step_result
from kastell.comply.evidence_store import payload_digest
from kastell.comply.interface import (
    EvidenceInputError,
    StepOutcome,
    StepResult,
    StepUnavailableError,
    UnknownControlError,
)
from kastell.comply.residency import (
    ResidencyDeclaration,
    ResidencyPolicy,
    Resolver,
    check_residency,
    compare_with_signed,
)
from kastell.types import ControlId, EvidenceKind, Finding, Location, Severity, Subject

__all__ = [
    "MAX_MANUAL_EVIDENCE_BYTES",
    "ManualRecord",
    "check_manual_record",
    "check_residency_step",
    "record_manual_evidence",
    "scan_model_files",
    "verify_model_integrity",
    "verify_provenance_chain",
]

MAX_MANUAL_EVIDENCE_BYTES = 64 * 1024 * 1024
"""Largest document ``evidence add`` and the descriptor's manual evidence accept."""


def _ids(*names: str) -> tuple[ControlId, ...]:
    return tuple(ControlId(name) for name in names)


def _read(path: pathlib.Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise StepUnavailableError(f"cannot read {what} {path}: {error.strerror}") from None


def verify_model_integrity(
    model: pathlib.Path,
    signature: pathlib.Path,
    trusted_keys: Sequence[pathlib.Path],
    now: dt.datetime,
) -> StepResult:
    """Verify the model files against their OpenSSF Model Signing bundle."""
    from kastell.integrity.keys import read_public_key
    from kastell.integrity.verify import verify_model

    keys = [read_public_key(path) for path in trusted_keys]
    result = verify_model(model, _read(signature, "signature"), keys, signature_path=signature)
    findings = [
        Finding("KS-INTEGRITY-MISMATCH", Severity.CRITICAL, f"Model file {label}",
                f"{path} is {label} relative to the signature", Location(str(model), path),
                mappings=_ids("AIA-15.5.MP", "CRA-AI-I.2.f", "OWASP-LLM03", "ATLAS-AML.T0018"))
        for label, paths in (("changed", result.changed), ("missing", result.missing),
                             ("extra", result.extra))
        for path in paths
    ]  # fmt: skip
    document = {
        "model": result.model_name, "signed_name": result.signed_name,
        "digest": str(result.model_digest), "key_id": result.key_id, "checked": result.checked,
        "changed": list(result.changed), "missing": list(result.missing),
        "extra": list(result.extra), "passed": result.passed,
    }  # fmt: skip
    subject = Subject(result.model_name, result.model_digest)
    detail = f"{result.checked} file(s) match the signature of key {result.key_id}"
    if not result.passed:
        detail = f"{len(findings)} file(s) differ from the signature"
    return step_result(
        "integrity", result.passed, detail,
        [(EvidenceKind.MODEL_SIGNATURE, subject, result.model_name, document)], now,
        findings=findings, data=document,
    )  # fmt: skip


def verify_provenance_chain(
    deployment: pathlib.Path,
    trust_policy: pathlib.Path,
    now: dt.datetime,
    *,
    signature: pathlib.Path | None = None,
    model_dir: pathlib.Path | None = None,
    dataset_dirs: Sequence[pathlib.Path] = (),
) -> StepResult:
    """Verify deployment -> model signature -> training -> dataset statements."""
    from kastell.provenance.chain import verify_chain
    from kastell.provenance.trust import load_trust_policy

    report = verify_chain(
        deployment, load_trust_policy(trust_policy), signature=signature,
        model_dir=model_dir, dataset_dirs=dataset_dirs,
    )  # fmt: skip
    tree = report.root.to_dict()
    items: list[tuple[EvidenceKind, Subject | None, str, object]] = [
        (EvidenceKind.PROVENANCE_ATTESTATION, digest_subject(deployment.name, report.root.subject),
         deployment.name, {"chain": tree, "broken": report.broken, "passed": report.ok}),
    ]  # fmt: skip
    stack = [report.root]
    while stack:
        link = stack.pop()
        stack.extend(link.children)
        if link.kind.value == "dataset":
            name = f"dataset:{pathlib.Path(link.source).name}"
            items.append((EvidenceKind.DATASET_MANIFEST, digest_subject(name, link.subject),
                          name, link.to_dict()))  # fmt: skip
    findings = []
    if report.broken:
        mappings = _ids("AIA-15.5.MP", "AIA-10.2", "NIS2-21.2.d", "OWASP-LLM03")
        findings.append(Finding("KS-PROVENANCE-BROKEN", Severity.HIGH, "Provenance chain broken",
                                report.broken, Location(str(deployment)), mappings))  # fmt: skip
    detail = "chain holds" if report.ok else f"broken: {report.broken}"
    return step_result("provenance", report.ok, detail, items, now, findings=findings,
                       data={"chain": tree, "broken": report.broken})  # fmt: skip


def scan_model_files(
    paths: Sequence[pathlib.Path],
    now: dt.datetime,
    *,
    policy: pathlib.Path | None = None,
    subject: Subject | None = None,
) -> StepResult:
    """Scan model files for unsafe serialization and embedded code."""
    from kastell.scan.engine import scan_paths
    from kastell.scan.pickle_policy import load_policy

    report = scan_paths(paths, load_policy(policy) if policy else None)
    document = report.to_dict()
    passed = report.passed()
    counts = report.counts()
    detail = f"{len(report.files)} file(s): " + ", ".join(
        f"{n} {v}" for v, n in counts.items() if n
    )
    name = ",".join(p.name for p in paths)
    item = (EvidenceKind.MODEL_FILE_SCAN, subject, name, document)
    return step_result("scan", passed, detail, [item], now, findings=report.findings, data=document)


def check_residency_step(
    declarations: Sequence[ResidencyDeclaration],
    policy: ResidencyPolicy,
    now: dt.datetime,
    resolver: Resolver | None = None,
    signed: Mapping[str, Mapping[str, str]] | None = None,
) -> StepResult:
    """Check residency declarations against the policy (and DNS, when a resolver is given).

    With ``signed`` (the deployment statement's residency), declarations that contradict the
    signed statement are flagged too.
    """
    findings = check_residency(declarations, policy, resolver)
    if signed is not None:
        findings += compare_with_signed(declarations, signed)
    document = {
        "policy": {"name": policy.name, "allowed_countries": sorted(policy.allowed_countries),
                   "allowed_jurisdictions": sorted(policy.allowed_jurisdictions)},
        "assets": [{"name": d.name, "kind": d.kind.value, "country": d.country,
                    "provider": d.provider, "provider_jurisdiction": d.provider_jurisdiction,
                    "host": d.host, "networks": list(d.networks)} for d in declarations],
        "endpoints_resolved": resolver is not None,
        "compared_with_signed_statement": signed is not None,
        "findings": [f.to_dict() for f in findings],
    }  # fmt: skip
    detail = (
        f"{len(declarations)} asset(s) checked against {policy.name!r}: {len(findings)} finding(s)"
    )
    return step_result("residency", not findings, detail,
                       [(EvidenceKind.RESIDENCY_POLICY, None, "residency", document)], now,
                       findings=findings, data=document)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class ManualRecord:
    """An organisational document and what it is evidence for, who attests and approves it."""

    kind: EvidenceKind
    path: pathlib.Path
    title: str
    controls: tuple[str, ...]
    attester: str
    attester_role: str
    approver: str
    approver_role: str
    valid_until: dt.date


def check_manual_record(record: ManualRecord, max_controls: int) -> None:
    """Refuse a record that names no control, an unknown one, or more than the catalog allows."""
    from kastell.comply.catalog import check_control_ids

    if not record.controls:
        raise EvidenceInputError(f"{record.path.name}: name the controls it is evidence for")
    if len(record.controls) > max_controls:
        raise EvidenceInputError(
            f"{record.path.name} names {len(record.controls)} controls; one organisational "
            f"document may cover at most {max_controls} (catalog evidence rule)",
            hint="Record the evidence each control needs, one document per topic.",
        )
    try:
        check_control_ids(record.controls)
    except UnknownControlError as error:
        raise EvidenceInputError(f"{record.path.name}: {error.message}") from None
    if record.attester.strip().casefold() == record.approver.strip().casefold():
        raise EvidenceInputError(f"{record.path.name}: attester and approver must differ")


def record_manual_evidence(records: Sequence[ManualRecord], now: dt.datetime) -> StepResult:
    """Record organisational documents with their digests, controls, attester and approver."""
    from kastell.comply.catalog import load_catalog

    cap = load_catalog().max_controls_per_document
    evidence, payloads = [], {}
    for record in records:
        check_manual_record(record, cap)
        path = record.path
        if not path.is_file():
            raise EvidenceInputError(f"manual evidence {path} is not a file")
        if path.stat().st_size > MAX_MANUAL_EVIDENCE_BYTES:
            raise EvidenceInputError(f"manual evidence {path} is larger than 64 MiB",
                                     hint="Record a digest-pinned summary instead.")  # fmt: skip
        data = _read(path, "manual evidence")
        summary = {
            "title": record.title, "file": path.name, "controls": list(record.controls),
            "attested_by": f"{record.attester} ({record.attester_role})",
            "approved_by": f"{record.approver} ({record.approver_role})",
            "valid_until": record.valid_until.isoformat(),
        }  # fmt: skip
        item = evidence_of(record.kind, Subject(path.name, payload_digest(data)), path.name, now,
                           data, summary)  # fmt: skip
        evidence.append(item)
        payloads[str(item.payload_digest)] = data
    detail = f"{len(evidence)} document(s) recorded"
    return StepResult("manual evidence", StepOutcome.PASSED, detail, (), tuple(evidence), payloads)
