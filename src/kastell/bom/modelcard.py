"""A typed CycloneDX 1.6 ``modelCard``, read from YAML and written as CycloneDX JSON.

``cyclonedx-python-lib`` has no model for ``component.modelCard``, so Kastell keeps its own
typed structure (frozen pydantic models mirroring the 1.6 schema, camelCase on the wire) and
inserts it into the serialized BOM (see ``kastell.bom.builder``). The YAML may use camelCase or
snake_case keys; unknown keys are refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pydantic
import yaml
from pydantic.alias_generators import to_camel

from kastell.bom.interface import BomUsageError

__all__ = [
    "Approach",
    "Considerations",
    "ConfidenceInterval",
    "EthicalConsideration",
    "FairnessAssessment",
    "IOParameter",
    "ModelCard",
    "ModelParameters",
    "PerformanceMetric",
    "QuantitativeAnalysis",
    "load_model_card",
]


class _Card(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )


class Approach(_Card):
    """The learning approach."""

    type: Literal[
        "supervised", "unsupervised", "reinforcement-learning", "semi-supervised", "self-supervised"
    ]


class IOParameter(_Card):
    """An input or output format, e.g. ``string`` or ``image``."""

    format: str


class ModelParameters(_Card):
    """How the model was built. ``datasets`` is filled from the dataset attestations."""

    approach: Approach | None = None
    task: str | None = None
    architecture_family: str | None = None
    model_architecture: str | None = None
    inputs: tuple[IOParameter, ...] = ()
    outputs: tuple[IOParameter, ...] = ()


class ConfidenceInterval(_Card):
    """Bounds of a metric."""

    lower_bound: str
    upper_bound: str


class PerformanceMetric(_Card):
    """One measured metric (values are strings in CycloneDX)."""

    type: str
    value: str
    slice: str | None = None
    confidence_interval: ConfidenceInterval | None = None

    @pydantic.field_validator("value", mode="before")
    @classmethod
    def _stringify(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) else value


class QuantitativeAnalysis(_Card):
    """Measured performance."""

    performance_metrics: tuple[PerformanceMetric, ...] = ()


class EthicalConsideration(_Card):
    """A risk and how it is mitigated."""

    name: str
    mitigation_strategy: str | None = None


class FairnessAssessment(_Card):
    """A group at risk, benefits, harms and mitigation."""

    group_at_risk: str
    benefits: str | None = None
    harms: str | None = None
    mitigation_strategy: str | None = None


class Considerations(_Card):
    """Intended users and uses, limitations and risks."""

    users: tuple[str, ...] = ()
    use_cases: tuple[str, ...] = ()
    technical_limitations: tuple[str, ...] = ()
    performance_tradeoffs: tuple[str, ...] = ()
    ethical_considerations: tuple[EthicalConsideration, ...] = ()
    fairness_assessments: tuple[FairnessAssessment, ...] = ()


class ModelCard(_Card):
    """The model card of the model component."""

    model_parameters: ModelParameters = ModelParameters()
    quantitative_analysis: QuantitativeAnalysis | None = None
    considerations: Considerations | None = None

    def to_cyclonedx(self, dataset_refs: tuple[str, ...], bom_ref: str) -> dict[str, Any]:
        """The CycloneDX JSON object, with references to the dataset components."""
        document: dict[str, Any] = self.model_dump(by_alias=True, exclude_none=True, mode="json")
        document = _drop_empty(document)
        document["bom-ref"] = bom_ref
        parameters = document.setdefault("modelParameters", {})
        if dataset_refs:
            parameters["datasets"] = [{"ref": ref} for ref in dataset_refs]
        if not parameters:
            document.pop("modelParameters")
        return document


def _drop_empty(value: Any) -> Any:
    if isinstance(value, dict):
        cleaned = {k: _drop_empty(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if v not in ({}, [], ())}
    if isinstance(value, list | tuple):
        return [_drop_empty(v) for v in value]
    return value


def load_model_card(path: Path) -> ModelCard:
    """Read a model card YAML (or JSON) file."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise BomUsageError(f"cannot read model card {path}: {error.strerror}") from error
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise BomUsageError(f"model card {path} is not valid YAML: {error}") from error
    try:
        return ModelCard.model_validate(document or {})
    except pydantic.ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise BomUsageError(
            f"model card {path}: {where}: {first['msg']}",
            hint="See docs/bom.md for the model card fields (camelCase or snake_case).",
        ) from None
