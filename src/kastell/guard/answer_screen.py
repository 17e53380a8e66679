r"""Output screening of a model's answer: its content and its tool calls, as one text.

A model calling a tool can carry a canary, the system prompt, a secret or personal data out in
the call's arguments (a URL-fetch tool, an e-mail tool), so tool calls are screened with the
same output policy as the content. A choice is screened as one text: the content, then each
call's function name and arguments, joined by newlines, so rules over runs of words see across
the parts. Redaction may change the content and the arguments of a call, never a function
name nor a call already sent; redacted arguments must still be valid JSON (a client would get
a broken call otherwise). Where that cannot be done the choice is blocked (fail closed).

Arguments that hide text behind JSON escapes (``\u006b``) are screened once more decoded;
anything the policy would redact or block there blocks the choice, since it cannot be redacted
in the escaped form.

Tool calls enter the audit record as canonical JSON lines (``tool_call_record``): keys sorted,
no whitespace, non-ASCII kept, one line per call after the content.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from kastell.guard.interface import Action, Detection, Direction, ScanContext
from kastell.guard.pipeline import Screener

__all__ = [
    "REFUSED_RULE",
    "ChoiceVerdict",
    "CompletionVerdict",
    "ToolCall",
    "screen_choice",
    "screen_completion",
    "tool_call_record",
]

REFUSED_RULE = "guard.output.tool_call"
"""Rule of a tool call the gateway cannot screen or send safely (e.g. a malformed stream)."""


@dataclasses.dataclass(frozen=True)
class ToolCall:
    """One tool call's function name and arguments, as screened."""

    name: str
    arguments: str
    frozen: bool = False
    """Redaction may not change it (already sent, or not a JSON string in the answer)."""


@dataclasses.dataclass(frozen=True)
class ChoiceVerdict:
    """The decision about one choice: action, what fired, the content and arguments to send."""

    action: Action
    detections: tuple[Detection, ...]
    content: str
    """The content after redaction."""
    arguments: tuple[str, ...]
    """Each call's arguments after redaction, in the order given."""

    @property
    def blocking_rule(self) -> str | None:
        """The rule id that caused a block, if any."""
        return self.detections[0].rule_id if self.action is Action.BLOCK else None


@dataclasses.dataclass(frozen=True)
class CompletionVerdict:
    """A screened non-streamed answer."""

    answer: dict[str, Any]
    """The answer to send: blocked choices withheld, redactions applied."""
    choices: tuple[ChoiceVerdict, ...]
    """The verdict of every screened choice."""
    sent_texts: tuple[str, ...]
    """Per choice not withheld: its content and tool-call records as sent (for the audit)."""


def tool_call_record(call: Any) -> str:
    """The canonical JSON line of a tool call as sent, for the audit record and its digest."""
    return json.dumps(call, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def screen_choice(
    screener: Screener, context: ScanContext, content: str, calls: Sequence[ToolCall]
) -> ChoiceVerdict:
    """Screen a choice's content and tool calls as one output text."""
    parts = [content, *(p for call in calls for p in (call.name, call.arguments))]
    joined = screener.screen_joined(parts, Direction.OUTPUT, context)
    original = tuple(call.arguments for call in calls)
    if joined.action is Action.BLOCK:
        return ChoiceVerdict(Action.BLOCK, joined.detections, content, original)
    names, arguments = joined.texts[1::2], joined.texts[2::2]
    for call, name, new in zip(calls, names, arguments, strict=True):
        if name != call.name or (call.frozen and new != call.arguments):
            why = "redaction needed in a function name or in a tool call already sent"
            return _refused(joined.detections, why, content, original)
        if new != call.arguments and not _is_json(new):
            why = "redacting the tool call's arguments would break their JSON"
            return _refused(joined.detections, why, content, original)
    unsent = [new for call, new in zip(calls, arguments, strict=True) if not call.frozen]
    hidden = _escaped_detections(screener, context, unsent)
    hidden_action = screener.policy.check(hidden)
    if hidden_action >= Action.REDACT:
        why = "text hidden behind JSON escapes in tool-call arguments"
        return _refused((*hidden, *joined.detections), why, content, original)
    action = max(joined.action, hidden_action)
    return ChoiceVerdict(action, (*joined.detections, *hidden), joined.texts[0], tuple(arguments))


def _refused(
    detections: Sequence[Detection], why: str, content: str, arguments: tuple[str, ...]
) -> ChoiceVerdict:
    reason = Detection(detections[0].rule_id if detections else REFUSED_RULE, why)
    return ChoiceVerdict(Action.BLOCK, (reason, *detections), content, arguments)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


def _strings(value: Any) -> Iterator[str]:
    """Every key and string value in a decoded JSON document (iteratively: any depth)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            for key, inner in reversed(item.items()):
                stack += [inner, str(key)]
        elif isinstance(item, list):
            stack += reversed(item)


def _escaped_detections(
    screener: Screener, context: ScanContext, arguments: Sequence[str]
) -> tuple[Detection, ...]:
    """Detections in the decoded strings of arguments that contain JSON escapes."""
    found: list[Detection] = []
    for text in arguments:
        if "\\" not in text:
            continue
        try:
            decoded = "\n".join(_strings(json.loads(text)))
        except ValueError:
            continue  # not JSON: the raw text is all a client gets, and it was screened
        except RecursionError:  # nested too deep to decode: cannot be screened (fail closed)
            found.append(Detection(REFUSED_RULE, "tool-call arguments nested too deeply"))
            continue
        found.extend(screener.screen_text(decoded, Direction.OUTPUT, context).detections)
    return tuple(found)


def _text(value: Any) -> str:
    if value is None or isinstance(value, str):
        return value or ""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _entries(message: Mapping[str, Any]) -> list[tuple[Any, bool]]:
    """Every tool call of a message as sent, each with True for the legacy ``function_call``."""
    tool_calls = message.get("tool_calls")
    entries = [(e, False) for e in (tool_calls if isinstance(tool_calls, list) else [tool_calls])]
    entries.append((message.get("function_call"), True))
    return [(entry, legacy) for entry, legacy in entries if entry is not None]


def _calls_of(message: Mapping[str, Any]) -> list[tuple[ToolCall, dict[str, Any] | None]]:
    """Every tool call of a message and the dict to redact its arguments in (None: frozen)."""
    calls: list[tuple[ToolCall, dict[str, Any] | None]] = []
    for entry, legacy in _entries(message):
        function = entry if legacy else entry.get("function") if isinstance(entry, dict) else None
        if not isinstance(function, dict):  # not a call we understand: screened, never changed
            calls.append((ToolCall("", _text(entry), frozen=True), None))
            continue
        editable = isinstance(function.get("arguments"), str)
        call = ToolCall(
            _text(function.get("name")), _text(function.get("arguments")), frozen=not editable
        )
        calls.append((call, function if editable else None))
    return calls


def _screen_message(
    screener: Screener, context: ScanContext, choice: dict[str, Any]
) -> tuple[ChoiceVerdict, str] | None:
    """Screen one choice in place; return its verdict and the text sent (None: no message)."""
    message = choice.get("message")
    if not isinstance(message, dict):
        return None
    content = message.get("content")
    calls = _calls_of(message)
    if content is None and not calls:
        return None
    text = _text(content)  # content that is not a string is screened as JSON, never changed
    verdict = screen_choice(screener, context, text, [c for c, _ in calls])
    changed = verdict.action is not Action.BLOCK and verdict.content != text
    if changed and not isinstance(content, str):
        why = "redaction needed in content that is not a string"
        verdict = _refused(verdict.detections, why, text, verdict.arguments)
    if verdict.action is Action.BLOCK:
        message["content"] = None
        message.pop("tool_calls", None)
        message.pop("function_call", None)
        choice["finish_reason"] = "content_filter"
        return verdict, ""
    if isinstance(content, str):
        message["content"] = verdict.content
    for (call, function), arguments in zip(calls, verdict.arguments, strict=True):
        if function is not None and arguments != call.arguments:
            function["arguments"] = arguments
    records = [tool_call_record(entry) for entry, _ in _entries(message)]
    return verdict, "\n".join([_text(message.get("content")), *records])


def screen_completion(
    screener: Screener, context: ScanContext, answer: Mapping[str, Any]
) -> CompletionVerdict:
    """Screen every choice of a non-streamed answer (content and tool calls) as output."""
    screened = copy.deepcopy(dict(answer))
    verdicts: list[ChoiceVerdict] = []
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
