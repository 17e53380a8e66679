"""Interfaces of the text-detection core: result types, views and the base error.

The error tree of the text core::

    TextError (KastellError)
     ├── TextDataError  (+ CheckError, exit 3): a data file the core ships is malformed
     └── TextUsageError (+ UsageError, exit 2): a caller passed an unusable argument

Every detector of the core returns ``TextMatch`` values (a family, a rule id inside the family,
the span in the original text, and the *view* the match was found in); the leak matchers return
``LeakMatch`` values that also name which secret leaked and in which form. A *view* is one way
of reading the text (as written, normalised, ROT13, reversed, a decoded base64 run, ...).
"""

from __future__ import annotations

import dataclasses
import enum

from kastell.errors import CheckError, KastellError, UsageError

__all__ = [
    "Family",
    "LeakMatch",
    "TextDataError",
    "TextError",
    "TextMatch",
    "TextUsageError",
    "View",
]


class TextError(KastellError):
    """Base of every error the text core raises."""


class TextDataError(TextError, CheckError):
    """A data file shipped with the core (classifier model, tables) is malformed."""

    default_hint = "Reinstall kastell; the data files ship in kastell/text/data/."


class TextUsageError(TextError, UsageError):
    """A caller passed an argument the core cannot use (for example an empty secret)."""

    default_hint = "Pass non-empty secrets and positive bounds."


class Family(enum.StrEnum):
    """The detector families of the core; ``TextMatch.family`` is one of them."""

    INJECTION = "injection"
    """An instruction that tries to override the system prompt or extract it."""
    JAILBREAK = "jailbreak"
    """A persona or frame that tries to unlock unrestricted behaviour."""
    ENCODED = "encoded"
    """An injection hidden behind an encoding or a transform (the view names which)."""
    HIDDEN = "hidden"
    """Invisible, tag or bidi-override characters."""
    PII = "pii"
    """Personal data in EU formats."""
    SECRET = "secret"
    """A credential of a known shape (API key, private key, token)."""
    LEAK = "leak"
    """A known secret (canary, key, value) given to a ``SecretMatcher`` was reproduced."""
    SYSTEM_PROMPT = "system_prompt"
    """A run of the system prompt was reproduced."""
    TOXICITY = "toxicity"
    """Insults, slurs and threats."""
    LIMIT = "limit"
    """A normalisation or decoding bound was crossed: part of the text was not fully read."""


@dataclasses.dataclass(frozen=True)
class View:
    """One reading of a text.

    ``origin`` is the span of the original text this view was derived from: the whole text for
    whole-text transforms (normalised, ROT13, reversed), the run for a decoded run.
    ``name`` is ``plain`` for the text as written, else the chain of transforms joined by ``/``
    (``base64``, ``base64/hex``, ``rot13``, ``reversed``, ``normalised``, ...).
    """

    name: str
    text: str
    origin: tuple[int, int]
    positions: tuple[int, ...] = ()
    """For character-wise views (``normalised``, ``spaced``, ``leet``): the index in the
    original text of every character of the view; empty when there is no such map."""

    def source_span(self, span: tuple[int, int]) -> tuple[int, int]:
        """The span of the original text that ``span`` of this view came from."""
        if self.name == "plain":
            return span
        if not self.positions or span[0] >= span[1] or span[1] > len(self.positions):
            return self.origin
        return (self.positions[span[0]], self.positions[span[1] - 1] + 1)


@dataclasses.dataclass(frozen=True)
class TextMatch:
    """One detector hit.

    ``span`` is in the original text (exact for the ``plain`` view, the view's ``origin``
    otherwise); ``view_span`` is in the view's own text.
    """

    family: Family
    rule: str
    """The rule inside the family: a pattern family, a PII kind, a secret kind, ..."""
    span: tuple[int, int]
    view: str = "plain"
    detail: str = ""
    view_span: tuple[int, int] = (0, 0)


@dataclasses.dataclass(frozen=True)
class LeakMatch:
    """A known secret reproduced in a text.

    ``form`` is ``exact`` (as given, case-insensitive), ``normalised`` (after removing
    separators, invisible characters and confusables), ``encoded:<view>`` (in a decoded or
    transformed view, e.g. ``encoded:base64``, ``encoded:reversed``) or ``partial`` (a long
    enough piece of the secret's random part).
    """

    secret: int
    """Index of the secret in the list given to the matcher."""
    label: str
    """The caller's name for the secret (defaults to ``secret[<index>]``, never the value)."""
    form: str
    span: tuple[int, int]
    view: str = "plain"
