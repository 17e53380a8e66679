"""Build a CycloneDX 1.6 ML-BOM bound to signed digests.

The model is the BOM's subject (``metadata.component``, type ``machine-learning-model``); its
hash is the model signature's subject digest and each signed file is a nested ``file``
component with its signed digest. Each dataset attestation becomes a ``data`` component whose
hash is the attested manifest root. The serving environment's Python distributions are
``library`` components with PyPI purls. Attestations are ``attestation`` external references
pinned by the SHA-256 of the bundle file.

``cyclonedx-python-lib`` serializes everything except ``modelCard`` and ``component.data``;
those two are inserted into the serialized JSON from typed structures (``ModelCard``,
:func:`_component_data`), and the result is validated against the CycloneDX 1.6 JSON schema
before it is returned.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kastell import __version__
from kastell.bom.interface import BomMismatchError, BomSchemaError, BomUsageError, PythonPackage
from kastell.bom.modelcard import ModelCard
from kastell.errors import VerificationError
from kastell.provenance.interface import SignedModel, SignedStatement, StatementKind, TrustPolicy
from kastell.provenance.statement import file_sha256, read_signed_statement
from kastell.provenance.verified import read_model_signature, verify_model_files
from kastell.types import Digest

__all__ = ["BomInputs", "build_bom", "validate_bom"]

MODEL_REF = "model"


@dataclasses.dataclass(frozen=True)
class BomInputs:
    """Everything a BOM is built from.

    Attributes:
        model_dir: the model directory (checked against the signature).
        signature: the model signature bundle.
        output: where the BOM will be written (references are relative to it).
        dataset_attestations: dataset attestation bundles.
        attestations: other attestations of the model (training, deployment).
        model_card: the model card.
        packages: Python packages of the serving environment.
        trust: when given, every signature must be trusted by it.
    """

    model_dir: Path
    signature: Path
    output: Path
    dataset_attestations: Sequence[Path] = ()
    attestations: Sequence[Path] = ()
    model_card: ModelCard = ModelCard()
    packages: Sequence[PythonPackage] = ()
    trust: TrustPolicy | None = None


def _hash(digest: Digest) -> Any:
    from cyclonedx.model import HashAlgorithm, HashType

    names = {"sha256": "SHA-256", "sha384": "SHA-384", "sha512": "SHA-512", "blake3": "BLAKE3"}
    return HashType(alg=HashAlgorithm(names[digest.algorithm]), content=digest.hex)


def _relative(path: Path, output: Path) -> str:
    return Path(os.path.relpath(path.resolve(), output.resolve().parent)).as_posix()


def _attestation_ref(path: Path, output: Path, comment: str) -> Any:
    from cyclonedx.model import ExternalReference, ExternalReferenceType, XsUri

    return ExternalReference(
        type=ExternalReferenceType.ATTESTATION,
        url=XsUri(_relative(path, output)),
        comment=comment,
        hashes=[_hash(file_sha256(path))],
    )


def _read_attestation(path: Path, trust: TrustPolicy | None) -> SignedStatement:
    signed = read_signed_statement(path)
    if trust is not None:
        decision = trust.check(signed)
        if not decision.trusted:
            raise BomMismatchError(f"{path}: {decision.reason}")
    return signed


def _model_component(model: SignedModel, inputs: BomInputs) -> Any:
    from cyclonedx.model.component import Component, ComponentType

    files = [
        Component(
            type=ComponentType.FILE,
            name=name,
            bom_ref=f"model-file:{name}",
            hashes=[_hash(digest)],
        )
        for name, digest in sorted(model.files.items())
        if name != "."
    ]
    references = [_attestation_ref(inputs.signature, inputs.output, "model signature")]
    for path in inputs.attestations:
        signed = _read_attestation(path, inputs.trust)
        if signed.kind not in (StatementKind.TRAINING, StatementKind.DEPLOYMENT):
            raise BomUsageError(
                f"{path} is a {signed.kind} statement",
                hint="--attestation takes training or deployment statements; datasets go to "
                "--dataset-attestation.",
            )
        if signed.subject_digests[0][1] != model.digest:
            raise BomMismatchError(f"{path}: its subject is not the signed model {model.digest}")
        references.append(_attestation_ref(path, inputs.output, f"{signed.kind} statement"))
    return Component(
        type=ComponentType.MACHINE_LEARNING_MODEL,
        name=model.name,
        bom_ref=MODEL_REF,
        hashes=[_hash(model.digest)],
        components=files,
        external_references=references,
    )


def _dataset_component(path: Path, inputs: BomInputs) -> tuple[Any, dict[str, Any]]:
    from cyclonedx.model import Property
    from cyclonedx.model.component import Component, ComponentType

    signed = _read_attestation(path, inputs.trust)
    if signed.kind is not StatementKind.DATASET:
        raise BomUsageError(f"{path} is a {signed.kind} statement, not a dataset attestation")
    name, digest = signed.subject_digests[0]
    origin = signed.predicate.get("origin", {})
    records = signed.predicate.get("records", {})
    licence = origin.get("license")
    properties = [Property(name="kastell:records:total", value=str(records.get("total", "")))]
    component = Component(
        type=ComponentType.DATA,
        name=name,
        bom_ref=f"dataset:{name}",
        hashes=[_hash(digest)],
        licenses=[_license(licence)] if licence else None,
        external_references=[_attestation_ref(path, inputs.output, "dataset attestation")],
        properties=properties,
    )
    return component, _component_data(name, origin)


def _license(text: str) -> Any:
    try:  # cyclonedx-python-lib >= 11 moved the factory; the old location warns
        from cyclonedx.contrib.license.factories import LicenseFactory
    except ImportError:  # pragma: no cover - older library versions
        from cyclonedx.factory.license import LicenseFactory
    return LicenseFactory().make_from_string(text)


def _component_data(name: str, origin: Any) -> dict[str, Any]:
    """The CycloneDX ``componentData`` entry of a dataset (not modelled by the library)."""
    data: dict[str, Any] = {"type": "dataset", "name": name}
    if isinstance(origin, dict) and isinstance(origin.get("uri"), str):
        data["contents"] = {"url": origin["uri"]}
    return data


def _library(package: PythonPackage) -> Any:
    from cyclonedx.model.component import Component, ComponentType
    from packageurl import PackageURL

    purl = PackageURL(type="pypi", name=package.name, version=package.version)
    return Component(
        type=ComponentType.LIBRARY,
        name=package.name,
        version=package.version,
        purl=purl,
        bom_ref=purl.to_string(),
    )


def build_bom(
    inputs: BomInputs,
    *,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    serial: uuid.UUID | None = None,
) -> dict[str, Any]:
    """Build and validate the BOM document.

    Raises:
        ProvenanceError: the signature is untrusted or malformed.
        BomMismatchError: the model directory differs from the signature.
        BomSchemaError: the result does not validate (a bug).
    """
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot6

    model = read_model_signature(inputs.signature, inputs.trust)
    try:
        verify_model_files(inputs.model_dir, inputs.signature, inputs.trust)
    except VerificationError as error:
        raise BomMismatchError(error.message) from error
    model_component = _model_component(model, inputs)
    datasets = [_dataset_component(path, inputs) for path in inputs.dataset_attestations]
    libraries = [_library(package) for package in inputs.packages]
    tool = Component(type=ComponentType.APPLICATION, name="kastell", version=__version__)
    metadata = BomMetaData(component=model_component, timestamp=clock())
    metadata.tools.components.add(tool)
    bom = Bom(serial_number=serial or uuid.uuid4(), metadata=metadata)
    for component, _ in datasets:
        bom.components.add(component)
    for library in libraries:
        bom.components.add(library)
    bom.register_dependency(model_component, [c for c, _ in datasets] + libraries)
    document: dict[str, Any] = json.loads(JsonV1Dot6(bom).output_as_string())
    _insert_untyped(document, inputs.model_card, dict(_datasets_data(datasets)))
    validate_bom(document)
    return document


def _datasets_data(datasets: Sequence[tuple[Any, dict[str, Any]]]) -> list[tuple[str, Any]]:
    """``bom-ref -> componentData`` pairs of the dataset components."""
    return [(str(component.bom_ref.value), data) for component, data in datasets]


def _insert_untyped(
    document: dict[str, Any], card: ModelCard, data: dict[str, dict[str, Any]]
) -> None:
    model = document["metadata"]["component"]
    model["modelCard"] = card.to_cyclonedx(tuple(data), bom_ref="model-card")
    for component in document.get("components", []):
        if component.get("bom-ref") in data:
            component["data"] = [data[component["bom-ref"]]]


def validate_bom(document: dict[str, Any]) -> None:
    """Validate a BOM against the CycloneDX 1.6 JSON schema shipped with cyclonedx-python-lib.

    Raises:
        BomSchemaError: the document does not validate.
    """
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(document))
    if error is not None:
        raise BomSchemaError(f"the BOM does not validate against CycloneDX 1.6: {error}")
