"""Incremental output screening for streamed answers, with a hold-back window.

The upstream's text deltas (the content, and apart from it a refusal: one ``StreamScreen``
each) are accumulated; each time at least half a window (``holdback // 2`` characters) of new
text has arrived, and at the end, the whole text so far is screened, and only the part that is
at least ``holdback`` characters behind the end is released. Screening per half window rather
than per delta keeps the cost of a long answer of small deltas down (the whole text is
screened each time) and releases nothing that was not screened. A rule that matches a
bounded pattern (a canary, a key header, an IBAN) therefore stops the stream before any of the
match reaches the client, as long as the pattern is no longer than the window. What was
released is recorded exactly, for the audit log. A text delta that is not a string cannot be
screened that way: it stops the stream (``UNSCREENABLE_RULE``, fail closed).

Tool calls are not released piece by piece: ``ToolCallScreen`` holds back every tool-call delta
of a choice until the call is complete (a later call index starts, the choice finishes or the
upstream ends), screens the whole call together with the choice's content and the calls already
released (``kastell.guard.answer_screen``), and releases it as one delta.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from kastell.guard.answer_screen import REFUSED_RULE, screen_choice, tool_call_record
from kastell.guard.interface import Action, Detection, Direction, ScanContext, TextVerdict
from kastell.guard.pipeline import Screener, ToolCall

__all__ = ["UNSCREENABLE_RULE", "ReleasedCall", "StreamScreen", "ToolCallScreen"]

UNSCREENABLE_RULE = "guard.output.unscreenable"
"""Rule of streamed text the gateway cannot screen before sending (a delta not a string)."""


class StreamScreen:
    """Screens one streamed answer; ``feed`` returns text that is safe to send now."""

    def __init__(self, screener: Screener, context: ScanContext, holdback: int) -> None:
        self._screener = screener
        self._context = context
        self._holdback = holdback
        self._raw: list[str] = []
        self._batch = max(1, holdback // 2)
        self._unscreened = 0
        """Characters received since the last screening."""
        self.sent = ""
        """Exactly the text released so far."""
        self.verdict = TextVerdict(Action.ALLOW, (), "")
        """The latest verdict on the whole answer so far."""

    @property
    def blocked(self) -> bool:
        """True once a blocking rule fired; nothing more will be released."""
        return self.verdict.action is Action.BLOCK

    @property
    def text(self) -> str:
        """The whole answer received so far, unscreened (released or held back)."""
        return "".join(self._raw)

    def feed(self, delta: str) -> str:
        """Add a delta; return the text that can be released now ("" when blocked)."""
        if self.blocked:
            return ""
        self._raw.append(delta)
        self._unscreened += len(delta)
        if self._unscreened < self._batch:
            return ""  # too little new text to screen again; nothing unscreened goes out
        return self._release(final=False)

    def finish(self) -> str:
        """The answer ended: screen it whole and return the rest to release."""
        if self.blocked:
            return ""
        return self._release(final=True)

    def refuse(self, rule: str, why: str) -> None:
        """Block this text for ``why``: nothing more of it will be released (fail closed)."""
        reason = Detection(rule, why)
        self.verdict = TextVerdict(Action.BLOCK, (reason, *self.verdict.detections), self.text)

    def _release(self, *, final: bool) -> str:
        self._unscreened = 0
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


@dataclasses.dataclass(frozen=True)
class ReleasedCall:
    """A tool call released whole: the delta that carries it and its audit record line."""

    delta: dict[str, Any]
    record: str
    """The call as sent, as a canonical JSON line (``tool_call_record``)."""


@dataclasses.dataclass
class _PendingCall:
    """A tool call whose pieces are still arriving."""

    index: int
    legacy: bool = False
    """A legacy ``function_call`` delta rather than an entry of ``tool_calls``."""
    call_id: str | None = None
    call_type: str | None = None
    name: list[str] = dataclasses.field(default_factory=list)
    arguments: list[str] = dataclasses.field(default_factory=list)

    def add(self, piece: dict[str, Any]) -> None:
        """Add one delta piece (``{"id", "type", "function": {"name", "arguments"}}``)."""
        if isinstance(piece.get("id"), str):
            self.call_id = piece["id"]
        if isinstance(piece.get("type"), str):
            self.call_type = piece["type"]
        function = piece if self.legacy else piece.get("function")
        if isinstance(function, dict):
            for key, parts in (("name", self.name), ("arguments", self.arguments)):
                if isinstance(function.get(key), str):
                    parts.append(function[key])

    def release(self, arguments: str) -> ReleasedCall:
        """The one delta that carries the whole call, with the screened arguments."""
        function = {"name": "".join(self.name), "arguments": arguments}
        if self.legacy:
            return ReleasedCall({"function_call": function}, tool_call_record(function))
        call: dict[str, Any] = {"index": self.index}
        if self.call_id is not None:
            call["id"] = self.call_id
        call["type"] = self.call_type or "function"
        call["function"] = function
        return ReleasedCall({"tool_calls": [call]}, tool_call_record(call))


class ToolCallScreen:
    """Holds back the tool-call deltas of one streamed choice; releases each call whole."""

    def __init__(self, screener: Screener, context: ScanContext) -> None:
        self._screener = screener
        self._context = context
        self._pending: dict[int, _PendingCall] = {}
        self._done: set[int] = set()
        self._released: list[ToolCall] = []
        self.detections: list[Detection] = []
        """Every detection of every screening of this choice's calls."""
        self.blocking_rule: str | None = None
        """The rule that refused a call; nothing more will be released."""

    @property
    def blocked(self) -> bool:
        """True once a call was refused."""
        return self.blocking_rule is not None

    def feed(self, delta: Mapping[str, Any], content: str) -> list[ReleasedCall]:
        """Hold a delta's tool-call pieces; return the calls a new call index completed.

        ``content`` is the choice's whole content so far, screened together with each call.
        """
        released: list[ReleasedCall] = []
        pieces = delta.get("tool_calls")
        for piece in pieces if isinstance(pieces, list) else [pieces]:
            if not isinstance(piece, dict) or self.blocked:
                continue
            index = piece.get("index", 0)
            index = index if isinstance(index, int) else 0
            if index not in self._pending:
                if index in self._done:
                    self._refuse("a piece of a tool call already sent arrived")
                    break
                # a new call completes every earlier one
                released += self._complete(content, [i for i in self._pending if i < index])
                self._pending[index] = _PendingCall(index)
            self._pending[index].add(piece)
        legacy = delta.get("function_call")
        if isinstance(legacy, dict):
            self._pending.setdefault(-1, _PendingCall(-1, legacy=True)).add(legacy)
        return [] if self.blocked else released

    def finish(self, content: str) -> list[ReleasedCall]:
        """The choice ended: screen and return every call still held back."""
        released = self._complete(content, list(self._pending))
        return [] if self.blocked else released

    def _complete(self, content: str, indices: list[int]) -> list[ReleasedCall]:
        released: list[ReleasedCall] = []
        for index in sorted(indices):
            if self.blocked:
                break
            pending = self._pending.pop(index)
            self._done.add(index)
            call = ToolCall("".join(pending.name), "".join(pending.arguments))
            verdict = screen_choice(self._screener, self._context, content, [*self._released, call])
            self.detections.extend(verdict.detections)
            if verdict.action is Action.BLOCK:
                self.blocking_rule = verdict.blocking_rule
                break
            arguments = verdict.arguments[-1]
            self._released.append(dataclasses.replace(call, arguments=arguments, frozen=True))
            released.append(pending.release(arguments))
        return released

    def _refuse(self, why: str) -> None:
        self.detections.insert(0, Detection(REFUSED_RULE, why))
        self.blocking_rule = REFUSED_RULE
