"""The guard step: read the runtime guard's policy with the guard's own loader and judge posture.

The guard's ``load_config`` validates the file (a malformed policy is a usage error of the
guard, reported as "not checked"); on top of it this step flags settings that weaken the controls
the guard is evidence for: no audit log, canaries off, attack rules overridden to ``allow``,
unsigned local models, plain-HTTP remote upstreams, full-text logging.
"""

from __future__ import annotations

import datetime as dt
import pathlib
from typing import Any

from kastell.comply._evidence import step_result
from kastell.comply.interface import StepResult
from kastell.types import ControlId, EvidenceKind, Finding, Location, Severity


def _ids(*names: str) -> tuple[ControlId, ...]:
    return tuple(ControlId(n) for n in names)


def _finding(
    rule: str,
    severity: Severity,
    title: str,
    message: str,
    where: str,
    mappings: tuple[ControlId, ...],
) -> Finding:
    return Finding(f"KS-GUARD-{rule}", severity, title, message, Location(where), mappings)


def _policy_findings(config: Any, where: str) -> list[Finding]:
    from kastell.guard.interface import Action
    from kastell.guard.scanners.registry import all_rules

    rules = all_rules()
    found = []
    for name, policy in config.policies.items():
        if not policy.canary:
            found.append(
                _finding(
                    "CANARY-OFF",
                    Severity.MEDIUM,
                    "Canaries disabled",
                    f"policy {name!r} plants no canary: prompt leaks go unseen",
                    where,
                    _ids("OWASP-LLM07", "ATLAS-AML.T0056", "AIA-15.5.CA"),
                )
            )
        if policy.full_text_audit:
            found.append(
                _finding(
                    "FULL-TEXT-AUDIT",
                    Severity.LOW,
                    "Full prompt text is logged",
                    f"policy {name!r} keeps full text in the audit log",
                    where,
                    _ids("CRA-AI-I.2.g"),
                )
            )
        for rule_id, action in policy.overrides().items():
            info = rules.get(rule_id)
            if info is not None and action is Action.ALLOW and info.default_action > Action.ALLOW:
                found.append(
                    _finding(
                        "RULE-ALLOWED",
                        Severity.MEDIUM,
                        "Screening rule switched off",
                        f"policy {name!r} allows {rule_id} ({info.title})",
                        where,
                        info.mappings,
                    )
                )
    return found


def _upstream_findings(config: Any, where: str) -> list[Finding]:
    found = []
    for name, upstream in config.upstreams.items():
        if upstream.type == "local" and not upstream.require_signature:
            found.append(
                _finding(
                    "UNSIGNED-MODEL",
                    Severity.HIGH,
                    "Model served unverified",
                    f"local upstream {name!r} does not require a signature",
                    where,
                    _ids("AIA-15.5.MP", "OWASP-LLM03", "CRA-AI-I.2.f"),
                )
            )
        url = getattr(upstream, "base_url", "") or ""
        loopback = url.startswith(("http://127.", "http://localhost", "http://[::1]"))
        if url.startswith("http://") and not loopback:
            found.append(
                _finding(
                    "PLAIN-HTTP",
                    Severity.MEDIUM,
                    "Upstream over plain HTTP",
                    f"upstream {name!r} is reached over {url}",
                    where,
                    _ids("CRA-AI-I.2.e", "ENISA-AITL-EIH"),
                )
            )
    return found


def lint_guard_step(policy: pathlib.Path, now: dt.datetime) -> StepResult:
    """Load the guard policy with the guard's loader and judge its posture."""
    from kastell.guard.config import load_config

    config = load_config(policy)
    where = str(policy)
    findings = _policy_findings(config, where) + _upstream_findings(config, where)
    if config.audit is None:
        findings.append(
            _finding(
                "AUDIT-OFF",
                Severity.HIGH,
                "No audit log",
                "the guard keeps no tamper-evident audit log",
                where,
                _ids("AIA-12.1", "CRA-AI-I.2.l", "NIS2-21.2.b"),
            )
        )
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
