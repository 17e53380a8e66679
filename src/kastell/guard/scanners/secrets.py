# ruff: noqa: E501 - regex tables read better unwrapped
"""Secrets: private keys, cloud credentials and API tokens of common providers."""

from __future__ import annotations

import re
from typing import ClassVar

from kastell.guard.interface import Action, Detection, Direction, RuleInfo, ScanContext
from kastell.guard.scanners._text import rule
from kastell.types import Severity

__all__ = ["SecretScanner"]

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "private_key",
        re.compile(
            r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----"
            r"(?:[\s\S]{0,8000}?-----END [A-Z ]*PRIVATE KEY(?: BLOCK)?-----)?"
        ),
    ),
    ("aws_access_key_id", re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b")),
    (
        "aws_secret_access_key",
        re.compile(r"(?i:aws_?secret_?access_?key)\W{0,4}[A-Za-z0-9/+=]{40}\b"),
    ),
    (
        "github_token",
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{60,255})\b"),
    ),
    ("gitlab_token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}\b")),
    (
        "openai_key",
        re.compile(
            r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,}\b"
            r"|\bsk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,}\b"
        ),
    ),
    ("anthropic_key", re.compile(r"\bsk-ant-(?:api|admin)\d{2}-[A-Za-z0-9_-]{80,}\b")),
    ("google_api_key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("slack_token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b")),
    ("stripe_key", re.compile(r"\b[sr]k_live_[A-Za-z0-9]{20,}\b")),
    ("azure_storage_key", re.compile(r"AccountKey=[A-Za-z0-9+/=]{80,90}")),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}\b")),
    ("hf_token", re.compile(r"\bhf_[A-Za-z]{34}\b")),
    (
        "password_assignment",
        re.compile(
            r"(?i:\b(?:password|passwd|pwd|passwort|mot de passe|contrasena|contraseña)\s*[:=]\s*)[^\s'\"]{6,}"
        ),
    ),
]


class SecretScanner:
    """Finds credentials; the default policy blocks input and output containing them."""

    RULE = "guard.secret"
    name: ClassVar[str] = "secrets"
    version: ClassVar[str] = "1"
    directions: ClassVar[frozenset[Direction]] = frozenset({Direction.INPUT, Direction.OUTPUT})
    rules: ClassVar[tuple[RuleInfo, ...]] = (
        rule(
            RULE,
            "Secret or credential",
            Severity.HIGH,
            ("OWASP-LLM02", "ATLAS-AML.T0057", "CRA-AI-I.2.e", "NIS2-21.2.i"),
            Action.BLOCK,
        ),
    )

    def scan(self, text: str, context: ScanContext) -> list[Detection]:
        """Return one detection naming the kinds of secrets and their spans."""
        spans: list[tuple[int, int]] = []
        kinds: list[str] = []
        for kind, pattern in _PATTERNS:
            for match in pattern.finditer(text):
                spans.append(match.span())
                kinds.append(kind)
        if not spans:
            return []
        what = ", ".join(sorted(set(kinds)))
        return [Detection(self.RULE, f"secret: {what}", tuple(sorted(spans)))]
