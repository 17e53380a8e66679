"""The guard step: the guard's own loader and posture lint, recorded as evidence.

The guard's ``load_config`` validates the file (a malformed policy is a usage error of the
guard, reported as "not checked") and ``kastell.guard.lint.lint_config`` (the same checks as
``kastell guard lint``) flags settings that weaken the controls the guard is evidence for. The
step fails on any finding of medium severity or worse.
"""

from __future__ import annotations

import datetime as dt
import pathlib

from kastell.comply._evidence import step_result
from kastell.comply.interface import StepResult
from kastell.types import EvidenceKind, Severity


def lint_guard_step(policy: pathlib.Path, now: dt.datetime) -> StepResult:
    """Load the guard policy with the guard's loader and judge its posture."""
    from kastell.guard.config import load_config
    from kastell.guard.lint import lint_config

    config = load_config(policy)
    findings = lint_config(config, policy.name)
    document = {
        "policy_file": policy.name,
        "config": config.model_dump(mode="json"),
        "findings": [f.to_dict() for f in findings],
        "posture": {
            "policies": sorted(config.policies),
            "tenants": len(config.tenants),
            "audit_log": config.audit is not None,
            "canaries": {n: p.canary for n, p in config.policies.items()},
        },
    }
    passed = not any(f.severity >= Severity.MEDIUM for f in findings)
    detail = f"{len(config.policies)} policy(ies), {len(config.tenants)} tenant(s): "
    detail += f"{len(findings)} posture finding(s)" if findings else "no posture findings"
    return step_result(
        "guard",
        passed,
        detail,
        [(EvidenceKind.GUARD_POLICY, None, policy.name, document)],
        now,
        findings=findings,
        data=document,
    )
