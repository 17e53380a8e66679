"""The deployment descriptor read by ``kastell assess`` (schema: docs/deployment-descriptor.md).

Pydantic models at this boundary only; ``load_descriptor`` turns every validation problem into
one ``DescriptorError`` whose message lists each bad field by its path (``redteam.gates.x``).
Relative paths are resolved against the descriptor's directory.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import pathlib
import re
from typing import Any, Literal

import pydantic
import yaml

from kastell.comply._yaml import strict_yaml
from kastell.comply.descriptor_scope import RiskModel, ScopeModel
from kastell.comply.interface import DescriptorError
from kastell.comply.residency import AssetKind
from kastell.types import EvidenceKind

__all__ = [
    "AssetModel",
    "AuditModel",
    "BomModel",
    "Descriptor",
    "EndpointModel",
    "EvidenceModel",
    "GuardModel",
    "ManualEvidenceModel",
    "ModelSection",
    "OutputModel",
    "ProvenanceModel",
    "RedteamModel",
    "ResidencyModel",
    "ResidencyPolicyModel",
    "ScanModel",
    "descriptor_json_schema",
    "load_descriptor",
    "parse_descriptor",
]

_STRICT = pydantic.ConfigDict(extra="forbid", frozen=True)


class EndpointModel(pydantic.BaseModel):
    """An OpenAI-compatible endpoint serving the model."""

    model_config = _STRICT
    url: str = pydantic.Field(pattern=r"^https?://")
    model: str
    api_key_env: str | None = None
    """Name of the environment variable holding the API key (never the key itself)."""


class ModelSection(pydantic.BaseModel):
    """The model: files on disk and/or where it is served, its signature and trusted keys."""

    model_config = _STRICT
    path: pathlib.Path | None = None
    serve_local: bool = False
    """Serve the bundled SmolLM2 (kastell[local]) in-process as the red-team target."""
    endpoint: EndpointModel | None = None
    signature: pathlib.Path | None = None
    trusted_keys: tuple[pathlib.Path, ...] = ()

    @pydantic.model_validator(mode="after")
    def _has_target(self) -> ModelSection:
        if self.path is None and self.endpoint is None and not self.serve_local:
            raise ValueError("give model.path, model.endpoint or model.serve_local: true")
        if self.signature is not None and not self.trusted_keys:
            raise ValueError("model.signature needs model.trusted_keys to verify it against")
        return self


class ProvenanceModel(pydantic.BaseModel):
    """The signed deployment statement, the trust policy, and dataset copies to re-check."""

    model_config = _STRICT
    deployment: pathlib.Path
    """The deployment statement written by ``kastell attest deployment``."""
    trust_policy: pathlib.Path
    """Trust policy YAML: which keys may sign which kind of statement."""
    dataset_dirs: tuple[pathlib.Path, ...] = ()
    """Dataset directories to re-hash against their dataset attestations."""


class BomModel(pydantic.BaseModel):
    """The AI bill of materials (CycloneDX 1.6 ML-BOM) built from the signed model."""

    model_config = _STRICT
    enabled: bool = True
    dataset_attestations: tuple[pathlib.Path, ...] = ()
    """Dataset attestations to list as data components."""
    model_card: pathlib.Path | None = None
    include_environment: bool = True
    """List the Python packages of the environment running the assessment."""


class ScanModel(pydantic.BaseModel):
    """Model-file scanning."""

    model_config = _STRICT
    enabled: bool = True
    paths: tuple[pathlib.Path, ...] = ()
    """What to scan; defaults to model.path."""
    policy: pathlib.Path | None = None


class _Optional(pydantic.BaseModel):
    """A step that may be switched off deliberately, with the reason shown in the report."""

    model_config = _STRICT
    enabled: bool = True
    reason: str | None = None
    """Why the step is switched off (required with ``enabled: false``)."""

    @pydantic.model_validator(mode="after")
    def _reason_given(self) -> _Optional:
        if not self.enabled and not self.reason:
            raise ValueError("enabled: false needs a reason (it is shown in the report)")
        return self


class RedteamModel(_Optional):
    """The red-team campaign and its gates."""

    suite: str = "kastell-ci-v1"
    gates: str | dict[str, float] = pydantic.Field(default_factory=dict)
    """Red-team gate syntax (``prompt_injection>0.1,system_prompt_leakage>0``) or a mapping of
    category (or probe id, or ``overall``) -> highest acceptable attack success rate."""
    concurrency: int = pydantic.Field(default=2, ge=1, le=64)
    max_prompts: int | None = pydantic.Field(default=None, ge=1)
    """Run a seeded sample of this many attempts."""
    store: pathlib.Path | None = None
    """Red-team results database (default: redteam.sqlite in the output directory)."""
    system_prompt: pathlib.Path | None = None
    """File with the deployment's own system prompt; the leakage probes send it unchanged
    (a canary only where ``{CANARY}`` marks the place) instead of a built-in prompt."""
    secrets: tuple[str, ...] = ()
    """The deployment's own secrets; the leakage probes look for them in every form."""


class GuardModel(_Optional):
    """The runtime guard's policy file."""

    policy: pathlib.Path | None = None

    @pydantic.model_validator(mode="after")
    def _policy_given(self) -> GuardModel:
        if self.enabled and self.policy is None:
            raise ValueError("guard.policy is required (or enabled: false with a reason)")
        return self


class AuditModel(pydantic.BaseModel):
    """The guard's hash-chained audit log and the keys that sign its checkpoints."""

    model_config = _STRICT
    log: str
    """A file path (SQLite) or a database URL."""
    public_keys: tuple[pathlib.Path, ...] = ()
    """Ed25519 public keys trusted to sign checkpoints (none: the chain alone is checked)."""


class AssetModel(pydantic.BaseModel):
    """Where one asset lives."""

    model_config = _STRICT
    name: str = pydantic.Field(min_length=1)
    kind: AssetKind
    country: str = pydantic.Field(pattern=r"^[A-Za-z]{2}$")
    provider: str = pydantic.Field(min_length=1)
    provider_jurisdiction: str = pydantic.Field(pattern=r"^[A-Za-z]{2}$")
    host: str | None = None
    networks: tuple[str, ...] = ()


class ResidencyPolicyModel(pydantic.BaseModel):
    """Allowed countries and jurisdictions; the default is EU/EEA only."""

    model_config = _STRICT
    name: str = "custom"
    allowed_countries: tuple[str, ...]
    allowed_jurisdictions: tuple[str, ...]


class ResidencyModel(pydantic.BaseModel):
    """Residency declarations and the policy they are checked against."""

    model_config = _STRICT
    policy: ResidencyPolicyModel | None = None
    assets: tuple[AssetModel, ...] = pydantic.Field(min_length=1)
    resolve_endpoints: bool = False
    """Resolve endpoint hosts with the system resolver (network access) and compare."""


class ManualEvidenceModel(pydantic.BaseModel):
    """An organisational document to record as evidence, bound to the controls it covers."""

    model_config = _STRICT
    kind: EvidenceKind
    path: pathlib.Path
    title: str = pydantic.Field(min_length=3)
    controls: tuple[str, ...] = pydantic.Field(min_length=1)
    """Catalog control ids this document is evidence for (capped by the catalog's rule)."""
    attester: str = pydantic.Field(min_length=2)
    attester_role: str = pydantic.Field(min_length=2)
    approver: str = pydantic.Field(min_length=2)
    approver_role: str = pydantic.Field(min_length=2)
    valid_until: dt.date
    """After this day the document no longer counts (review date)."""

    @pydantic.model_validator(mode="after")
    def _four_eyes(self) -> ManualEvidenceModel:
        if self.attester.strip().casefold() == self.approver.strip().casefold():
            raise ValueError("attester and approver must be different people")
        if len(set(self.controls)) != len(self.controls):
            raise ValueError("a control is named twice")
        return self


class EvidenceModel(pydantic.BaseModel):
    """Where evidence is stored and how long it stays fresh."""

    model_config = _STRICT
    store: str = "evidence.sqlite"
    """A file path (SQLite) or a database URL (postgresql://...)."""
    freshness_days: int = pydantic.Field(default=30, ge=1)
    organisational_freshness_days: int = pydantic.Field(default=365, ge=1)
    manual: tuple[ManualEvidenceModel, ...] = ()


class OutputModel(pydantic.BaseModel):
    """Where the report goes and in which formats."""

    model_config = _STRICT
    dir: pathlib.Path = pathlib.Path("kastell-report")
    formats: tuple[Literal["html", "json", "md", "pdf", "oscal"], ...] = ("html", "json", "md")
    """``pdf`` needs Chromium (printed from the HTML report); ``oscal`` needs kastell[oscal]."""
    signing_key: pathlib.Path | None = None
    """Private key (PEM) that signs the report bundle (``kastell verify-report`` checks it)."""
    signing_key_passphrase_env: str | None = None
    """Name of the environment variable holding the key's passphrase (never the passphrase)."""
    include_payloads: bool = True
    """Copy each evidence payload held by the store into ``evidence/`` of the bundle."""


class Descriptor(pydantic.BaseModel):
    """A deployment to assess."""

    model_config = _STRICT
    version: Literal[1] = 1
    name: str = pydantic.Field(min_length=1)
    description: str = ""
    scope: ScopeModel | None = None
    """Roles, risk class, entity type, Member States: decides which controls apply."""
    risk: RiskModel = RiskModel()
    """Risk appetite, finding owners and due dates, signed risk acceptances."""
    model: ModelSection
    provenance: ProvenanceModel | None = None
    bom: BomModel | None = None
    scan: ScanModel = ScanModel()
    redteam: RedteamModel | None = None
    guard: GuardModel | None = None
    audit: AuditModel | None = None
    residency: ResidencyModel | None = None
    evidence: EvidenceModel = EvidenceModel()
    output: OutputModel = OutputModel()
    base_dir: pathlib.Path = pathlib.Path(".")
    """Directory relative paths are read against (set by the loader; not written in files)."""
    source_sha256: str | None = None
    """SHA-256 of the descriptor file's bytes (set by the loader; risk acceptances bind it)."""

    def resolve(self, path: pathlib.Path) -> pathlib.Path:
        """``path`` read relative to the descriptor's directory."""
        return pathlib.Path(os.path.normpath(path if path.is_absolute() else self.base_dir / path))


_UNION_TAG = re.compile(r"^(str|int|float|bool|none|(dict|list|tuple|set)\[.*\])$")


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, str) and _UNION_TAG.match(part):
            continue  # pydantic names the union member tried; the field path is what helps
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def parse_descriptor(raw: Any, base_dir: pathlib.Path, source: str = "descriptor",
                     digest: str | None = None) -> Descriptor:  # fmt: skip
    """Validate a parsed YAML document as a ``Descriptor``."""
    if not isinstance(raw, dict):
        raise DescriptorError(
            f"{source}: the top level must be a mapping, not {type(raw).__name__}"
        )
    for reserved in ("base_dir", "source_sha256"):
        if reserved in raw:
            raise DescriptorError(f"{source}: {reserved} is set by Kastell and may not be given")
    try:
        return Descriptor.model_validate({**raw, "base_dir": base_dir, "source_sha256": digest})
    except pydantic.ValidationError as error:
        problems = [f"{_location(e['loc'])}: {e['msg']}" for e in error.errors()]
        raise DescriptorError(
            f"{source}: {len(problems)} invalid field(s): " + "; ".join(problems)
        ) from None


def descriptor_json_schema() -> dict[str, Any]:
    """The JSON Schema of the descriptor file (``base_dir`` is set by Kastell, not written)."""
    schema = Descriptor.model_json_schema()
    schema.get("properties", {}).pop("base_dir", None)
    schema.get("properties", {}).pop("source_sha256", None)
    schema["title"] = "Kastell deployment descriptor"
    return schema


def load_descriptor(path: pathlib.Path) -> Descriptor:
    """Read and validate the descriptor at ``path``."""
    try:
        data = path.read_bytes()  # read once: the digest and the parse see the same bytes
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise DescriptorError(f"descriptor {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise DescriptorError(f"cannot read descriptor {path}: {error}") from None
    try:
        raw = strict_yaml(text)
    except yaml.YAMLError as error:
        raise DescriptorError(f"{path} is not valid YAML: {error}") from None
    digest = hashlib.sha256(data).hexdigest()
    return parse_descriptor(raw, path.parent.resolve(), str(path), digest)
