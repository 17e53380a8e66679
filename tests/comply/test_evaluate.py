from __future__ import annotations

import datetime as dt

import pytest

from kastell.comply.catalog import load_catalog
from kastell.comply.evaluate import FreshnessPolicy, evaluate_control, evaluate_controls, summarize
from kastell.comply.interface import ControlStatus
from kastell.errors import UsageError
from kastell.types import EvidenceKind as K
from kastell.types import Finding, Severity

from ._builders import NOW, make_evidence, stored

# AIA-15.5.MP asks for model_signature, provenance_attestation, model_file_scan, ai_bom
MP = load_catalog().get("AIA-15.5.MP")
MACHINE = [K.MODEL_SIGNATURE, K.PROVENANCE_ATTESTATION, K.MODEL_FILE_SCAN, K.AI_BOM]
POLICY = FreshnessPolicy()


def test_all_kinds_fresh_and_passing_is_satisfied() -> None:
    result = evaluate_control(MP, stored(*(make_evidence(k) for k in MACHINE)), NOW, POLICY)
    assert result.status is ControlStatus.SATISFIED
    assert len(result.evidence) == 4


def test_nothing_is_missing_never_satisfied() -> None:
    result = evaluate_control(MP, [], NOW, POLICY)
    assert result.status is ControlStatus.MISSING
    assert set(result.missing_kinds) == set(MACHINE)


def test_one_failing_kind_makes_the_control_fail_with_its_finding() -> None:
    finding = Finding(
        "PICKLE-001", Severity.CRITICAL, "exec", "os.system", None, mappings=("AIA-15.5.MP",)
    ).to_dict()  # type: ignore[arg-type]
    other = Finding("X", Severity.LOW, "unrelated", "m", None, mappings=("OWASP-LLM01",)).to_dict()  # type: ignore[arg-type]
    items = [make_evidence(k) for k in MACHINE[:2]]
    items.append(make_evidence(K.MODEL_FILE_SCAN, passed=False, findings=[finding, other]))
    result = evaluate_control(MP, stored(*items), NOW, POLICY)
    assert result.status is ControlStatus.FAILING
    assert [f.rule_id for f in result.findings] == ["PICKLE-001"]
    assert "model_file_scan" in result.reason


def test_evidence_without_outcome_is_unknown_not_satisfied() -> None:
    items = [make_evidence(k) for k in MACHINE[:3]] + [make_evidence(K.AI_BOM, passed=None)]
    result = evaluate_control(MP, stored(*items), NOW, POLICY)
    assert result.status is ControlStatus.MISSING
    assert "without an outcome: ai_bom" in result.reason


def test_stale_evidence_is_ignored_and_reported() -> None:
    old = dt.timedelta(days=31)
    items = [make_evidence(k) for k in MACHINE[:3]] + [make_evidence(K.AI_BOM, age=old)]
    result = evaluate_control(MP, stored(*items), NOW, POLICY)
    assert result.status is ControlStatus.MISSING
    assert result.stale_kinds == (K.AI_BOM,)
    longer = FreshnessPolicy(per_kind={K.AI_BOM: dt.timedelta(days=60)})
    assert evaluate_control(MP, stored(*items), NOW, longer).status is ControlStatus.SATISFIED


def test_stale_failure_does_not_fail_but_does_not_pass_either() -> None:
    items = [make_evidence(k) for k in MACHINE[:3]]
    items.append(make_evidence(K.AI_BOM, passed=False, age=dt.timedelta(days=90)))
    assert evaluate_control(MP, stored(*items), NOW, POLICY).status is ControlStatus.MISSING


def test_organisational_gap_needs_attestation() -> None:
    control = load_catalog().get("AIA-14.4")  # human_oversight_procedure, guard_policy, audit_log
    items = stored(make_evidence(K.GUARD_POLICY), make_evidence(K.AUDIT_LOG))
    result = evaluate_control(control, items, NOW, POLICY)
    assert result.status is ControlStatus.NEEDS_ATTESTATION
    assert result.missing_kinds == (K.HUMAN_OVERSIGHT_PROCEDURE,)
    items += stored(
        make_evidence(K.HUMAN_OVERSIGHT_PROCEDURE, passed=None, age=dt.timedelta(days=200),
                      controls=["AIA-14.4"])  # fmt: skip
    )
    assert evaluate_control(control, items, NOW, POLICY).status is ControlStatus.SATISFIED


@pytest.mark.parametrize(
    ("controls", "valid_until"),
    [
        (None, None),  # names no control: a catch-all document counts for none
        (["AIA-14.1"], None),  # another control
        (["AIA-14.4", "AIA-4", "AIA-5", "NIS2-20.1", "NIS2-20.2", "NIS2-21.1", "NIS2-21.2.a"],
         None),  # more than the catalog's cap (6)
        (["AIA-14.4"], "2026-11-25"),  # expired the day before NOW
        (["AIA-14.4"], "soon"),  # unreadable validity is none
    ],
)
def test_a_document_counts_only_for_the_controls_it_names(
    controls: list[str] | None, valid_until: str | None
) -> None:
    control = load_catalog().get("AIA-14.4")
    items = stored(make_evidence(K.GUARD_POLICY), make_evidence(K.AUDIT_LOG),
                   make_evidence(K.HUMAN_OVERSIGHT_PROCEDURE, passed=None, controls=controls,
                                 valid_until=valid_until))  # fmt: skip
    result = evaluate_control(control, items, NOW, POLICY, load_catalog().max_controls_per_document)
    assert result.status is ControlStatus.NEEDS_ATTESTATION


def test_a_document_valid_until_today_still_counts() -> None:
    control = load_catalog().get("AIA-14.4")
    items = stored(make_evidence(K.GUARD_POLICY), make_evidence(K.AUDIT_LOG),
                   make_evidence(K.HUMAN_OVERSIGHT_PROCEDURE, passed=None, controls=["AIA-14.4"],
                                 valid_until=NOW.date().isoformat()))  # fmt: skip
    assert evaluate_control(control, items, NOW, POLICY).status is ControlStatus.SATISFIED


def test_machine_gap_wins_over_attestation_gap() -> None:
    control = load_catalog().get("AIA-14.4")
    result = evaluate_control(control, stored(make_evidence(K.GUARD_POLICY)), NOW, POLICY)
    assert result.status is ControlStatus.MISSING


def test_every_control_is_evaluated_and_summarised() -> None:
    catalog = load_catalog()
    results = evaluate_controls(catalog, stored(*(make_evidence(k) for k in MACHINE)), NOW)
    assert len(results) == len(catalog.controls)
    table = summarize(results)
    assert set(table) == set(catalog.frameworks)
    assert sum(sum(row.values()) for row in table.values()) == len(catalog.controls)
    assert table["EU-AI-ACT"]["satisfied"] >= 1  # AIA-15.5.MP


def test_naive_now_is_refused() -> None:
    with pytest.raises(UsageError, match="time zone"):
        evaluate_controls(load_catalog(), [], NOW.replace(tzinfo=None))


def test_non_positive_freshness_is_refused() -> None:
    with pytest.raises(UsageError, match="positive"):
        FreshnessPolicy(default=dt.timedelta(0))


def test_a_passing_rerun_replaces_an_earlier_failure() -> None:
    items = [make_evidence(k) for k in MACHINE[:3]]
    items.append(make_evidence(K.AI_BOM, passed=False, age=dt.timedelta(hours=5)))
    items.append(make_evidence(K.AI_BOM, passed=True, age=dt.timedelta(hours=1)))
    assert evaluate_control(MP, stored(*items), NOW, POLICY).status is ControlStatus.SATISFIED
    items.append(make_evidence(K.AI_BOM, passed=False, age=dt.timedelta(minutes=5)))
    assert evaluate_control(MP, stored(*items), NOW, POLICY).status is ControlStatus.FAILING


def test_every_subject_of_a_kind_counts() -> None:
    items = [make_evidence(k) for k in MACHINE]
    items.append(make_evidence(K.AI_BOM, passed=False, subject="other-model"))
    assert evaluate_control(MP, stored(*items), NOW, POLICY).status is ControlStatus.FAILING


def test_controls_applying_later_are_counted_per_framework() -> None:
    from kastell.comply.evaluate import applies_later

    results = evaluate_controls(load_catalog(), [], NOW)
    before_cra = applies_later(results, dt.date(2026, 11, 26))
    assert before_cra["CRA"] > 0  # most CRA obligations apply from 2027-12-11
    assert applies_later(results, dt.date(2028, 1, 1))["CRA"] == 0
