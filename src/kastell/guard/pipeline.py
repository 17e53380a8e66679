r"""The screening pipeline: run the scanners on every message and apply the tenant policy.

A chat message is screened as one text: its texts (the content, or each text part of a list
content, then a refusal), then each tool call's function name and arguments (``tool_calls``
and the legacy ``function_call``), joined by newlines, so rules over runs of words see across
the parts. The same rule holds for the request's messages (input) and the model's answer
(output, ``kastell.guard.answer_screen``). Redaction is written back to the part it was found
in: a text, or a call's arguments, never a function name nor a call already sent; redacted
arguments must still be valid JSON (a tool would get a broken call otherwise). Where that
cannot be done the message is blocked (fail closed).

Arguments that hide text behind JSON escapes (``\u006b``) are screened once more decoded;
anything the policy would redact or block there blocks the message, since it cannot be
redacted in the escaped form.

Fail closed: if a scanner raises, the text is treated as blocked with rule
``guard.scanner_error`` and the error is reported, never swallowed.
"""

from __future__ import annotations

import bisect
import copy
import dataclasses
import json
import re
from collections.abc import Iterator, Mapping, Sequence
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

__all__ = [
    "SCANNER_ERROR_RULE",
    "JoinedVerdict",
    "MessageVerdict",
    "PartsVerdict",
    "Screener",
    "ToolCall",
    "as_text",
    "message_texts",
    "message_tool_calls",
    "tool_call_entries",
    "tool_call_rule",
    "write_arguments",
]

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
_Path = tuple[str | int, ...]


def tool_call_rule(direction: Direction) -> str:
    """Rule of a tool call the gateway cannot screen or pass on safely (fail closed)."""
    return f"guard.{direction.value}.tool_call"


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


@dataclasses.dataclass(frozen=True)
class ToolCall:
    """One tool call's function name and arguments, as screened."""

    name: str
    arguments: str
    frozen: bool = False
    """Redaction may not change it (already sent, or not a JSON string in the message)."""


@dataclasses.dataclass(frozen=True)
class PartsVerdict:
    """The decision about one message's texts and tool calls, screened as one text."""

    action: Action
    detections: tuple[Detection, ...]
    texts: tuple[str, ...]
    """Each text after redaction, in the order given."""
    arguments: tuple[str, ...]
    """Each call's arguments after redaction, in the order given."""

    @property
    def blocking_rule(self) -> str | None:
        """The rule id that caused a block, if any."""
        return self.detections[0].rule_id if self.action is Action.BLOCK else None


def as_text(value: Any) -> str:
    """A field as screened: a string as is, None as "", anything else as canonical JSON."""
    if value is None or isinstance(value, str):
        return value or ""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _text_parts(message: Mapping[str, Any]) -> list[tuple[_Path, str]]:
    """Every text of a request message but its tool calls, with where it sits in the message.

    The content (a string, or each ``text`` / ``refusal`` of a list of content parts, an
    image part's URL and a file part's name), then the ``refusal`` of an assistant message,
    then the message's ``name`` (the model reads it as the speaker's name).
    """
    parts: list[tuple[_Path, str]] = []
    content = message.get("content")
    if isinstance(content, str):
        parts.append((("content",), content))
    elif isinstance(content, list):
        for at, part in enumerate(content):
            if not isinstance(part, dict):
                continue
            for key in ("text", "refusal"):
                if isinstance(part.get(key), str):
                    parts.append((("content", at, key), part[key]))
            for key, inner in _PART_TEXTS:
                holder = part.get(key)
                if isinstance(holder, dict) and isinstance(holder.get(inner), str):
                    parts.append((("content", at, key, inner), _data_url_head(holder[inner])))
    for key in ("refusal", "name"):
        if isinstance(message.get(key), str):
            parts.append(((key,), message[key]))
    return parts


def _data_url_head(value: str) -> str:
    """A URL as screened: a ``data:`` URL's media type only (its payload is the image)."""
    return value.partition(",")[0] if value[:5].lower() == "data:" else value


_PART_TEXTS = (("image_url", "url"), ("file", "filename"))
"""Texts inside content parts other than ``text`` / ``refusal``: (part key, its text field)."""


def tool_call_entries(message: Mapping[str, Any]) -> list[tuple[Any, bool]]:
    """Every tool call of a message as given, each with True for the legacy ``function_call``."""
    tool_calls = message.get("tool_calls")
    entries = [(e, False) for e in (tool_calls if isinstance(tool_calls, list) else [tool_calls])]
    entries.append((message.get("function_call"), True))
    return [(entry, legacy) for entry, legacy in entries if entry is not None]


def message_tool_calls(
    message: Mapping[str, Any],
) -> list[tuple[ToolCall, dict[str, Any] | None]]:
    """Every tool call of a message and the dict to redact its arguments in (None: frozen)."""
    calls: list[tuple[ToolCall, dict[str, Any] | None]] = []
    for entry, legacy in tool_call_entries(message):
        function = entry if legacy else entry.get("function") if isinstance(entry, dict) else None
        if not isinstance(function, dict):  # not a call we understand: screened, never changed
            calls.append((ToolCall("", as_text(entry), frozen=True), None))
            continue
        editable = isinstance(function.get("arguments"), str)
        call = ToolCall(
            as_text(function.get("name")), as_text(function.get("arguments")), frozen=not editable
        )
        calls.append((call, function if editable else None))
    return calls


def write_arguments(message: dict[str, Any], arguments: Sequence[str]) -> None:
    """Write each call's ``arguments`` (from ``screen_parts``) where they changed, in place."""
    for (call, function), new in zip(message_tool_calls(message), arguments, strict=True):
        if function is not None and new != call.arguments:
            function["arguments"] = new


def message_texts(message: Mapping[str, Any]) -> list[str]:
    """Every text of a chat message: content (string or text parts), refusal, call arguments."""
    texts = [text for _, text in _text_parts(message)]
    return texts + [call.arguments for call, _ in message_tool_calls(message)]


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


def _refused(detections: Sequence[Detection], why: str, rule: str) -> Detection:
    return Detection(detections[0].rule_id if detections else rule, why)


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

    def screen_parts(
        self,
        texts: Sequence[str],
        calls: Sequence[ToolCall],
        direction: Direction,
        context: ScanContext,
    ) -> PartsVerdict:
        """Screen a message's texts and tool calls as one text (see the module docstring)."""
        parts = [*texts, *(p for call in calls for p in (call.name, call.arguments))]
        joined = self.screen_joined(parts, direction, context)
        original = tuple(call.arguments for call in calls)

        def refused(detections: Sequence[Detection], why: str) -> PartsVerdict:
            reason = _refused(detections, why, tool_call_rule(direction))
            return PartsVerdict(Action.BLOCK, (reason, *detections), tuple(texts), original)

        if joined.action is Action.BLOCK:
            return PartsVerdict(Action.BLOCK, joined.detections, tuple(texts), original)
        names, arguments = joined.texts[len(texts) :: 2], joined.texts[len(texts) + 1 :: 2]
        for call, name, new in zip(calls, names, arguments, strict=True):
            if name != call.name or (call.frozen and new != call.arguments):
                why = "redaction needed in a function name or in a tool call already sent"
                return refused(joined.detections, why)
            if new != call.arguments and not _is_json(new):
                why = "redacting the tool call's arguments would break their JSON"
                return refused(joined.detections, why)
        unsent = [new for call, new in zip(calls, arguments, strict=True) if not call.frozen]
        hidden = self._escaped_detections(unsent, direction, context)
        hidden_action = self.policy.check(hidden)
        if hidden_action >= Action.REDACT:
            why = "text hidden behind JSON escapes in tool-call arguments"
            return refused((*hidden, *joined.detections), why)
        action = max(joined.action, hidden_action)
        texts_out = joined.texts[: len(texts)]
        return PartsVerdict(action, (*joined.detections, *hidden), texts_out, tuple(arguments))

    def _escaped_detections(
        self, arguments: Sequence[str], direction: Direction, context: ScanContext
    ) -> tuple[Detection, ...]:
        """Detections in the decoded strings of arguments that contain JSON escapes."""
        found: list[Detection] = []
        for text in arguments:
            if "\\" not in text:
                continue
            try:
                decoded = "\n".join(_strings(json.loads(text)))
            except ValueError:
                continue  # not JSON: the raw text is all a reader gets, and it was screened
            except RecursionError:  # nested too deep to decode: cannot be screened (fail closed)
                why = "tool-call arguments nested too deeply"
                found.append(Detection(tool_call_rule(direction), why))
                continue
            found.extend(self.screen_text(decoded, direction, context).detections)
        return tuple(found)

    def screen_messages(self, messages: Sequence[Mapping[str, Any]]) -> MessageVerdict:
        """Screen every message of every role (tool results and tool calls included) as input.

        Each message is screened as one text (``screen_parts``); a redaction is written back
        to the text or the call's arguments it was found in, in a copy of the message.
        """
        out: list[dict[str, Any]] = []
        found: list[tuple[int, Detection]] = []
        action = Action.ALLOW
        for index, message in enumerate(messages):
            verdict, forwarded = self._screen_message(message)
            found.extend((index, d) for d in verdict.detections)
            action = max(action, verdict.action)
            out.append(forwarded)
        found.sort(key=lambda item: -self.policy.action_for(item[1].rule_id))
        return MessageVerdict(action, tuple(out), tuple(found))

    def _screen_message(self, message: Mapping[str, Any]) -> tuple[PartsVerdict, dict[str, Any]]:
        """Screen one request message; return its verdict and the message to forward."""
        texts = _text_parts(message)
        calls = message_tool_calls(message)
        if not texts and not calls:
            return PartsVerdict(Action.ALLOW, (), (), ()), dict(message)
        context = ScanContext(role=str(message.get("role", "user")))
        verdict = self.screen_parts(
            [text for _, text in texts], [call for call, _ in calls], Direction.INPUT, context
        )
        if verdict.action is not Action.REDACT:
            return verdict, dict(message)
        forwarded = copy.deepcopy(dict(message))  # the client's message stays as it was sent
        for (path, text), new in zip(texts, verdict.texts, strict=True):
            if new != text:
                _place(forwarded, path, new)
        write_arguments(forwarded, verdict.arguments)
        return verdict, forwarded


def _place(message: dict[str, Any], path: _Path, text: str) -> None:
    """Write ``text`` where ``path`` (from ``_text_parts``) points in ``message``."""
    target: Any = message
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = text
