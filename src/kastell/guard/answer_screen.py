"""Output screening of a model's answer: its content, refusal and tool calls, as one text.

A model calling a tool can carry a canary, the system prompt, a secret or personal data out in
the call's arguments (a URL-fetch tool, an e-mail tool), and a refusal is text the client reads
like content, so both are screened with the same output policy as the content. A choice is
screened as one text (``Screener.screen_parts``): the content, the refusal if any, then each
call's function name and arguments, joined by newlines. Redaction may change the content, the
refusal and the arguments of a call, never a function name, a call already sent nor a field
that is not a string (it is screened as JSON); redacted arguments must still be valid JSON.
Where that cannot be done the choice is blocked (fail closed).

The reasoning of a reasoning model (``reasoning_content``, ``reasoning``) is output text too,
screened after the refusal. URL citations (``annotations``) are screened with the rest as JSON;
their character indexes point into the content, so a choice whose screening redacts anything
loses them. Every other key of a message (``audio``, vendor extensions) is dropped unless it
is null: the guard relays only what it screens (``drop_unscreened``).

A choice's ``logprobs`` spell out its tokens. They are kept only if the choice went out
unchanged (allowed or flagged) and the text sent covers every token
(``kastell.guard._logprobs``); a blocked or redacted choice gets ``logprobs: null``.

Tool calls enter the audit record as canonical JSON lines (``tool_call_record``): keys sorted,
no whitespace, non-ASCII kept, one line per call after the texts (the content, then the
refusal and reasoning if any, each on a line of its own, then the annotations as JSON).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

from kastell.guard._logprobs import LOGPROB_FIELDS, logprobs_covered
from kastell.guard.interface import Action, Detection, Direction, ScanContext
from kastell.guard.pipeline import (
    PartsVerdict,
    Screener,
    ToolCall,
    as_text,
    message_tool_calls,
    tool_call_entries,
    tool_call_rule,
    write_arguments,
)

__all__ = [
    "CALL_FIELDS",
    "OUTPUT_TEXT_FIELDS",
    "REFUSED_RULE",
    "CompletionVerdict",
    "ToolCall",
    "PROMPT_DATA_KEYS",
    "drop_prompt_data",
    "drop_unscreened",
    "screen_choice",
    "screen_completion",
    "tool_call_record",
    "withheld_details",
]

REFUSED_RULE = tool_call_rule(Direction.OUTPUT)
"""Rule of a tool call the gateway cannot screen or send safely (e.g. a malformed stream)."""
OUTPUT_TEXT_FIELDS = ("content", "refusal", "reasoning_content", "reasoning")
"""The text fields of an answer's message (or a stream's delta), screened in this order."""
CALL_FIELDS = ("tool_calls", "function_call")
"""The tool-call fields of an answer's message (or a stream's delta), the legacy one last."""
_MESSAGE_FIELDS = frozenset({"role", *OUTPUT_TEXT_FIELDS, *CALL_FIELDS, "annotations"})
_ANNOTATIONS = "annotations"


@dataclasses.dataclass(frozen=True)
class CompletionVerdict:
    """A screened non-streamed answer."""

    answer: dict[str, Any]
    """The answer to send: blocked choices withheld, redactions applied."""
    choices: tuple[PartsVerdict, ...]
    """The verdict of every screened choice (its texts: the content, then the refusal if any)."""
    sent_texts: tuple[str, ...]
    """Per choice not withheld: its texts and tool-call records as sent (audit)."""
    logprobs_withheld: tuple[int, ...] = ()
    """Indexes of the choices whose ``logprobs`` were set to null."""
    annotations_withheld: tuple[int, ...] = ()
    """Indexes of the choices whose ``annotations`` were dropped (a redaction moved the text)."""
    dropped_fields: tuple[str, ...] = ()
    """Names of the message keys dropped because the guard does not screen them."""

    def details(self) -> dict[str, str]:
        """What was withheld, for the audit record's ``details`` (empty if nothing)."""
        return withheld_details(
            self.logprobs_withheld, self.dropped_fields, self.annotations_withheld
        )


def withheld_details(
    logprobs: Sequence[int], dropped: Sequence[str], annotations: Sequence[int] = ()
) -> dict[str, str]:
    """Audit ``details`` naming what the guard withheld: choice indexes and field names.

    ``logprobs_withheld`` and ``annotations_withheld`` list choice indexes, ``dropped_fields``
    key names, each comma-separated and sorted; a key is present only if its list is not empty.
    """
    lists = {
        "logprobs_withheld": [str(i) for i in sorted(set(logprobs))],
        "annotations_withheld": [str(i) for i in sorted(set(annotations))],
        "dropped_fields": sorted(set(dropped)),
    }
    return {key: ",".join(values) for key, values in lists.items() if values}


def drop_unscreened(message: dict[str, Any], allowed: frozenset[str]) -> list[str]:
    """Remove every key not in ``allowed`` whose value is not null; return their names.

    The guard relays only what it screens (fail closed): ``audio``, vendor extensions and any
    other field it does not know could carry what it withholds elsewhere.
    """
    dropped = [key for key, value in message.items() if key not in allowed and value is not None]
    for key in dropped:
        del message[key]
    return dropped


PROMPT_DATA_KEYS = frozenset({"prompt_logprobs", "prompt_token_ids", "token_ids"})
"""Answer keys (top level or per choice) that carry the prompt's or the answer's tokens.

The system prompt and the session canary are in the prompt, and token ids spell the answer the
guard may withhold: none of it is screenable text, so these keys never reach the client (the
request parameters that ask for them are refused, see ``exchange.parse_chat_body``).
"""


def drop_prompt_data(answer: dict[str, Any]) -> list[str]:
    """Remove ``PROMPT_DATA_KEYS`` from an answer or chunk and its choices; return what went."""
    dropped = [key for key in PROMPT_DATA_KEYS if answer.pop(key, None) is not None]
    choices = answer.get("choices")
    for choice in choices if isinstance(choices, list) else []:
        if isinstance(choice, dict):
            dropped += [key for key in PROMPT_DATA_KEYS if choice.pop(key, None) is not None]
    return sorted(set(dropped))


def tool_call_record(call: Any) -> str:
    """The canonical JSON line of a tool call as sent, for the audit record and its digest."""
    return json.dumps(call, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def screen_choice(
    screener: Screener, context: ScanContext, content: str, calls: Sequence[ToolCall]
) -> PartsVerdict:
    """Screen a choice's content and tool calls as one output text."""
    return screener.screen_parts([content], calls, Direction.OUTPUT, context)


def _fields(message: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The fields screened: the content (even if null), other texts unless null, annotations."""
    fields = [
        (key, message.get(key))
        for key in OUTPUT_TEXT_FIELDS
        if key == "content" or message.get(key) is not None
    ]
    if message.get(_ANNOTATIONS):
        fields.append((_ANNOTATIONS, message[_ANNOTATIONS]))
    return fields


def _frozen_fields(
    fields: Sequence[tuple[str, Any]], texts: Sequence[str], verdict: PartsVerdict
) -> PartsVerdict:
    """``verdict``, or a block if it redacts a field that is not a string (screened as JSON).

    The annotations are exempt: a choice whose screening redacts anything loses them.
    """
    for (key, value), text, new in zip(fields, texts, verdict.texts, strict=True):
        if new != text and not isinstance(value, str) and key != _ANNOTATIONS:
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
        for key, value in fields:
            if value is not None and key != _ANNOTATIONS:
                message[key] = None
        for key in (*CALL_FIELDS, _ANNOTATIONS):
            message.pop(key, None)
        choice["finish_reason"] = "content_filter"
        return verdict, ""
    for (key, value), new in zip(fields, verdict.texts, strict=True):
        if isinstance(value, str):
            message[key] = new
    if verdict.arguments != tuple(call.arguments for call, _ in calls):
        for key in CALL_FIELDS:  # still shared with the upstream's answer (``_owned``)
            if key in message:
                message[key] = copy.deepcopy(message[key])
        write_arguments(message, verdict.arguments)
    if verdict.action is Action.REDACT:  # the citations' indexes point into the old text
        message.pop(_ANNOTATIONS, None)
    sent = [as_text(value) for _, value in _fields(message)]
    records = [tool_call_record(entry) for entry, _ in tool_call_entries(message)]
    return verdict, "\n".join([*sent, *records])


def _keeps_logprobs(choice: Mapping[str, Any], verdict: PartsVerdict | None) -> bool:
    """True if the choice went out unchanged and its text covers every logprob token."""
    if verdict is not None and verdict.action in (Action.BLOCK, Action.REDACT):
        return False
    message = choice.get("message")
    texts = (
        {key: as_text(message.get(key)) for key in LOGPROB_FIELDS}
        if isinstance(message, dict)
        else {}
    )
    return logprobs_covered(choice.get("logprobs"), texts)


def _owned(answer: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``answer`` that screening may change while the upstream's stays as it was.

    Only what screening writes to is copied: the answer, its list of choices, each choice and
    its message. Logprobs, usage and annotations are shared (they are only dropped or
    replaced); the tool calls are copied when a redaction rewrites their arguments.
    """
    owned = dict(answer)
    choices = owned.get("choices")
    if isinstance(choices, list):
        owned["choices"] = [dict(c) if isinstance(c, dict) else c for c in choices]
        for choice in owned["choices"]:
            if isinstance(choice, dict) and isinstance(choice.get("message"), dict):
                choice["message"] = dict(choice["message"])
    return owned


def screen_completion(
    screener: Screener, context: ScanContext, answer: Mapping[str, Any]
) -> CompletionVerdict:
    """Screen every choice of a non-streamed answer (texts, tool calls, logprobs) as output."""
    screened = _owned(answer)
    verdicts: list[PartsVerdict] = []
    sent: list[str] = []
    logprobs: list[int] = []
    annotations: list[int] = []
    dropped: list[str] = drop_prompt_data(screened)
    choices = screened.get("choices")
    for position, choice in enumerate(choices if isinstance(choices, list) else []):
        if not isinstance(choice, dict):
            continue
        index = choice["index"] if isinstance(choice.get("index"), int) else position
        cited = False
        if isinstance(choice.get("message"), dict):
            dropped += drop_unscreened(choice["message"], _MESSAGE_FIELDS)
            cited = bool(choice["message"].get(_ANNOTATIONS))
        outcome = _screen_message(screener, context, choice)
        if cited and not choice["message"].get(_ANNOTATIONS):
            annotations.append(index)
        if choice.get("logprobs") is not None and not _keeps_logprobs(
            choice, outcome[0] if outcome else None
        ):
            choice["logprobs"] = None
            logprobs.append(index)
        if outcome is None:
            continue
        verdicts.append(outcome[0])
        if outcome[0].action is not Action.BLOCK:
            sent.append(outcome[1])
    return CompletionVerdict(
        screened, tuple(verdicts), tuple(sent), tuple(logprobs), tuple(annotations), tuple(dropped)
    )
