"""The ``scope`` and ``risk`` sections of the deployment descriptor (docs/deployment-descriptor.md).

``scope`` says who the organisation is for this deployment under each regulation (roles, AI Act
risk class and its legal basis, GPAI / systemic-risk status, NIS2 entity type and sector, CRA
product class, Member States); it decides which catalog controls apply. ``risk`` gives the risk
appetite per red-team category, who owns findings, how fast they are due, and where the signed
risk acceptances are.
"""

from __future__ import annotations

import pathlib
from typing import Literal

import pydantic

__all__ = [
    "AiActScopeModel",
    "CraScopeModel",
    "Nis2ScopeModel",
    "RiskModel",
    "ScopeModel",
]

_STRICT = pydantic.ConfigDict(extra="forbid", frozen=True)

AiActRole = Literal[
    "provider", "deployer", "importer", "distributor", "authorised_representative",
    "product_manufacturer",
]  # fmt: skip
RiskClass = Literal["prohibited", "high", "limited", "minimal"]
CraRole = Literal["manufacturer", "importer", "distributor"]
CraClass = Literal["default", "important_class_i", "important_class_ii", "critical"]


class AiActScopeModel(pydantic.BaseModel):
    """The organisation's place under the AI Act for this system."""

    model_config = _STRICT
    roles: tuple[AiActRole, ...] = pydantic.Field(min_length=1)
    """Art. 3(3)-(7): provider, deployer, importer, distributor, ..."""
    risk_class: RiskClass
    legal_basis: str = pydantic.Field(min_length=10)
    """Why this class: e.g. ``Art. 6(3) / Annex III not listed; Art. 50(1) chatbot``."""
    high_risk_basis: Literal["annex_i", "annex_iii"] | None = None
    """For ``risk_class: high``: Art. 6(1) (Annex I product) or Art. 6(2) (Annex III use)."""
    gpai_model_provider: bool = False
    """The organisation places a general-purpose AI model on the market (Art. 53)."""
    systemic_risk: bool = False
    """That GPAI model has systemic risk (Art. 51; Art. 55 duties)."""

    @pydantic.model_validator(mode="after")
    def _consistent(self) -> AiActScopeModel:
        if self.risk_class == "high" and self.high_risk_basis is None:
            raise ValueError("risk_class: high needs high_risk_basis (annex_i or annex_iii)")
        if self.risk_class != "high" and self.high_risk_basis is not None:
            raise ValueError("high_risk_basis is only meaningful with risk_class: high")
        if self.systemic_risk and not self.gpai_model_provider:
            raise ValueError("systemic_risk: true needs gpai_model_provider: true")
        if self.gpai_model_provider and "provider" not in self.roles:
            raise ValueError("gpai_model_provider: true needs the role provider")
        return self


class Nis2ScopeModel(pydantic.BaseModel):
    """The entity under NIS2 (Art. 3): essential, important, or not in scope."""

    model_config = _STRICT
    entity_type: Literal["essential", "important", "not_in_scope"]
    sector: str | None = None
    """Annex I or II sector and subsector, e.g. ``Annex I 8 digital infrastructure``."""

    @pydantic.model_validator(mode="after")
    def _sector_given(self) -> Nis2ScopeModel:
        if self.entity_type != "not_in_scope" and not self.sector:
            raise ValueError("an essential or important entity needs its sector")
        return self


class CraScopeModel(pydantic.BaseModel):
    """The product with digital elements under the CRA, if there is one."""

    model_config = _STRICT
    roles: tuple[CraRole, ...] = ()
    """Economic operator roles (Art. 3(13)-(17)); empty: no product placed on the market."""
    product_class: CraClass | None = None
    """Annex III important (class I / II) or Annex IV critical, else ``default``."""
    product: str | None = None
    """Product name and version (identification in CRA notifications)."""

    @pydantic.model_validator(mode="after")
    def _class_given(self) -> CraScopeModel:
        if self.roles and self.product_class is None:
            raise ValueError("a CRA role needs product_class (default, important_*, critical)")
        return self


class ScopeModel(pydantic.BaseModel):
    """Who the organisation is for this deployment; decides which controls apply."""

    model_config = _STRICT
    organisation: str = pydantic.Field(min_length=1)
    contact: str = pydantic.Field(min_length=3)
    """Contact point for notifications (name, e-mail or phone)."""
    member_states: tuple[str, ...] = pydantic.Field(min_length=1)
    """ISO 3166 alpha-2 codes (``EL`` for Greece) of the Member States served."""
    ai_act: AiActScopeModel
    nis2: Nis2ScopeModel
    cra: CraScopeModel = CraScopeModel()
    eu_database_number: str | None = None
    """AI Act Art. 71 EU database registration number (high-risk systems)."""
    provider: str | None = None
    """The AI system's provider, when the organisation is not (Art. 26(5) reports go there)."""

    @pydantic.field_validator("member_states")
    @classmethod
    def _alpha2(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [v for v in value if len(v) != 2 or not v.isalpha() or not v.isupper()]
        if bad:
            raise ValueError(f"not ISO 3166 alpha-2 upper case: {', '.join(bad)}")
        if len(set(value)) != len(value):
            raise ValueError("a Member State is listed twice")
        return value


class RiskModel(pydantic.BaseModel):
    """Risk appetite, finding owners and deadlines, and the signed risk acceptances."""

    model_config = _STRICT
    appetite: dict[str, float] = pydantic.Field(default_factory=dict)
    """Red-team category -> highest acceptable attack success rate (overrides the default)."""
    min_attempts: int = pydantic.Field(default=20, ge=1)
    """A category with fewer decided attempts is inconclusive unless its rate already crosses."""
    owners: dict[str, str] = pydantic.Field(default_factory=dict)
    """Finding source (``redteam``, ``control``, ``guard``, ``step``) or framework -> owner."""
    default_owner: str | None = None
    remediation_days: dict[Literal["critical", "high", "medium", "low", "info"], int] = (
        pydantic.Field(default_factory=dict)
    )
    """Days from the assessment to the due date, per severity (defaults: 7/30/60/90/180)."""
    acceptances: pathlib.Path | None = None
    """Signed risk acceptances (``kastell assess-accept``-style DSSE bundle, see docs)."""
    acceptance_keys: tuple[pathlib.Path, ...] = ()

    @pydantic.field_validator("appetite")
    @classmethod
    def _rates(cls, value: dict[str, float]) -> dict[str, float]:
        bad = [k for k, v in value.items() if not 0.0 <= v <= 1.0]
        if bad:
            raise ValueError(f"appetite must be a rate between 0 and 1: {', '.join(bad)}")
        return value

    @pydantic.model_validator(mode="after")
    def _keys_given(self) -> RiskModel:
        if self.acceptances is not None and not self.acceptance_keys:
            raise ValueError("risk.acceptances needs risk.acceptance_keys to verify them")
        if any(days < 1 for days in self.remediation_days.values()):
            raise ValueError("remediation_days must be at least 1")
        return self
