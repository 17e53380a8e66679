# ruff: noqa: E501 - regex tables read better unwrapped
"""Secrets: private keys, cloud credentials and API tokens of common providers."""

from __future__ import annotations

import re

from kastell.text.interface import Family, TextMatch

__all__ = ["SECRET_KINDS", "find_secrets"]

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

SECRET_KINDS = tuple(kind for kind, _ in _PATTERNS)
"""The kinds ``find_secrets`` reports (``TextMatch.rule``)."""


def find_secrets(text: str) -> list[TextMatch]:
    """Every credential-shaped run in ``text`` (kinds may overlap: a JWT inside a password)."""
    return [
        TextMatch(Family.SECRET, kind, match.span(), view_span=match.span())
        for kind, pattern in _PATTERNS
        for match in pattern.finditer(text)
    ]
