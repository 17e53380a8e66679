from __future__ import annotations

import pytest

from kastell.comply.catalog import check_control_ids, control_exists, load_catalog, parse_catalog
from kastell.comply.interface import CatalogError, UnknownControlError
from kastell.errors import ExitCode
from kastell.types import EvidenceKind


def test_packaged_catalog_loads_typed_controls() -> None:
    catalog = load_catalog()
    assert len(catalog.controls) > 100
    ids = [c.id for c in catalog.controls]
    assert len(ids) == len(set(ids))
    for control in catalog.controls:
        assert control.framework in catalog.frameworks
        assert control.evidence_kinds, control.id
        assert all(isinstance(k, EvidenceKind) for k in control.evidence_kinds)


def test_catalog_keeps_its_caveats_visible() -> None:
    catalog = load_catalog()
    text = " ".join(catalog.caveats)
    assert "Digital Omnibus" in text
    assert "unverified" in text
    assert any(c.verification for c in catalog.controls)
    assert any(d.caveat and "Omnibus" in d.caveat for d in catalog.application_dates)


@pytest.mark.parametrize(
    "control_id", ["OWASP-LLM01", "AIA-15.5", "CRA-AI-I.2.a", "NIS2-23.4.a", "ATLAS-AML.T0051"]
)
def test_known_ids_exist(control_id: str) -> None:
    assert control_exists(control_id)
    assert load_catalog().get(control_id).id == control_id


def test_unknown_id_is_a_usage_error_with_close_ids() -> None:
    assert not control_exists("OWASP-LLM11")
    with pytest.raises(UnknownControlError) as caught:
        load_catalog().get("OWASP-LLM11")
    assert caught.value.exit_code == ExitCode.USAGE
    assert "OWASP-LLM01" in caught.value.diagnostics()


def test_check_control_ids_names_every_unknown_id() -> None:
    check_control_ids(["AIA-4", "NIS2-21.2.d"])
    with pytest.raises(UnknownControlError, match="AIA-999.*NOPE-1"):
        check_control_ids(["AIA-4", "NOPE-1", "AIA-999"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("controls: [", "not valid YAML"),
        ("catalog: {}", "no 'controls' list"),
        ("frameworks: {X: {title: x}}\ncontrols:\n  - {id: A, framework: X}", "controls\\[0\\]"),
        (
            "frameworks: {X: {}}\ncontrols:\n  - {id: A, framework: X, reference: r, title: t,"
            " evidence_kinds: [no_such_kind]}",
            "malformed",
        ),
        (
            "frameworks: {}\ncontrols:\n  - {id: A, framework: X, reference: r, title: t,"
            " evidence_kinds: [documentation]}",
            "undeclared frameworks",
        ),
    ],
)
def test_malformed_catalogs_are_check_errors(text: str, message: str) -> None:
    with pytest.raises(CatalogError, match=message) as caught:
        parse_catalog(text)
    assert caught.value.exit_code == ExitCode.INCOMPLETE


def test_duplicate_ids_are_rejected() -> None:
    entry = "  - {id: A, framework: X, reference: r, title: t, evidence_kinds: [documentation]}\n"
    with pytest.raises(CatalogError, match="twice"):
        parse_catalog("frameworks: {X: {}}\ncontrols:\n" + entry + entry)
