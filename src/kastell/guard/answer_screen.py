"""Output screening of a model's answer: its content, refusal and tool calls, as one text.

A model calling a tool can carry a canary, the system prompt, a secret or personal data out in
the call's arguments (a URL-fetch tool, an e-mail tool), and a refusal is text the client reads
like content, so both are screened with the same output policy as the content. A choice is
screened as one text (``Screener.screen_parts``): the content, the refusal if any, then each
call's function name and arguments, joined by newlines. Redaction may change the content, the
refusal and the arguments of a call, never a function name, a call already sent nor a field
that is not a string (it is screened as JSON); redacted arguments must still be valid JSON.
Where that cannot be done the choice is blocked (fail closed).

Tool calls enter the audit record as canonical JSON lines (``tool_call_record``): keys sorted,
no whitespace, non-ASCII kept, one line per call after the content (and the refusal, if any).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

from kastell.guard.interface import Action, Detection, Direction, ScanContext
from kastell.guard.pipeline import (
    PartsVerdict,
    Screener,
    ToolCall,
    as_text,
    message_tool_calls,
    tool_call_entries,
    tool_call_rule,
)

__all__ = [
    "REFUSED_RULE",
    "CompletionVerdict",
    "ToolCall",
    "screen_choice",
    "screen_completion",
    "tool_call_record",
]

REFUSED_RULE = tool_call_rule(Direction.OUTPUT)
"""Rule of a tool call the gateway cannot screen or send safely (e.g. a malformed stream)."""
_TEXT_FIELDS = ("content", "refusal")


@dataclasses.dataclass(frozen=True)
class CompletionVerdict:
    """A screened non-streamed answer."""

    answer: dict[str, Any]
    """The answer to send: blocked choices withheld, redactions applied."""
    choices: tuple[PartsVerdict, ...]
    """The verdict of every screened choice (its texts: the content, then the refusal if any)."""
    sent_texts: tuple[str, ...]
    """Per choice not withheld: its content, refusal and tool-call records as sent (audit)."""


def tool_call_record(call: Any) -> str:
    """The canonical JSON line of a tool call as sent, for the audit record and its digest."""
    return json.dumps(call, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def screen_choice(
    screener: Screener, context: ScanContext, content: str, calls: Sequence[ToolCall]
) -> PartsVerdict:
    """Screen a choice's content and tool calls as one output text."""
    return screener.screen_parts([content], calls, Direction.OUTPUT, context)


def _fields(message: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The text fields screened: the content (even if null), the refusal unless null."""
    return [
        (key, message.get(key))
        for key in _TEXT_FIELDS
        if key == "content" or message.get(key) is not None
    ]


def _frozen_fields(
    fields: Sequence[tuple[str, Any]], texts: Sequence[str], verdict: PartsVerdict
) -> PartsVerdict:
    """``verdict``, or a block if it redacts a field that is not a string (screened as JSON)."""
    for (key, value), text, new in zip(fields, texts, verdict.texts, strict=True):
        if new != text and not isinstance(value, str):
            why = f"redaction needed in {key} that is not a string"
            reason = Detection(verdict.detections[0].rule_id, why)
            return dataclasses.replace(
                verdict, action=Action.BLOCK, detections=(reason, *verdict.detections)
            )
    return verdict


def _screen_message(
    screener: Screener, context: ScanContext, choice: dict[str, Any]
) -> tuple[PartsVerdict, str] | None:
    """Screen one choice in place; return its verdict and the text sent (None: no message)."""
    message = choice.get("message")
    if not isinstance(message, dict):
        return None
    fields = _fields(message)
    calls = message_tool_calls(message)
    if all(value is None for _, value in fields) and not calls:
        return None
    texts = [as_text(value) for _, value in fields]
    verdict = screener.screen_parts(texts, [c for c, _ in calls], Direction.OUTPUT, context)
    verdict = _frozen_fields(fields, texts, verdict)
    if verdict.action is Action.BLOCK:
        message["content"] = None
        if message.get("refusal") is not None:
            message["refusal"] = None
        message.pop("tool_calls", None)
        message.pop("function_call", None)
        choice["finish_reason"] = "content_filter"
        return verdict, ""
    for (key, value), new in zip(fields, verdict.texts, strict=True):
        if isinstance(value, str):
            message[key] = new
    for (call, function), arguments in zip(calls, verdict.arguments, strict=True):
        if function is not None and arguments != call.arguments:
            function["arguments"] = arguments
    sent = [as_text(value) for _, value in _fields(message)]
    records = [tool_call_record(entry) for entry, _ in tool_call_entries(message)]
    return verdict, "\n".join([*sent, *records])


def screen_completion(
    screener: Screener, context: ScanContext, answer: Mapping[str, Any]
) -> CompletionVerdict:
    """Screen every choice of a non-streamed answer (content, refusal, tool calls) as output."""
    screened = copy.deepcopy(dict(answer))
    verdicts: list[PartsVerdict] = []
    sent: list[str] = []
    choices = screened.get("choices")
    for choice in choices if isinstance(choices, list) else []:
        outcome = _screen_message(screener, context, choice) if isinstance(choice, dict) else None
        if outcome is None:
            continue
        verdicts.append(outcome[0])
        if outcome[0].action is not Action.BLOCK:
            sent.append(outcome[1])
    return CompletionVerdict(screened, tuple(verdicts), tuple(sent))
