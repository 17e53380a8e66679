"""Walk and verify a provenance chain: deployment -> model signature -> training -> datasets.

Every statement must be trusted by the policy for its kind; every digest link must hold (same
algorithm, same value); referenced attestation files must match the SHA-256 recorded for them;
no statement may be visited twice on one path (a cycle). Files on disk are checked when given.
The walk stops at the first broken link and reports it; the links verified so far form the tree.

Fail closed: a chain statement names exactly one subject; a digest that is absent or empty
breaks the link (it is never compared with itself); two digest sets must name the same
algorithms with equal values; every digest a referrer pins on a file is recomputed from the
bytes that are then parsed (each file is read once). Whether the model files on disk were
checked is part of the report, and a policy with ``require_model_files`` breaks the chain when
they were not.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kastell.errors import KastellError
from kastell.integrity.merkle import new_hasher
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
from kastell.provenance.statement import parse_signed_statement, read_statement_bytes
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


_DigestSet = dict[str, Digest]
"""An in-toto _DigestSet, validated: algorithm -> digest (never empty)."""


@dataclasses.dataclass
class _Walker:
    policy: TrustPolicy
    model_dir: Path | None
    dataset_dirs: Sequence[Path]
    on_path: list[Path] = dataclasses.field(default_factory=list)
    verified: list[ChainLink] = dataclasses.field(default_factory=list)
    signers: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)

    def open(self, path: Path, kind: StatementKind, pinned: _DigestSet | None) -> SignedStatement:
        resolved = path.resolve()
        if resolved in self.on_path:
            raise _BrokenLinkError(f"cycle: {path} is referenced again by its own upstream chain")
        if not path.exists():
            raise _BrokenLinkError(f"missing link: {kind} statement {path} does not exist")
        try:
            raw = read_statement_bytes(path)  # read once: the pinned bytes are the parsed bytes
            if pinned is not None:
                _check_pinned(raw, pinned, path)
            signed = parse_signed_statement(raw, str(path))
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
        subject = next(iter(_subject(signed).values()))
        signers = self.signers.get(signed.source, ())
        link = ChainLink(signed.kind, signed.source, subject, signers, True, detail, children)
        self.verified.append(dataclasses.replace(link, children=()))
        return link


def _check_pinned(raw: bytes, pinned: _DigestSet, path: Path) -> None:
    """Every digest the referrer recorded must be recomputed from ``raw`` and match."""
    for algorithm, expected in sorted(pinned.items()):
        if algorithm == "blake3":
            found = new_hasher("blake3").update(raw).hexdigest()
        else:
            found = hashlib.new(algorithm, raw).hexdigest()
        if found != expected.hex:
            raise _BrokenLinkError(
                f"{path}: file differs from the digest its referrer recorded ({expected})"
            )


def _digest_set(value: Any, where: str) -> _DigestSet:
    """A non-empty, well-formed _DigestSet; anything else breaks the link (never a match)."""
    if not isinstance(value, Mapping) or not value:
        raise _BrokenLinkError(f"{where}: no digest recorded")
    digests: _DigestSet = {}
    for algorithm, hex_value in value.items():
        try:
            digests[str(algorithm)] = Digest(str(algorithm), str(hex_value))
        except KastellError as error:
            raise _BrokenLinkError(f"{where}: {error.message}") from error
    return digests


def _subject(signed: SignedStatement) -> _DigestSet:
    """The one subject of a chain statement, as a _DigestSet."""
    subjects = signed.statement.get("subject")
    if not isinstance(subjects, list) or len(subjects) != 1:
        raise _BrokenLinkError(f"{signed.source}: a chain statement names exactly one subject")
    return _digest_set(_mapping(subjects[0]).get("digest"), f"{signed.source}: subject")


def _same_digests(found: _DigestSet, expected: _DigestSet, where: str) -> None:
    """Every algorithm on either side must be on both, with equal values."""
    if found.keys() != expected.keys():
        raise _BrokenLinkError(
            f"{where}: subject digest uses {', '.join(sorted(found))}, the link expects "
            f"{', '.join(sorted(expected))}"
        )
    for algorithm in sorted(found):
        if found[algorithm] != expected[algorithm]:
            raise _BrokenLinkError(
                f"{where}: subject {found[algorithm]} does not match the expected "
                f"{expected[algorithm]}"
            )


def _reference(
    predicate: Mapping[str, Any], key: str, base: Path, where: str
) -> tuple[Path, _DigestSet] | None:
    """The file a statement points to and the digests it pins; ``None`` when there is none."""
    ref = _mapping(predicate.get(key))
    uri = ref.get("uri")
    if not isinstance(uri, str) or not uri:
        return None
    return base / uri, _digest_set(ref.get("digest"), f"{where}: reference {uri[:200]!r}")


def _mapping(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a JSON object, else an empty one (untrusted statements)."""
    return value if isinstance(value, Mapping) else {}


def _check_model_files(walker: _Walker, signed: SignedStatement) -> tuple[str, bool]:
    try:
        resources = _model_signature.resources_of(signed)
    except KastellError as error:
        raise _BrokenLinkError(error.message) from error
    _same_digests(_subject(signed), {"sha256": resources.model_digest}, signed.source)
    count = len(resources.description.resources)
    if walker.model_dir is None:
        return f"{count} signed resources, NOT checked on disk (no --model-dir)", False
    try:
        _model_signature.check_model(
            walker.model_dir, resources.description, signature_path=Path(signed.source)
        )
    except KastellError as error:
        raise _BrokenLinkError(error.message) from error
    return f"{count} signed resources match on disk", True


def _dataset_manifest(signed: SignedStatement) -> tuple[str, int | None]:
    """The manifest algorithm and chunk size; the subject must be exactly the manifest root."""
    manifest = _mapping(signed.predicate.get("manifest"))
    algorithm, root, chunk_size = (
        manifest.get("algorithm"), manifest.get("root"), manifest.get("chunkSize")
    )
    if not isinstance(algorithm, str) or not isinstance(root, str):
        raise _BrokenLinkError(f"{signed.source}: its manifest names no algorithm or root")
    if chunk_size is not None and (type(chunk_size) is not int or chunk_size < 1):
        raise _BrokenLinkError(f"{signed.source}: its manifest chunk size is malformed")
    expected = _digest_set({algorithm: root}, f"{signed.source}: manifest root")
    if _subject(signed) != expected:
        raise _BrokenLinkError(f"{signed.source}: its manifest root is not its subject digest")
    return algorithm, chunk_size


def _check_dataset_dir(directory: Path, attested: Sequence[SignedStatement]) -> None:
    for signed in attested:
        algorithm, chunk_size = _dataset_manifest(signed)
        try:
            root = _manifest.build_manifest(directory, algorithm, chunk_size).root
        except KastellError as error:
            raise _BrokenLinkError(f"{directory}: {error.message}") from error
        if {root.algorithm: root} == _subject(signed):
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
        where = f"{training.source}: {name[:200]}"
        ref = _reference(_mapping(dep.get("annotations")), ATTESTATION_ANNOTATION, base, where)
        if ref is None:
            raise _BrokenLinkError(f"{training.source}: missing link: {name} names no attestation")
        digests = _digest_set(dep.get("digest"), where)
        signed = walker.open(ref[0], StatementKind.DATASET, ref[1])
        _same_digests(_subject(signed), digests, str(ref[0]))
        _dataset_manifest(signed)
        attested.append(signed)
        links.append(walker.link(signed, f"{name} attested"))
        walker.on_path.pop()
    if not links:
        raise _BrokenLinkError(f"{training.source}: missing link: no dataset dependency")
    for directory in walker.dataset_dirs:
        _check_dataset_dir(directory, attested)
    return tuple(links)


def _walk(walker: _Walker, deployment: Path, signature: Path | None) -> tuple[ChainLink, bool]:
    dep = walker.open(deployment, StatementKind.DEPLOYMENT, None)
    model = _subject(dep)
    base = deployment.parent
    sig_ref = (
        (signature, None)
        if signature
        else _reference(dep.predicate, "modelSignature", base, str(deployment))
    )
    if sig_ref is None:
        raise _BrokenLinkError(f"{deployment}: missing link: no model signature (pass --signature)")
    sig = walker.open(sig_ref[0], StatementKind.MODEL_SIGNATURE, sig_ref[1])
    _same_digests(_subject(sig), model, str(sig_ref[0]))
    detail, checked = _check_model_files(walker, sig)
    sig_link = walker.link(sig, detail)
    walker.on_path.pop()
    train_ref = _reference(dep.predicate, "training", base, str(deployment))
    if train_ref is None:
        raise _BrokenLinkError(f"{deployment}: missing link: no training provenance referenced")
    train = walker.open(train_ref[0], StatementKind.TRAINING, train_ref[1])
    _same_digests(_subject(train), model, str(train_ref[0]))
    train_link = walker.link(train, "trained model matches", _datasets(walker, train))
    walker.on_path.pop()
    endpoint = dep.predicate.get("endpoint")
    return walker.link(dep, f"served at {endpoint}", (sig_link, train_link)), checked


def verify_chain(
    deployment: Path,
    policy: TrustPolicy,
    *,
    signature: Path | None = None,
    model_dir: Path | None = None,
    dataset_dirs: Sequence[Path] = (),
    require_model_files: bool | None = None,
) -> ChainReport:
    """Verify the chain that starts at a deployment statement.

    Args:
        deployment: the deployment statement bundle.
        policy: which keys may sign which kind of statement.
        signature: the model signature bundle (default: the one the deployment references).
        model_dir: check the model files on disk against the signature.
        dataset_dirs: check dataset directories against the dataset attestations.
        require_model_files: break the chain when ``model_dir`` is not given; default: the
            policy's ``require_model_files`` (false for a policy that has none).

    Returns:
        The report; ``report.broken`` names the first broken link and
        ``report.model_files_checked`` says whether the files on disk were re-hashed.
    """
    if not deployment.exists():
        raise ProvenanceUsageError(
            f"deployment statement {deployment} does not exist",
            hint="Pass the file written by `kastell attest deployment`.",
        )
    if require_model_files is None:
        require_model_files = bool(getattr(policy, "require_model_files", False))
    walker = _Walker(policy, model_dir, dataset_dirs)
    try:
        if require_model_files and model_dir is None:
            raise _BrokenLinkError(
                "the trust policy requires the model files to be checked on disk: pass "
                "--model-dir"
            )
        root, checked = _walk(walker, deployment, signature)
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
    return ChainReport(root, None, model_files_checked=checked)


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
