"""Lint a guard config: the security posture it gives (used by ``kastell assess``).

Each check turns a weak setting into a ``Finding`` mapped to catalog controls: no audit log,
a screening rule switched off, injection only flagged, canaries off, an unsigned local model,
plain HTTP to a remote upstream, a remote upstream whose model is not pinned (its records carry
no served model digest), very loose rate limits, full text kept in the audit log.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator

from kastell.guard.config import GuardConfig, LocalUpstreamSettings, OpenAIUpstreamSettings
from kastell.guard.interface import Action
from kastell.guard.scanners.injection import PromptInjectionScanner
from kastell.guard.scanners.registry import all_rules
from kastell.types import ControlId, Finding, Location, Severity

__all__ = ["LINT_RULES", "lint_config"]

LINT_RULES: dict[str, tuple[str, Severity, tuple[str, ...]]] = {
    "guard.lint.no_audit_log": (
        "No audit log configured",
        Severity.HIGH,
        ("AIA-12.1", "AIA-19", "NIS2-21.2.b"),
    ),
    "guard.lint.rule_disabled": (
        "A screening rule is switched off",
        Severity.MEDIUM,
        ("AIA-15.5",),
    ),
    "guard.lint.injection_not_blocked": (
        "Prompt injection is not blocked",
        Severity.HIGH,
        ("OWASP-LLM01", "AIA-15.5.AE"),
    ),
    "guard.lint.canary_off": (
        "No canary in the system prompt",
        Severity.LOW,
        ("OWASP-LLM07", "ATLAS-AML.T0056"),
    ),
    "guard.lint.unsigned_model": (
        "Local model served without signature check",
        Severity.HIGH,
        ("AIA-15.5.MP", "CRA-AI-I.2.f", "OWASP-LLM03"),
    ),
    "guard.lint.plain_http_upstream": (
        "Remote upstream over plain HTTP",
        Severity.MEDIUM,
        ("CRA-AI-I.2.e", "NIS2-21.2.h"),
    ),
    "guard.lint.unpinned_remote_model": (
        "Remote upstream's model not pinned",
        Severity.LOW,
        ("AIA-12.2", "OWASP-LLM03"),
    ),
    "guard.lint.loose_rate_limit": (
        "Rate limit allows very high volume",
        Severity.LOW,
        ("OWASP-LLM10", "ATLAS-AML.T0024"),
    ),
    "guard.lint.full_text_audit": (
        "Audit log keeps full prompt text",
        Severity.LOW,
        ("AIA-26.6", "NIS2-21.2.i"),
    ),
}
_LOOSE_PER_MINUTE = 6000.0
_LOOPBACK = ("127.", "localhost", "::1", "[::1]")


def _finding(rule_id: str, message: str, location: str) -> Finding:
    title, severity, mappings = LINT_RULES[rule_id]
    return Finding(
        rule_id=rule_id,
        severity=severity,
        title=title,
        message=message,
        location=Location(location),
        mappings=tuple(ControlId(m) for m in mappings),
    )


def _policy_findings(config: GuardConfig, source: str) -> Iterator[Finding]:
    rules = all_rules()
    injection = {PromptInjectionScanner.INJECTION, PromptInjectionScanner.JAILBREAK}
    for name, policy in config.policies.items():
        for rule_id, action_text in policy.actions.items():
            action = Action[action_text.upper()]
            where = f"{source}#policies.{name}.actions.{rule_id}"
            if action is Action.ALLOW and rules[rule_id].default_action is not Action.ALLOW:
                yield _finding("guard.lint.rule_disabled", f"{rule_id} is set to allow", where)
            elif rule_id in injection and action < Action.BLOCK:
                yield _finding(
                    "guard.lint.injection_not_blocked", f"{rule_id} is only {action.label}", where
                )
        if not policy.canary:
            yield _finding(
                "guard.lint.canary_off",
                f"policy {name} plants no canary",
                f"{source}#policies.{name}.canary",
            )
        if policy.full_text_audit:
            yield _finding(
                "guard.lint.full_text_audit",
                f"policy {name} keeps full text in the audit log",
                f"{source}#policies.{name}.full_text_audit",
            )


def _upstream_findings(config: GuardConfig, source: str) -> Iterator[Finding]:
    for name, upstream in config.upstreams.items():
        where = f"{source}#upstreams.{name}"
        if isinstance(upstream, LocalUpstreamSettings) and not upstream.require_signature:
            yield _finding("guard.lint.unsigned_model", f"upstream {name} is not verified", where)
        if isinstance(upstream, OpenAIUpstreamSettings):
            url = urllib.parse.urlsplit(upstream.base_url)
            if url.scheme == "http" and not (url.hostname or "").startswith(_LOOPBACK):
                yield _finding(
                    "guard.lint.plain_http_upstream", f"{upstream.base_url} is not HTTPS", where
                )
            if upstream.model_signature is None and upstream.declared_model_digest is None:
                yield _finding(
                    "guard.lint.unpinned_remote_model",
                    f"upstream {name} has neither model_signature nor declared_model_digest: "
                    "its audit records name no served model",
                    where,
                )


def lint_config(config: GuardConfig, source: str = "guard.yaml") -> list[Finding]:
    """Return the posture findings of a validated config, most severe first."""
    findings = [*_policy_findings(config, source), *_upstream_findings(config, source)]
    if config.audit is None:
        findings.append(
            _finding("guard.lint.no_audit_log", "exchanges are not logged", f"{source}#audit")
        )
    for name, tenant in config.tenants.items():
        if tenant.rate_limit.per_minute > _LOOSE_PER_MINUTE:
            findings.append(
                _finding(
                    "guard.lint.loose_rate_limit",
                    f"tenant {name} may send {tenant.rate_limit.per_minute:g} requests a minute",
                    f"{source}#tenants.{name}.rate_limit",
                )
            )
    return sorted(findings, key=lambda f: -f.severity)
