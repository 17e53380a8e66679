"""Verify a model on disk against an OpenSSF Model Signing bundle.

Order of checks: the bundle parses (else ``MalformedBundleError``, exit 3); a trusted key made
its DSSE signature (else ``SignatureMismatchError``, exit 1); the signed statement is a
consistent model signature (else exit 3); then every file is re-read and re-hashed as the
signature's serialization says (never from a digest cache) and compared: files whose digest
differs are *changed*, signed files not on disk are *missing*, files on disk that were not
signed (including links where the signature allows none) are *extra*. Exactly the paths the
signature ignores (its signed ``ignore_paths``: git metadata when the signer left it out, the
``--ignore`` paths) and the signature file itself are skipped; the verifier adds no ignore
rule of its own, so a signature made with ``--no-ignore-git-paths`` checks ``.git``.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from kastell.integrity.bundle import parse_bundle, verify_bundle
from kastell.integrity.interface import (
    BytesDone,
    ModelMismatchError,
    ModelVerification,
    SignatureMismatchError,
)
from kastell.integrity.keys import PublicKey
from kastell.integrity.signing import (
    GIT_PATHS,
    ModelDescription,
    ModelResource,
    hash_resources,
    inside_model,
    model_name,
)
from kastell.types import ControlId, Finding, Location, Severity

__all__ = [
    "FINDING_CONTROLS",
    "compare_resources",
    "read_model_signature",
    "require_match",
    "signature_finding",
    "verification_findings",
    "verify_model",
]

FINDING_CONTROLS: tuple[ControlId, ...] = tuple(
    ControlId(control)
    for control in (
        "AIA-15.5", "AIA-15.5.MP", "CRA-AI-I.2.f", "NIS2-21.2.d", "OWASP-LLM03",
        "OWASP-LLM04", "ATLAS-AML.T0010", "ATLAS-AML.T0018",
    )
)
"""Catalog controls a failed model verification bears on (unauthorised alteration, supply chain)."""

_FINDING_TEXT = {
    "changed": ("Model file changed after signing",
                "its content differs from the signed digest"),
    "missing": ("Signed model file is missing", "it was signed but is not in the model"),
    "extra": ("Unsigned file in the model", "it is in the model but was not signed"),
}


def read_model_signature(
    bundle: bytes, trusted_keys: Sequence[PublicKey]
) -> tuple[ModelDescription, str]:
    """Check a model signature's bundle and return what it describes and the signing key id.

    Raises:
        MalformedBundleError: the bundle or statement is malformed or inconsistent.
        UnsupportedBundleError: a bundle, predicate or serialization kastell cannot check.
        SignatureMismatchError: no trusted key made a valid signature.
    """
    verified = verify_bundle(parse_bundle(bundle), trusted_keys)
    return ModelDescription.from_statement(verified.statement), verified.key_id


def _by_path(resources: Sequence[ModelResource]) -> dict[str, set[tuple[str, str, str]]]:
    grouped: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
    for resource in resources:
        grouped[resource.path].add((resource.name, resource.algorithm, resource.digest))
    return grouped


def compare_resources(
    expected: Sequence[ModelResource], actual: Sequence[ModelResource]
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Compare signed and recomputed resources file by file: (changed, missing, extra)."""
    signed, found = _by_path(expected), _by_path(actual)
    changed = sorted(path for path in signed.keys() & found.keys() if signed[path] != found[path])
    missing = sorted(signed.keys() - found.keys())
    extra = sorted(found.keys() - signed.keys())
    return tuple(changed), tuple(missing), tuple(extra)


def verify_model(
    path: Path,
    bundle: bytes,
    trusted_keys: Sequence[PublicKey],
    *,
    signature_path: Path | None = None,
    ignore_git_paths: bool = True,
    on_bytes: BytesDone | None = None,
) -> ModelVerification:
    """Verify the model at ``path`` against a signature bundle.

    Args:
        path: the model file or directory.
        bundle: the signature file's bytes.
        trusted_keys: public keys allowed to have signed.
        signature_path: where the signature file is; skipped when it lies inside the model.
        ignore_git_paths: apply the signature's ignore paths as recorded (default); when
            false, also check git metadata at the model root that the signature ignores.
            Git metadata the signature does not ignore is always checked.
        on_bytes: progress callback (bytes hashed).

    Returns:
        The comparison; ``result.passed`` is true only when every file matches.

    Raises:
        MalformedBundleError, UnsupportedBundleError: the signature cannot be checked (exit 3).
        SignatureMismatchError: the signature is not a trusted key's (exit 1).
        IntegrityError: the model cannot be read (missing path, permissions, special file...).
    """
    signed, key_id = read_model_signature(bundle, trusted_keys)
    serialization = signed.serialization
    if not ignore_git_paths:
        # stricter than the signer: check git metadata even where the signature ignores it
        kept = tuple(p for p in serialization.ignore_paths if p not in GIT_PATHS)
        serialization = dataclasses.replace(serialization, ignore_paths=kept)
    # otherwise exactly the signer's ignore rules (recorded in the signed serialization): a
    # signature made with --no-ignore-git-paths checks .git, whatever the verifier's defaults
    extra_ignore = []
    if signature_path is not None and path.is_dir():
        relative = inside_model(path, signature_path)
        if relative is not None and relative not in {r.path for r in signed.resources}:
            extra_ignore.append(relative)
    actual, links = hash_resources(
        path, serialization, extra_ignore=extra_ignore, on_bytes=on_bytes,
        for_verification=True,
    )
    changed, missing, extra = compare_resources(signed.resources, actual)
    return ModelVerification(
        signed_name=signed.name,
        model_name=model_name(path),
        model_digest=signed.digest,
        key_id=key_id,
        checked=len(signed.resources),
        changed=changed,
        missing=missing,
        extra=tuple(sorted({*extra, *links})),
    )


def require_match(result: ModelVerification) -> ModelVerification:
    """Return ``result`` if the model matched its signature, else raise ``ModelMismatchError``."""
    if result.passed:
        return result
    parts = []
    for label, paths in (("changed", result.changed), ("missing", result.missing),
                         ("extra", result.extra)):
        if paths:
            shown = ", ".join(paths[:5]) + (f" (+{len(paths) - 5} more)" if len(paths) > 5 else "")
            parts.append(f"{label}: {shown}")
    raise ModelMismatchError(f"model {result.model_name} does not match its signature; "
                             + "; ".join(parts))


def verification_findings(result: ModelVerification, model: str) -> tuple[Finding, ...]:
    """One HIGH finding per changed, missing or extra file (rule ``integrity/file-<kind>``).

    Args:
        result: the verification outcome.
        model: the model path as shown to the user; locations are ``MODEL/FILE``.
    """
    findings = []
    for kind, paths in (("changed", result.changed), ("missing", result.missing),
                        ("extra", result.extra)):
        title, why = _FINDING_TEXT[kind]
        for path in paths:
            location = model if path == "." else f"{model.rstrip('/')}/{path}"
            findings.append(Finding(
                rule_id=f"integrity/file-{kind}",
                severity=Severity.HIGH,
                title=title,
                message=f"{path}: {why} (signature by key {result.key_id[:16]}).",
                location=Location(location),
                mappings=FINDING_CONTROLS,
            ))
    return tuple(findings)


def signature_finding(error: SignatureMismatchError, signature: str) -> Finding:
    """A CRITICAL finding for a signature that is not a trusted key's (``integrity/signature``)."""
    return Finding(
        rule_id="integrity/signature",
        severity=Severity.CRITICAL,
        title="Model signature not made by a trusted key",
        message=f"{error.message}. {error.diagnostics()}",
        location=Location(signature),
        mappings=FINDING_CONTROLS,
    )
