"""The main job: assess a deployment descriptor, step by step, into evidence and control results.

Order: verify model integrity -> verify the provenance chain -> build the AI-BOM -> scan model
files -> red-team the target -> lint the guard policy -> verify the audit log -> check residency
-> record manual evidence -> store evidence -> evaluate every control. (The CLI writes the
report from the returned ``Assessment``.)

A step that raises a ``VerificationError`` failed; any other ``KastellError`` (or a capability
that is not part of this build) means "not checked", which is never a pass. Exit code: 1 when a
step failed, else 3 when a step could not be checked, else 0.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import pathlib
from collections.abc import Callable, Mapping, Sequence

from kastell.comply.acceptance import Acceptance, AcceptanceProblem, verify_acceptances
from kastell.comply.catalog import Catalog, load_catalog
from kastell.comply.clocks import Clock, compute_clocks
from kastell.comply.descriptor import Descriptor
from kastell.comply.evaluate import FreshnessPolicy, evaluate_controls
from kastell.comply.evidence_store import EvidenceStore
from kastell.comply.incident import Incident
from kastell.comply.interface import (
    ControlResult,
    StepOutcome,
    StepResult,
    StepUnavailableError,
    StoredEvidence,
)
from kastell.comply.residency import (
    EU_EEA,
    ResidencyDeclaration,
    ResidencyPolicy,
    Resolver,
)
from kastell.comply.scope import ControlScope, applicable_ids, scope_controls
from kastell.comply.steps import (
    ManualRecord,
    check_residency_step,
    record_manual_evidence,
    scan_model_files,
    verify_model_integrity,
    verify_provenance_chain,
)
from kastell.comply.verdict import RiskPolicy, Verdict, judge
from kastell.errors import ExitCode, KastellError, VerificationError
from kastell.types import Severity, Subject

__all__ = [
    "STEP_NAMES",
    "Assessment",
    "StepRunner",
    "assessment_exit_code",
    "load_acceptances",
    "plan_steps",
    "risk_policy",
    "run_assessment",
]

STEP_NAMES = (
    "integrity",
    "provenance",
    "ai-bom",
    "scan",
    "redteam",
    "guard",
    "audit log",
    "residency",
    "manual evidence",
)

StepRunner = Callable[[Descriptor, dt.datetime, Subject | None], StepResult]
"""One step: the descriptor, the assessment time and the verified model subject (if any)."""


@dataclasses.dataclass(frozen=True)
class Assessment:
    """Everything one assessment found: steps, recorded evidence, control results, incidents."""

    name: str
    started_at: dt.datetime
    finished_at: dt.datetime
    steps: tuple[StepResult, ...]
    recorded: tuple[StoredEvidence, ...]
    evidence: tuple[StoredEvidence, ...]
    """All evidence the controls were evaluated from (this run's and earlier records)."""
    controls: tuple[ControlResult, ...]
    catalog: Catalog
    incidents: tuple[tuple[Incident, tuple[Clock, ...]], ...]
    descriptor: Descriptor
    scopes: tuple[ControlScope, ...] = ()
    """The applicability of every control (same order as ``controls``)."""
    verdict: Verdict | None = None

    @property
    def exit_code(self) -> ExitCode:
        """The verdict's code: 0 pass, 1 an open finding, 3 incomplete or inconclusive."""
        if self.verdict is None:
            return assessment_exit_code(self.steps)
        return self.verdict.exit_code

    @property
    def gates_exit_code(self) -> ExitCode:
        """The steps alone: 0 every step passed, 1 a step failed, 3 one was not checked."""
        return assessment_exit_code(self.steps)


def assessment_exit_code(steps: Sequence[StepResult]) -> ExitCode:
    """1 when a step failed, else 3 when one was not checked, else 0."""
    outcomes = {step.outcome for step in steps}
    if StepOutcome.FAILED in outcomes:
        return ExitCode.FAILED
    if StepOutcome.NOT_CHECKED in outcomes:
        return ExitCode.INCOMPLETE
    return ExitCode.OK


def _skipped(name: str, why: str) -> StepResult:
    return StepResult(name, StepOutcome.SKIPPED, why)


def _integrity(d: Descriptor, now: dt.datetime, _: Subject | None) -> StepResult:
    model = d.model
    if model.path is None or model.signature is None:
        raise StepUnavailableError(
            "no model.path and model.signature to verify",
            hint="Sign the model (kastell sign) and name the bundle in model.signature.",
        )
    keys = [d.resolve(k) for k in model.trusted_keys]
    return verify_model_integrity(d.resolve(model.path), d.resolve(model.signature), keys, now)


def _provenance(d: Descriptor, now: dt.datetime, _: Subject | None) -> StepResult:
    if d.provenance is None:
        raise StepUnavailableError(
            "no provenance section: the chain deployment -> model -> datasets is unverified",
            hint="Attest (kastell attest) and name the deployment statement and trust policy.",
        )
    p = d.provenance
    return verify_provenance_chain(
        d.resolve(p.deployment),
        d.resolve(p.trust_policy),
        now,
        signature=d.resolve(d.model.signature) if d.model.signature else None,
        model_dir=d.resolve(d.model.path) if d.model.path else None,
        dataset_dirs=[d.resolve(x) for x in p.dataset_dirs],
    )


def _bom(d: Descriptor, now: dt.datetime, subject: Subject | None) -> StepResult:
    if d.bom is None or not d.bom.enabled:
        return _skipped("ai-bom", "no bom section in the descriptor")
    if d.model.path is None or d.model.signature is None:
        raise StepUnavailableError("the AI-BOM needs model.path and model.signature")
    from kastell.comply._bom import build_bom_step

    p = d.provenance
    return build_bom_step(
        d.resolve(d.model.path), d.resolve(d.model.signature),
        d.resolve(d.output.dir) / "bom.json", now,
        dataset_attestations=[d.resolve(x) for x in d.bom.dataset_attestations],
        attestations=[d.resolve(p.deployment)] if p else [],
        model_card=d.resolve(d.bom.model_card) if d.bom.model_card else None,
        trust_policy=d.resolve(p.trust_policy) if p else None,
        include_environment=d.bom.include_environment, subject=subject,
    )  # fmt: skip


def _scan(d: Descriptor, now: dt.datetime, subject: Subject | None) -> StepResult:
    paths = [d.resolve(p) for p in d.scan.paths] or (
        [d.resolve(d.model.path)] if d.model.path else []
    )
    if not d.scan.enabled:
        return _skipped("scan", "disabled in the descriptor (scan.enabled: false)")
    if not paths:
        raise StepUnavailableError("nothing to scan: give model.path or scan.paths")
    policy = d.resolve(d.scan.policy) if d.scan.policy else None
    return scan_model_files(paths, now, policy=policy, subject=subject)


def _redteam(d: Descriptor, now: dt.datetime, subject: Subject | None) -> StepResult:
    if d.redteam is None:
        raise StepUnavailableError(
            "no redteam section: the model was not red-teamed",
            hint="Declare redteam: (suite, gates), or redteam: {enabled: false, reason: ...}.",
        )
    if not d.redteam.enabled:
        return _skipped("redteam", f"switched off in the descriptor: {d.redteam.reason}")
    from kastell.comply._redteam import run_redteam_step

    return run_redteam_step(d, now, subject)


def _guard(d: Descriptor, now: dt.datetime, _: Subject | None) -> StepResult:
    if d.guard is None:
        raise StepUnavailableError(
            "no guard section: the runtime guard policy was not checked",
            hint="Declare guard: {policy: ...}, or guard: {enabled: false, reason: ...}.",
        )
    if not d.guard.enabled or d.guard.policy is None:
        return _skipped("guard", f"switched off in the descriptor: {d.guard.reason}")
    from kastell.comply._guard import lint_guard_step

    return lint_guard_step(d.resolve(d.guard.policy), now)


def _audit(d: Descriptor, now: dt.datetime, _: Subject | None) -> StepResult:
    if d.audit is None:
        return _skipped("audit log", "no audit section in the descriptor")
    from kastell.comply._audit import verify_audit_step

    log = d.audit.log if "://" in d.audit.log else str(d.resolve(pathlib.Path(d.audit.log)))
    return verify_audit_step(log, [d.resolve(k) for k in d.audit.public_keys], now)


def _residency(
    resolver: Resolver | None,
) -> StepRunner:
    def run(d: Descriptor, now: dt.datetime, _: Subject | None) -> StepResult:
        if d.residency is None:
            raise StepUnavailableError(
                "no residency declarations: where weights, data, keys and logs live is unknown",
                hint="Add a residency section (docs/deployment-descriptor.md).",
            )
        r = d.residency
        policy = ResidencyPolicy(EU_EEA, EU_EEA)
        if r.policy is not None:
            policy = ResidencyPolicy(
                frozenset(c.upper() for c in r.policy.allowed_countries),
                frozenset(c.upper() for c in r.policy.allowed_jurisdictions),
                r.policy.name,
            )
        assets = [
            ResidencyDeclaration(
                a.name, a.kind, a.country, a.provider, a.provider_jurisdiction, a.host, a.networks
            )
            for a in r.assets
        ]
        resolve = resolver if r.resolve_endpoints else None
        return check_residency_step(assets, policy, now, resolve, _signed_residency(d))

    return run


def _signed_residency(d: Descriptor) -> Mapping[str, Mapping[str, str]] | None:
    """The residency in the signed deployment statement (its signature is the chain step's job)."""
    if d.provenance is None:
        return None
    from kastell.provenance.statement import read_signed_statement

    path = d.resolve(d.provenance.deployment)
    if not path.is_file():
        return None
    residency = read_signed_statement(path).predicate.get("residency")
    return residency if isinstance(residency, Mapping) else None


def _manual(d: Descriptor, now: dt.datetime, _: Subject | None) -> StepResult:
    docs = [ManualRecord(m.kind, d.resolve(m.path), m.title, m.controls, m.attester,
                         m.attester_role, m.approver, m.approver_role, m.valid_until)
            for m in d.evidence.manual]  # fmt: skip
    if not docs:
        return _skipped("manual evidence", "no evidence.manual documents in the descriptor")
    return record_manual_evidence(docs, now)


def plan_steps(resolver: Resolver | None = None) -> tuple[tuple[str, StepRunner], ...]:
    """The steps in order, with the real capability calls."""
    runners: tuple[StepRunner, ...] = (
        _integrity,
        _provenance,
        _bom,
        _scan,
        _redteam,
        _guard,
        _audit,
        _residency(resolver),
        _manual,
    )
    return tuple(zip(STEP_NAMES, runners, strict=True))


def _run_step(name: str, runner: StepRunner, d: Descriptor, now: dt.datetime,
              subject: Subject | None) -> StepResult:  # fmt: skip
    try:
        return runner(d, now, subject)
    except VerificationError as error:
        return StepResult(name, StepOutcome.FAILED, f"{error.message} ({error.diagnostics()})")
    except KastellError as error:
        return StepResult(name, StepOutcome.NOT_CHECKED, f"{error.message} ({error.diagnostics()})")
    except ImportError as error:
        return StepResult(
            name, StepOutcome.NOT_CHECKED, f"capability not available in this build: {error}"
        )


def run_assessment(
    descriptor: Descriptor,
    store: EvidenceStore,
    clock: Callable[[], dt.datetime],
    *,
    steps: Sequence[tuple[str, StepRunner]] | None = None,
    incidents: Sequence[Incident] = (),
    on_step: Callable[[str, StepResult | None], None] | None = None,
) -> Assessment:
    """Run every step, record its evidence in ``store``, and evaluate every control.

    Args:
        descriptor: the validated deployment descriptor.
        store: where evidence (and payloads) go, and where earlier evidence is read from.
        clock: the time source (assessment time, evidence time, freshness).
        steps: the steps to run (default: ``plan_steps()``, the real capabilities).
        incidents: incidents to show with their clocks in the report.
        on_step: progress callback, called with ``None`` before and the result after each step.
    """
    started = clock()
    results: list[StepResult] = []
    subject: Subject | None = None
    for name, runner in steps if steps is not None else plan_steps():
        if on_step:
            on_step(name, None)
        result = _run_step(name, runner, descriptor, clock(), subject)
        if name == "integrity" and result.outcome is StepOutcome.PASSED and result.evidence:
            subject = result.evidence[0].subject
        results.append(result)
        if on_step:
            on_step(name, result)
    recorded = tuple(
        store.record(item, step.payloads.get(str(item.payload_digest)))
        for step in results
        for item in step.evidence
    )
    now = clock()
    evidence = tuple(store.list())
    freshness = FreshnessPolicy(
        default=dt.timedelta(days=descriptor.evidence.freshness_days),
        organisational=dt.timedelta(days=descriptor.evidence.organisational_freshness_days),
    )
    catalog = load_catalog()
    controls = evaluate_controls(catalog, evidence, now, freshness)
    scopes = scope_controls(catalog, descriptor.scope, now.date())
    verdict = judge(
        steps=results, controls=controls, applicable=applicable_ids(scopes),
        policy=risk_policy(descriptor), today=now.date(),
        acceptances=load_acceptances(descriptor), category_mappings=_category_mappings(),
    )  # fmt: skip
    return Assessment(
        name=descriptor.name,
        started_at=started,
        finished_at=now,
        steps=tuple(results),
        recorded=recorded,
        evidence=evidence,
        controls=controls,
        catalog=catalog,
        incidents=tuple((i, compute_clocks(i, now)) for i in incidents),
        descriptor=descriptor,
        scopes=scopes,
        verdict=verdict,
    )


def risk_policy(descriptor: Descriptor) -> RiskPolicy:
    """The descriptor's ``risk`` section as a policy (appetite tightened by red-team gates)."""
    risk = descriptor.risk
    appetite = dict(risk.appetite)
    gates = descriptor.redteam.gates if descriptor.redteam else {}
    if isinstance(gates, Mapping):
        from kastell.comply.verdict import DEFAULT_APPETITE

        for name, rate in gates.items():
            current = appetite.get(name, DEFAULT_APPETITE.get(name))
            appetite[name] = rate if current is None else min(current, rate)
    days = {Severity[k.upper()]: v for k, v in risk.remediation_days.items()}
    return RiskPolicy(appetite, risk.min_attempts, dict(risk.owners), risk.default_owner, days)


def load_acceptances(descriptor: Descriptor) -> Sequence[Acceptance] | AcceptanceProblem:
    """The verified risk acceptances of the descriptor (none declared: none)."""
    risk = descriptor.risk
    if risk.acceptances is None:
        return ()
    from kastell.integrity.keys import read_public_key

    try:
        bundle = descriptor.resolve(risk.acceptances).read_bytes()
        keys = [read_public_key(descriptor.resolve(k)) for k in risk.acceptance_keys]
    except (OSError, KastellError) as error:
        return AcceptanceProblem(f"cannot read the risk acceptances or their keys: {error}")
    if descriptor.source_sha256 is None:
        return AcceptanceProblem("the descriptor was not read from a file: nothing to bind to")
    return verify_acceptances(bundle, keys, descriptor.source_sha256)


def _category_mappings() -> dict[str, tuple[str, ...]]:
    try:
        from kastell.comply._redteam import category_mappings
    except ImportError:
        return {}
    try:
        return {k: tuple(str(i) for i in v) for k, v in category_mappings().items()}
    except ImportError:
        return {}
