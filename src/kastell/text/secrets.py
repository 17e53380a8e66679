# ruff: noqa: E501 - regex tables read better unwrapped
"""Secrets: private keys, cloud credentials and API tokens of common providers."""

from __future__ import annotations

import re

from kastell.text.interface import Family, TextMatch, View
from kastell.text.views import screen_views

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

# The same credentials with every separator gone, for texts that spell a key one character at
# a time ("s-k---p-r-o-j-...", "s k - p r o j"): read over the letters and digits of the
# ``spaced`` view only, and counted only when the random part mixes digits, upper and lower case
# (so words that run together cannot look like a key).
_COMPACT_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("openai_key", re.compile(r"sk(?:proj|svcacct|admin)([A-Za-z0-9]{40,})")),
    ("anthropic_key", re.compile(r"skant(?:api|admin)\d{2}([A-Za-z0-9]{80,})")),
    ("github_token", re.compile(r"(?:gh[pousr]|githubpat)([A-Za-z0-9]{36,255})")),
    ("gitlab_token", re.compile(r"glpat([A-Za-z0-9]{20,})")),
    ("slack_token", re.compile(r"xox[abposr]([A-Za-z0-9]{10,})")),
    ("stripe_key", re.compile(r"[sr]klive([A-Za-z0-9]{20,})")),
    ("google_api_key", re.compile(r"AIza([0-9A-Za-z]{35})")),
]
_MIN_MIXED = 3


def _mixed(tail: str) -> bool:
    return (
        sum(ch.isdigit() for ch in tail) >= _MIN_MIXED
        and sum(ch.isupper() for ch in tail) >= _MIN_MIXED
        and sum(ch.islower() for ch in tail) >= _MIN_MIXED
    )


def _compact_hits(view: View) -> list[TextMatch]:
    keep = [i for i, ch in enumerate(view.text) if ch.isalnum()]
    compact = "".join(view.text[i] for i in keep)
    found: list[TextMatch] = []
    for kind, pattern in _COMPACT_PATTERNS:
        for match in pattern.finditer(compact):
            if _mixed(match.group(1)):
                start, end = keep[match.start()], keep[match.end() - 1] + 1
                source = view.source_span((start, end))
                found.append(TextMatch(Family.SECRET, kind, source, view.name, "", (start, end)))
    return found


SECRET_KINDS = tuple(kind for kind, _ in _PATTERNS)
"""The kinds ``find_secrets`` reports (``TextMatch.rule``)."""


def find_secrets(text: str) -> list[TextMatch]:
    """Every credential-shaped run in ``text`` or in a view of it (kinds may overlap).

    As ``find_pii``: the text as written, then its normalised, de-spaced and decoded views; a
    kind found already is not reported again from a transformed or decoded view.
    """
    found: list[TextMatch] = []
    for view in screen_views(text).views:
        kinds = {m.rule for m in found}
        whole_view = not view.positions and view.name != "plain"
        for kind, pattern in _PATTERNS:
            if whole_view and kind in kinds:
                continue
            for match in pattern.finditer(view.text):
                source = view.source_span(match.span())
                if any(m.span == source and m.rule == kind for m in found):
                    continue
                found.append(TextMatch(Family.SECRET, kind, source, view.name, "", match.span()))
        if view.name == "spaced":
            seen = {m.rule for m in found}
            found.extend(m for m in _compact_hits(view) if m.rule not in seen)
    return found
