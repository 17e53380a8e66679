"""The screening pipeline: run the scanners on every message and apply the tenant policy.

Fail closed: if a scanner raises, the text is treated as blocked with rule
``guard.scanner_error`` and the error is reported, never swallowed.
"""

from __future__ import annotations

import bisect
import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

from kastell.guard.interface import (
    Action,
    Detection,
    Direction,
    ScanContext,
    Scanner,
    TextVerdict,
)
from kastell.guard.policy import GuardPolicy, redact

__all__ = ["SCANNER_ERROR_RULE", "JoinedVerdict", "MessageVerdict", "Screener", "message_texts"]

SCANNER_ERROR_RULE = "guard.scanner_error"
_SCANNER_FAULTS = (
    ArithmeticError,
    LookupError,
    ValueError,
    TypeError,
    RuntimeError,
    re.error,
    RecursionError,
)


@dataclasses.dataclass(frozen=True)
class MessageVerdict:
    """The outcome of screening a whole request's messages."""

    action: Action
    messages: tuple[dict[str, Any], ...]
    """The messages to forward (redacted where the policy says so)."""
    detections: tuple[tuple[int, Detection], ...]
    """(message index, detection) for every rule that fired."""

    @property
    def blocking_rule(self) -> str | None:
        """The first rule id behind a block, if blocked."""
        return self.detections[0][1].rule_id if self.action is Action.BLOCK else None


@dataclasses.dataclass(frozen=True)
class JoinedVerdict:
    """The outcome of screening several texts as one (e.g. an answer's content and tool calls)."""

    action: Action
    detections: tuple[Detection, ...]
    """What fired; spans refer to the joined text."""
    texts: tuple[str, ...]
    """Each text after redaction, in the order given (unchanged unless the action is REDACT)."""

    @property
    def blocking_rule(self) -> str | None:
        """The rule id that caused a block, if any."""
        return self.detections[0].rule_id if self.action is Action.BLOCK else None


def message_texts(message: Mapping[str, Any]) -> list[str]:
    """Every text part of a chat message (string content or a list of text parts)."""
    content = message.get("content")
    texts: list[str] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])
    for call in message.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict) and isinstance(function.get("arguments"), str):
            texts.append(function["arguments"])
    return texts


class Screener:
    """Runs scanners for one direction and applies one policy."""

    def __init__(self, scanners: Sequence[Scanner], policy: GuardPolicy) -> None:
        self.policy = policy
        self._by_direction = {d: [s for s in scanners if d in s.directions] for d in Direction}

    def screen_text(self, text: str, direction: Direction, context: ScanContext) -> TextVerdict:
        """Screen one text; blocked with ``guard.scanner_error`` if a scanner fails."""
        detections: list[Detection] = []
        for scanner in self._by_direction[direction]:
            try:
                detections.extend(scanner.scan(text, context))
            except _SCANNER_FAULTS as error:
                failure = Detection(SCANNER_ERROR_RULE, f"scanner {scanner.name} failed: {error!r}")
                return TextVerdict(Action.BLOCK, (failure, *detections), text)
        if not detections:
            return TextVerdict(Action.ALLOW, (), text)
        ordered = sorted(detections, key=lambda d: -self.policy.action_for(d.rule_id))
        action = self.policy.check(ordered)
        if action is Action.REDACT:
            text = redact(text, [s for d in self._redacting(ordered) for s in d.spans])
        return TextVerdict(action, tuple(ordered), text)

    def _redacting(self, detections: Sequence[Detection]) -> list[Detection]:
        return [d for d in detections if self.policy.action_for(d.rule_id) is Action.REDACT]

    def screen_joined(
        self, texts: Sequence[str], direction: Direction, context: ScanContext
    ) -> JoinedVerdict:
        """Screen ``texts`` joined by newlines as one text; redact each text on its own.

        Rules see across the joins (a run of words split between two texts is still one run).
        A redaction that would cross from one text into the next (or cover a join) cannot be
        applied to either text alone: the whole is blocked instead (fail closed).
        """
        verdict = self.screen_text("\n".join(texts), direction, context)
        if verdict.action is not Action.REDACT:
            return JoinedVerdict(verdict.action, verdict.detections, tuple(texts))
        starts: list[int] = []
        cursor = 0
        for text in texts:
            starts.append(cursor)
            cursor += len(text) + 1
        spans: list[list[tuple[int, int]]] = [[] for _ in texts]
        for detection in self._redacting(verdict.detections):
            for start, end in detection.spans:
                at = bisect.bisect_right(starts, start) - 1
                if at < 0 or end > starts[at] + len(texts[at]):
                    reason = Detection(
                        detection.rule_id, "a redaction would cross the boundary of two texts"
                    )
                    return JoinedVerdict(Action.BLOCK, (reason, *verdict.detections), tuple(texts))
                spans[at].append((start - starts[at], end - starts[at]))
        redacted = tuple(redact(t, s) if s else t for t, s in zip(texts, spans, strict=True))
        return JoinedVerdict(verdict.action, verdict.detections, redacted)

    def screen_messages(self, messages: Sequence[Mapping[str, Any]]) -> MessageVerdict:
        """Screen every message of every role (tool results included) as input."""
        out: list[dict[str, Any]] = []
        found: list[tuple[int, Detection]] = []
        action = Action.ALLOW
        for index, message in enumerate(messages):
            role = str(message.get("role", "user"))
            context = ScanContext(role=role)
            new_message = dict(message)
            content = message.get("content")
            for text in message_texts(message):
                verdict = self.screen_text(text, Direction.INPUT, context)
                found.extend((index, d) for d in verdict.detections)
                action = max(action, verdict.action)
                if verdict.text is not text and isinstance(content, str):
                    new_message["content"] = verdict.text
                elif verdict.text is not text and isinstance(content, list):
                    new_message["content"] = [
                        {**p, "text": verdict.text}
                        if isinstance(p, dict) and p.get("text") == text
                        else p
                        for p in content
                    ]
            out.append(new_message)
        found.sort(key=lambda item: -self.policy.action_for(item[1].rule_id))
        return MessageVerdict(action, tuple(out), tuple(found))
