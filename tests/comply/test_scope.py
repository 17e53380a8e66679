"""Scope: roles, risk class, GPAI flags, NIS2 and CRA status decide which controls apply."""

from __future__ import annotations

import datetime as dt
import pathlib
from typing import Any

import pytest

from kastell.comply.catalog import load_catalog
from kastell.comply.descriptor import load_descriptor, parse_descriptor
from kastell.comply.interface import DescriptorError
from kastell.comply.scope import Applicability, load_rules, scope_controls

DEPLOYER_BOT: dict[str, Any] = {
    "organisation": "Example GmbH",
    "contact": "security@example.eu",
    "member_states": ["DE", "AT"],
    "ai_act": {"roles": ["deployer"], "risk_class": "limited",
               "legal_basis": "Art. 50 chatbot; no Annex III use (Art. 6(2))"},
    "nis2": {"entity_type": "important", "sector": "Annex II 6 digital providers"},
}  # fmt: skip


def _scopes(scope: dict[str, Any] | None, today: dt.date = dt.date(2026, 12, 3)) -> dict[str, Any]:
    raw: dict[str, Any] = {"name": "d", "model": {"path": "m"}}
    if scope is not None:
        raw["scope"] = scope
    descriptor = parse_descriptor(raw, pathlib.Path("."))
    return {s.control.id: s for s in scope_controls(load_catalog(), descriptor.scope, today)}


def test_a_deployer_support_bot_has_no_gpai_or_systemic_risk_duties() -> None:
    scopes = _scopes(DEPLOYER_BOT)
    for control in ("AIA-53.1.a", "AIA-53.1.c", "AIA-55.1.a", "AIA-ANNEX-XI.2"):
        assert scopes[control].applicability is Applicability.NOT_APPLICABLE
        assert "GPAI" in scopes[control].reason or "general-purpose" in scopes[control].reason
    assert scopes["AIA-4"].applicability is Applicability.APPLIES
    assert scopes["AIA-15.5"].applicability is Applicability.NOT_APPLICABLE  # not high-risk
    assert scopes["NIS2-21.2.d"].applicability is Applicability.APPLIES
    assert scopes["CRA-AI-I.2.a"].applicability is Applicability.NOT_APPLICABLE
    assert scopes["OWASP-LLM01"].applicability is Applicability.APPLIES


def test_a_systemic_risk_gpai_provider_gets_art_55() -> None:
    scope = {**DEPLOYER_BOT, "ai_act": {
        "roles": ["provider"], "risk_class": "minimal", "legal_basis": "GPAI model, Art. 51",
        "gpai_model_provider": True, "systemic_risk": True}}  # fmt: skip
    scopes = _scopes(scope)
    assert scopes["AIA-55.1.a"].applicability is Applicability.APPLIES
    assert scopes["AIA-53.1.d"].applicability is Applicability.APPLIES


def test_high_risk_duties_apply_later_with_both_dates() -> None:
    scope = {**DEPLOYER_BOT, "ai_act": {
        "roles": ["provider"], "risk_class": "high", "high_risk_basis": "annex_iii",
        "legal_basis": "Annex III point 4 (employment)"}}  # fmt: skip
    scopes = _scopes(scope, dt.date(2026, 5, 1))
    item = scopes["AIA-9.1"]
    assert item.applicability is Applicability.APPLIES_LATER
    assert item.applies_from == dt.date(2026, 8, 2)
    assert item.alternative_date == dt.date(2027, 12, 2)
    assert _scopes(scope, dt.date(2026, 9, 1))["AIA-9.1"].applicability is Applicability.APPLIES


def test_cra_duties_bind_a_manufacturer_from_their_dates() -> None:
    scope = {**DEPLOYER_BOT, "cra": {"roles": ["manufacturer"], "product_class": "default"}}
    scopes = _scopes(scope)
    assert scopes["CRA-14.2.a"].applicability is Applicability.APPLIES  # from 2026-09-11
    assert scopes["CRA-AI-I.2.a"].applicability is Applicability.APPLIES_LATER  # 2027-12-11


def test_without_scope_every_control_applies() -> None:
    scopes = _scopes(None)
    assert all(s.applicability is not Applicability.NOT_APPLICABLE for s in scopes.values())


def test_every_not_applicable_reason_is_given() -> None:
    for rule in load_rules().rules:
        assert len(rule.reason) > 30


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ai_act": {**DEPLOYER_BOT["ai_act"], "risk_class": "high"}}, "high_risk_basis"),
        ({"ai_act": {**DEPLOYER_BOT["ai_act"], "systemic_risk": True}}, "gpai_model_provider"),
        ({"ai_act": {**DEPLOYER_BOT["ai_act"], "gpai_model_provider": True}}, "role provider"),
        ({"nis2": {"entity_type": "essential"}}, "sector"),
        ({"member_states": ["de"]}, "alpha-2"),
        ({"member_states": ["DE", "DE"]}, "twice"),
        ({"ai_act": {**DEPLOYER_BOT["ai_act"], "legal_basis": ""}}, "legal_basis"),
        ({"cra": {"roles": ["manufacturer"]}}, "product_class"),
        ({"nis2": {**DEPLOYER_BOT["nis2"], "size": "large"}}, "size"),
    ],
)
def test_inconsistent_scope_is_a_usage_error(change: dict[str, Any], message: str) -> None:
    with pytest.raises(DescriptorError, match=message):
        _scopes({**DEPLOYER_BOT, **change})


def test_duplicate_keys_in_the_descriptor_are_rejected(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "d.yaml"
    path.write_text("name: a\nmodel: {path: m}\nscope: {}\nname: b\n")
    with pytest.raises(DescriptorError, match="duplicate key 'name'"):
        load_descriptor(path)
    path.write_text("name: a\nmodel: {path: m, path: n}\n")
    with pytest.raises(DescriptorError, match="duplicate key 'path'"):
        load_descriptor(path)


def test_the_loader_records_the_digest_of_the_bytes_it_parsed(tmp_path: pathlib.Path) -> None:
    import hashlib

    path = tmp_path / "d.yaml"
    path.write_bytes(b"name: a\nmodel: {path: m}\n")
    assert load_descriptor(path).source_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    path.write_text("name: a\nmodel: {path: m}\nsource_sha256: abc\n")
    with pytest.raises(DescriptorError, match="set by Kastell"):
        load_descriptor(path)
