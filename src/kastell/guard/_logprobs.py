"""Log-probabilities follow the text they describe, never ahead of it (private).

A choice's ``logprobs`` carry one entry per generated token (``logprobs.content[]`` for the
content, ``logprobs.refusal[]`` for a refusal), each with the token's text. Relaying them as
they come would send text the screen is still holding back, or withholding outright: a canary
kept out of the content would come back token by token. So an entry is released only once the
text released for its field covers it: the tokens released so far, concatenated, plus this
one, must be a prefix of that text. Once the tokens stop matching the released text (a
redaction replaced what they spell, or the upstream's tokens do not concatenate to its text, as
with a character split over byte-level tokens) the choice's log-probabilities stop for good:
nothing after the mismatch can be checked (fail closed).

The alternatives of an entry (``top_logprobs``) describe a position already released and go
out with it.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping
from typing import Any

__all__ = ["LOGPROB_FIELDS", "LogprobsHold", "logprobs_covered"]

LOGPROB_FIELDS = ("content", "refusal")
"""The text fields that have per-token entries in a choice's ``logprobs``."""


class LogprobsHold:
    """Holds back one choice's logprob entries until the released text covers their tokens."""

    def __init__(self) -> None:
        self._pending: dict[str, collections.deque[dict[str, Any]]] = {
            field: collections.deque() for field in LOGPROB_FIELDS
        }
        self._covered = dict.fromkeys(LOGPROB_FIELDS, 0)
        self.received = 0
        """Entries the upstream sent for this choice (well-formed or not)."""
        self.stopped: str | None = None
        """Why this choice's log-probabilities stopped (None: they still flow)."""

    def feed(self, logprobs: Any) -> None:
        """Hold the entries of one chunk's (or one answer's) choice-level ``logprobs``."""
        if logprobs is None:
            return
        if not isinstance(logprobs, dict):
            self._stop("logprobs that are not an object", 1)
            return
        unknown = [key for key, value in logprobs.items() if key not in LOGPROB_FIELDS and value]
        if unknown:
            self._stop(f"logprobs with fields the guard does not screen: {sorted(unknown)}", 1)
            return
        for field in LOGPROB_FIELDS:
            entries = logprobs.get(field)
            if entries is None:
                continue
            if not isinstance(entries, list):
                self._stop(f"logprobs.{field} that is not a list", 1)
                return
            for entry in entries:
                if not isinstance(entry, dict) or not isinstance(entry.get("token"), str):
                    self._stop(f"a logprobs.{field} entry without a string token", len(entries))
                    return
            self.received += len(entries)
            if self.stopped is None:
                self._pending[field].extend(entries)

    def release(self, released: Mapping[str, str], *, final: bool) -> dict[str, Any] | None:
        """The entries the released texts now cover, as a ``logprobs`` object (None: none).

        ``released`` maps a field to all of its text released so far. ``final``: that text is
        complete, so an entry it does not cover will never be covered.
        """
        out: dict[str, list[dict[str, Any]]] = {}
        for field in LOGPROB_FIELDS:
            text = released.get(field, "")
            pending = self._pending[field]
            while pending and self.stopped is None:
                token: str = pending[0]["token"]
                covered = self._covered[field]
                if text.startswith(token, covered):
                    self._covered[field] = covered + len(token)
                    out.setdefault(field, []).append(pending.popleft())
                elif (
                    not final
                    and len(text) - covered < len(token)
                    and token.startswith(text[covered:])
                ):
                    break  # the rest of its text is still held back
                else:
                    self._stop(f"logprobs.{field} tokens do not match the text sent", 0)
        if not out:
            return None
        return {field: out.get(field) for field in LOGPROB_FIELDS}

    @property
    def held(self) -> int:
        """Entries still held back."""
        return sum(len(pending) for pending in self._pending.values())

    def _stop(self, why: str, malformed: int) -> None:
        self.received += malformed
        if self.stopped is None:
            self.stopped = why
        for pending in self._pending.values():
            pending.clear()


def logprobs_covered(logprobs: Any, texts: Mapping[str, str]) -> bool:
    """True if every entry of a whole answer's ``logprobs`` is covered by the text sent.

    ``texts`` maps ``content`` / ``refusal`` to the text the client gets in that field.
    """
    hold = LogprobsHold()
    hold.feed(logprobs)
    hold.release(texts, final=True)
    return hold.stopped is None
