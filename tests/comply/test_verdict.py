"""The verdict: findings + accepted risks; pass only with nothing open."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from kastell.comply.acceptance import Acceptance, AcceptanceProblem
from kastell.comply.catalog import load_catalog
from kastell.comply.evaluate import evaluate_controls
from kastell.comply.interface import StepOutcome, StepResult
from kastell.comply.verdict import DEFAULT_APPETITE, ItemState, RiskPolicy, judge
from kastell.errors import ExitCode
from kastell.types import Finding, Location, Severity

from ._builders import NOW

TODAY = NOW.date()


def _row(name: str, rate: float, high: float, trials: int) -> dict[str, Any]:
    return {"name": name, "attack_success_rate": rate, "ci_low": 0.0, "ci_high": high,
            "gate_failed": False, "trials": trials}  # fmt: skip


def _redteam(*rows: dict[str, Any], untested: tuple[str, ...] = ()) -> StepResult:
    return StepResult("redteam", StepOutcome.PASSED, "ran",
                      data={"categories": list(rows), "untested_categories": list(untested)})


def _judge(*steps: StepResult, acceptances: Any = (), policy: RiskPolicy | None = None,
           controls: tuple[Any, ...] = ()) -> Any:  # fmt: skip
    return judge(steps=steps, controls=controls, applicable=frozenset(),
                 policy=policy or RiskPolicy(default_owner="CISO"), today=TODAY,
                 acceptances=acceptances)  # fmt: skip


def test_the_demo_failure_mode_a_rate_above_appetite_is_an_open_finding() -> None:
    # what the demo showed as "pass": insecure output at 40% of 5 attempts, extraction 1/1
    verdict = _judge(_redteam(_row("insecure_output", 0.4, 0.77, 5),
                              _row("model_extraction", 1.0, 1.0, 1)))  # fmt: skip
    assert verdict.verdict == "fail"
    assert verdict.exit_code == ExitCode.FAILED
    by_id = {i.id: i for i in verdict.items}
    assert by_id["redteam:insecure_output"].state is ItemState.OPEN
    assert by_id["redteam:insecure_output"].severity is Severity.HIGH
    assert by_id["redteam:model_extraction"].state is ItemState.OPEN
    assert by_id["redteam:insecure_output"].owner == "CISO"
    assert by_id["redteam:insecure_output"].due == TODAY + dt.timedelta(days=30)


def test_too_few_attempts_is_inconclusive_never_pass() -> None:
    verdict = _judge(_redteam(_row("jailbreak", 0.0, 0.79, 1)))
    assert verdict.verdict == "inconclusive"
    assert verdict.exit_code == ExitCode.INCOMPLETE
    assert verdict.items[0].state is ItemState.INCONCLUSIVE


def test_upper_bound_over_appetite_with_enough_attempts_is_a_finding() -> None:
    verdict = _judge(_redteam(_row("jailbreak", 0.05, 0.2, 60)))
    assert [i.state for i in verdict.items] == [ItemState.OPEN]
    assert verdict.items[0].severity is Severity.MEDIUM


def test_within_appetite_with_enough_attempts_passes() -> None:
    verdict = _judge(_redteam(_row("jailbreak", 0.0, 0.05, 80)))
    assert verdict.items == ()
    assert verdict.verdict == "pass"
    assert verdict.exit_code == ExitCode.OK


def test_an_untested_category_is_inconclusive() -> None:
    verdict = _judge(_redteam(untested=("training_data_extraction",)))
    assert verdict.verdict == "inconclusive"


def test_default_appetite_covers_every_red_team_category() -> None:
    from kastell.redteam.interface import Category

    assert set(DEFAULT_APPETITE) == {c.value for c in Category}


def test_guard_posture_warnings_are_findings_even_low_ones() -> None:
    low = Finding("guard.lint.canaries_off", Severity.LOW, "Canaries off", "no canaries",
                  Location("policy.yaml"))  # fmt: skip
    step = StepResult("guard", StepOutcome.PASSED, "1 finding", findings=(low,))
    verdict = _judge(step)
    assert verdict.verdict == "fail"
    assert verdict.items[0].id == "guard:guard:guard.lint.canaries_off:policy.yaml"


def test_a_failed_step_without_findings_is_still_a_finding() -> None:
    verdict = _judge(StepResult("integrity", StepOutcome.FAILED, "signature mismatch"))
    assert [i.id for i in verdict.items] == ["step:integrity"]
    assert verdict.verdict == "fail"


def _accept(finding: str, until: dt.date) -> Acceptance:
    return Acceptance(finding, "A. Person", "CISO", "compensated by the guard's output screen",
                      until, key_id="k")  # fmt: skip


def test_a_valid_acceptance_closes_the_finding() -> None:
    step = _redteam(_row("insecure_output", 0.4, 0.77, 40))
    verdict = _judge(step, acceptances=[_accept("redteam:insecure_output", TODAY)])
    assert verdict.items[0].state is ItemState.ACCEPTED
    assert verdict.verdict == "pass"


def test_an_expired_acceptance_leaves_the_finding_open() -> None:
    step = _redteam(_row("insecure_output", 0.4, 0.77, 40))
    yesterday = TODAY - dt.timedelta(days=1)
    verdict = _judge(step, acceptances=[_accept("redteam:insecure_output", yesterday)])
    assert verdict.items[0].state is ItemState.OPEN
    assert "expired" in verdict.items[0].note
    assert verdict.verdict == "fail"


def test_an_acceptance_of_another_id_accepts_nothing() -> None:
    step = _redteam(_row("insecure_output", 0.4, 0.77, 40))
    verdict = _judge(step, acceptances=[_accept("redteam:insecure_outputs", TODAY)])
    assert verdict.verdict == "fail"
    assert [a.finding for a in verdict.unused_acceptances] == ["redteam:insecure_outputs"]


def test_acceptances_that_do_not_verify_are_a_finding_of_their_own() -> None:
    verdict = _judge(_redteam(_row("jailbreak", 0.0, 0.05, 80)),
                     acceptances=AcceptanceProblem("bad signature"))  # fmt: skip
    assert verdict.verdict == "fail"
    assert verdict.items[0].id == "acceptances:signature"


def test_only_applicable_controls_become_findings() -> None:
    catalog = load_catalog()
    controls = evaluate_controls(catalog, [], NOW)
    verdict = judge(steps=(), controls=controls, applicable=frozenset({"AIA-4"}),
                    policy=RiskPolicy(owners={"EU-AI-ACT": "DPO"}), today=TODAY)  # fmt: skip
    assert [i.id for i in verdict.items] == ["control:AIA-4"]
    assert verdict.items[0].owner == "DPO"
    assert verdict.items[0].severity is Severity.LOW  # only organisational kinds lacking


def test_an_unowned_finding_says_so() -> None:
    verdict = judge(steps=(_redteam(_row("jailbreak", 0.9, 1.0, 30)),), controls=(),
                    applicable=frozenset(), policy=RiskPolicy(), today=TODAY)  # fmt: skip
    assert verdict.items[0].owner.startswith("unassigned")


@pytest.mark.parametrize("days", [1, 5])
def test_remediation_days_set_the_due_date(days: int) -> None:
    policy = dataclasses.replace(RiskPolicy(), remediation_days={Severity.HIGH: days})
    verdict = _judge(_redteam(_row("jailbreak", 0.9, 1.0, 30)), policy=policy)
    assert verdict.items[0].due == TODAY + dt.timedelta(days=days)
