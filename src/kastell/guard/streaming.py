"""Incremental output screening for streamed answers, with a hold-back window.

The upstream's text deltas are accumulated; after each delta the whole answer so far is
screened, and only the part that is at least ``holdback`` characters behind the end is released.
A rule that matches a bounded pattern (a canary, a key header, an IBAN) therefore stops the
stream before any of the match reaches the client, as long as the pattern is no longer than the
window. What was released is recorded exactly, for the audit log.
"""

from __future__ import annotations

from kastell.guard.interface import Action, Detection, Direction, ScanContext, TextVerdict
from kastell.guard.pipeline import Screener

__all__ = ["StreamScreen"]


class StreamScreen:
    """Screens one streamed answer; ``feed`` returns text that is safe to send now."""

    def __init__(self, screener: Screener, context: ScanContext, holdback: int) -> None:
        self._screener = screener
        self._context = context
        self._holdback = holdback
        self._raw: list[str] = []
        self.sent = ""
        """Exactly the text released so far."""
        self.verdict = TextVerdict(Action.ALLOW, (), "")
        """The latest verdict on the whole answer so far."""

    @property
    def blocked(self) -> bool:
        """True once a blocking rule fired; nothing more will be released."""
        return self.verdict.action is Action.BLOCK

    def feed(self, delta: str) -> str:
        """Add a delta; return the text that can be released now ("" when blocked)."""
        if self.blocked:
            return ""
        self._raw.append(delta)
        return self._release(final=False)

    def finish(self) -> str:
        """The answer ended: screen it whole and return the rest to release."""
        if self.blocked:
            return ""
        return self._release(final=True)

    def _release(self, *, final: bool) -> str:
        text = "".join(self._raw)
        verdict = self._screener.screen_text(text, Direction.OUTPUT, self._context)
        self.verdict = verdict
        if verdict.action is Action.BLOCK:
            return ""
        processed = verdict.text
        if not processed.startswith(self.sent):
            # a redaction reached back into text already released: stop (fail closed)
            reason = (
                verdict.detections[0]
                if verdict.detections
                else Detection(
                    "guard.output.stream_window", "redaction needed in text already sent"
                )
            )
            self.verdict = TextVerdict(Action.BLOCK, (reason, *verdict.detections), processed)
            return ""
        end = len(processed) if final else max(len(self.sent), len(processed) - self._holdback)
        piece = processed[len(self.sent) : end]
        self.sent += piece
        return piece
