"""Walk and verify a provenance chain: deployment -> model signature -> training -> datasets.

Every statement must be trusted by the policy for its kind; every digest link must hold (same
algorithm, same value); referenced attestation files must match the SHA-256 recorded for them;
no statement may be visited twice on one path (a cycle). Files on disk are checked when given.
The walk stops at the first broken link and reports it; the links verified so far form the tree.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kastell.errors import KastellError
from kastell.provenance import _manifest, _model_signature
from kastell.provenance.interface import (
    ChainBrokenError,
    ChainLink,
    ChainReport,
    ProvenanceUsageError,
    SignedStatement,
    StatementKind,
    TrustPolicy,
)
from kastell.provenance.statement import file_sha256, read_signed_statement
from kastell.provenance.training import ATTESTATION_ANNOTATION
from kastell.types import ControlId, Digest, Finding, Location, Severity

__all__ = ["BROKEN_CHAIN_RULE", "chain_findings", "raise_for_broken", "verify_chain"]

BROKEN_CHAIN_RULE = "KS-PROVENANCE-BROKEN"
"""Rule id of the finding a broken provenance chain produces."""

_MAPPINGS = (
    ControlId("AIA-10.2"),
    ControlId("AIA-15.5.DP"),
    ControlId("AIA-15.5.MP"),
    ControlId("NIS2-21.2.d"),
    ControlId("OWASP-LLM03"),
)


class _BrokenLinkError(Exception):
    """Internal: raised at the first broken link; ``verify_chain`` turns it into the report."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclasses.dataclass
class _Walker:
    policy: TrustPolicy
    model_dir: Path | None
    dataset_dirs: Sequence[Path]
    on_path: list[Path] = dataclasses.field(default_factory=list)
    verified: list[ChainLink] = dataclasses.field(default_factory=list)
    signers: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)

    def open(self, path: Path, kind: StatementKind, pinned: Digest | None) -> SignedStatement:
        resolved = path.resolve()
        if resolved in self.on_path:
            raise _BrokenLinkError(f"cycle: {path} is referenced again by its own upstream chain")
        if not path.is_file():
            raise _BrokenLinkError(f"missing link: {kind} statement {path} does not exist")
        if pinned is not None and file_sha256(path) != pinned:
            raise _BrokenLinkError(
                f"{path}: file differs from the digest its referrer recorded ({pinned})"
            )
        try:
            signed = read_signed_statement(path)
        except KastellError as error:
            raise _BrokenLinkError(f"{path}: {error.message}") from error
        if signed.kind is not kind:
            raise _BrokenLinkError(
                f"{path}: expected a {kind} statement, found a {signed.kind} statement"
            )
        decision = self.policy.check(signed)
        if not decision.trusted:
            raise _BrokenLinkError(f"{path}: {decision.reason}")
        self.on_path.append(resolved)
        self.signers[signed.source] = decision.signers
        return signed

    def link(
        self, signed: SignedStatement, detail: str, children: tuple[ChainLink, ...] = ()
    ) -> ChainLink:
        subject = signed.subject_digests[0][1]
        signers = self.signers.get(signed.source, ())
        link = ChainLink(signed.kind, signed.source, subject, signers, True, detail, children)
        self.verified.append(dataclasses.replace(link, children=()))
        return link


def _same_digest(found: Digest, expected: Digest, where: str) -> None:
    if found.algorithm != expected.algorithm:
        raise _BrokenLinkError(
            f"{where}: subject digest uses {found.algorithm}, the link expects {expected.algorithm}"
        )
    if found != expected:
        raise _BrokenLinkError(f"{where}: subject {found} does not match the expected {expected}")


def _reference(
    predicate: Mapping[str, Any], key: str, base: Path
) -> tuple[Path, Digest | None] | None:
    ref = _mapping(predicate.get(key))
    if not isinstance(ref.get("uri"), str):
        return None
    pinned = None
    digest = _mapping(ref.get("digest"))
    if isinstance(digest.get("sha256"), str):
        pinned = _digest("sha256", digest["sha256"], f"reference {ref['uri']!r}")
    return base / ref["uri"], pinned


def _mapping(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a JSON object, else an empty one (untrusted statements)."""
    return value if isinstance(value, Mapping) else {}


def _digest(algorithm: Any, value: Any, where: str) -> Digest:
    try:
        return Digest(str(algorithm), str(value))
    except KastellError as error:
        raise _BrokenLinkError(f"{where}: {error.message}") from error


def _check_model_files(walker: _Walker, signed: SignedStatement) -> str:
    try:
        resources = _model_signature.resources_of(signed)
    except KastellError as error:
        raise _BrokenLinkError(error.message) from error
    count = len(resources.description.resources)
    if walker.model_dir is None:
        return f"{count} signed resources (not checked on disk)"
    try:
        _model_signature.check_model(
            walker.model_dir, resources.description, signature_path=Path(signed.source)
        )
    except KastellError as error:
        raise _BrokenLinkError(error.message) from error
    return f"{count} signed resources match on disk"


def _check_dataset_dir(directory: Path, attested: Sequence[SignedStatement]) -> None:
    for signed in attested:
        manifest = _mapping(signed.predicate.get("manifest"))
        algorithm = manifest.get("algorithm", "blake3")
        chunk_size = manifest.get("chunkSize")
        try:
            root = _manifest.build_manifest(directory, algorithm, chunk_size).root
        except KastellError as error:
            raise _BrokenLinkError(f"{directory}: {error.message}") from error
        if root == signed.subject_digests[0][1]:
            return
    raise _BrokenLinkError(f"{directory}: its manifest root matches no attested dataset")


def _datasets(walker: _Walker, training: SignedStatement) -> tuple[ChainLink, ...]:
    base = Path(training.source).parent
    deps = _mapping(training.predicate.get("buildDefinition")).get("resolvedDependencies")
    links: list[ChainLink] = []
    attested: list[SignedStatement] = []
    for dep in deps if isinstance(deps, list) else []:
        dep = _mapping(dep)
        name = str(dep.get("name", ""))
        if not name.startswith("dataset:"):
            continue
        ref = _reference(_mapping(dep.get("annotations")), ATTESTATION_ANNOTATION, base)
        if ref is None:
            raise _BrokenLinkError(f"{training.source}: missing link: {name} names no attestation")
        digests = [_digest(a, v, name) for a, v in _mapping(dep.get("digest")).items()]
        signed = walker.open(ref[0], StatementKind.DATASET, ref[1])
        subject = signed.subject_digests[0][1]
        _same_digest(subject, digests[0] if digests else subject, str(ref[0]))
        manifest = _mapping(signed.predicate.get("manifest"))
        if (manifest.get("algorithm"), manifest.get("root")) != (subject.algorithm, subject.hex):
            raise _BrokenLinkError(f"{ref[0]}: its manifest root is not its subject digest")
        attested.append(signed)
        links.append(walker.link(signed, f"{name} attested"))
        walker.on_path.pop()
    if not links:
        raise _BrokenLinkError(f"{training.source}: missing link: no dataset dependency")
    for directory in walker.dataset_dirs:
        _check_dataset_dir(directory, attested)
    return tuple(links)


def _walk(walker: _Walker, deployment: Path, signature: Path | None) -> ChainLink:
    dep = walker.open(deployment, StatementKind.DEPLOYMENT, None)
    model = dep.subject_digests[0][1]
    base = deployment.parent
    sig_ref = (signature, None) if signature else _reference(dep.predicate, "modelSignature", base)
    if sig_ref is None:
        raise _BrokenLinkError(f"{deployment}: missing link: no model signature (pass --signature)")
    sig = walker.open(sig_ref[0], StatementKind.MODEL_SIGNATURE, sig_ref[1])
    _same_digest(sig.subject_digests[0][1], model, str(sig_ref[0]))
    sig_link = walker.link(sig, _check_model_files(walker, sig))
    walker.on_path.pop()
    train_ref = _reference(dep.predicate, "training", base)
    if train_ref is None:
        raise _BrokenLinkError(f"{deployment}: missing link: no training provenance referenced")
    train = walker.open(train_ref[0], StatementKind.TRAINING, train_ref[1])
    _same_digest(train.subject_digests[0][1], model, str(train_ref[0]))
    train_link = walker.link(train, "trained model matches", _datasets(walker, train))
    walker.on_path.pop()
    endpoint = dep.predicate.get("endpoint")
    return walker.link(dep, f"served at {endpoint}", (sig_link, train_link))


def verify_chain(
    deployment: Path,
    policy: TrustPolicy,
    *,
    signature: Path | None = None,
    model_dir: Path | None = None,
    dataset_dirs: Sequence[Path] = (),
) -> ChainReport:
    """Verify the chain that starts at a deployment statement.

    Args:
        deployment: the deployment statement bundle.
        policy: which keys may sign which kind of statement.
        signature: the model signature bundle (default: the one the deployment references).
        model_dir: check the model files on disk against the signature.
        dataset_dirs: check dataset directories against the dataset attestations.

    Returns:
        The report; ``report.broken`` names the first broken link.
    """
    if not deployment.is_file():
        raise ProvenanceUsageError(
            f"deployment statement {deployment} does not exist",
            hint="Pass the file written by `kastell attest deployment`.",
        )
    walker = _Walker(policy, model_dir, dataset_dirs)
    try:
        root = _walk(walker, deployment, signature)
    except _BrokenLinkError as broken:
        failed = ChainLink(
            StatementKind.DEPLOYMENT,
            str(deployment),
            None,
            (),
            False,
            broken.message,
            tuple(walker.verified),  # the links that held before the break
        )
        return ChainReport(failed, broken.message)
    return ChainReport(root, None)


def raise_for_broken(report: ChainReport) -> None:
    """Raise :class:`ChainBrokenError` when the report names a broken link."""
    if report.broken is not None:
        raise ChainBrokenError(report.broken)


def chain_findings(report: ChainReport, deployment: Path) -> tuple[Finding, ...]:
    """The findings of a chain report: one per broken chain (none when it holds)."""
    if report.broken is None:
        return ()
    return (
        Finding(
            rule_id=BROKEN_CHAIN_RULE,
            severity=Severity.HIGH,
            title="Provenance chain broken",
            message=report.broken,
            location=Location(str(deployment)),
            mappings=_MAPPINGS,
        ),
    )
