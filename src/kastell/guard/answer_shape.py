"""The shape of a model's answer: a well-formed chat completion (or chunk), or a 502.

The guard screens the texts of ``choices[i].message`` (``kastell.guard.answer_screen``) and of
``choices[i].delta`` (``kastell.guard.stream_exchange``). An answer in any other shape would be
relayed around that screening, so it is refused as an upstream error (502, or an
``upstream_error`` event mid-stream), and audited: legacy ``choices[i].text``, a ``message``
that is a string, ``choices`` as an object, content as a list, a JSON that is not a chat
completion, ``usage`` holding anything but token counts.

Keys the map below does not name are handled by the tenant's ``unknown_answer_fields`` policy:
``drop`` (default: removed, named in the record's ``details.dropped_fields``), ``screen`` (their
keys and strings screened as output; relayed only if nothing fires at ``redact`` or above,
else dropped), or ``refuse`` (the whole answer is a 502).
"""

from __future__ import annotations

from typing import Any, Literal

from kastell.guard._shape import (
    Check,
    Path,
    ShapeError,
    Walk,
    all_strings,
    dotted,
    enum,
    integer,
    list_of,
    nullable,
    obj,
    string,
)
from kastell.guard.interface import UpstreamError

__all__ = [
    "ANSWER_MAP",
    "CHUNK_MAP",
    "AnswerShapeError",
    "UnknownAnswerFields",
    "UnknownFields",
    "check_answer",
    "check_chunk",
    "remove",
    "unknown_texts",
]

UnknownAnswerFields = Literal["drop", "screen", "refuse"]


class AnswerShapeError(UpstreamError):
    """The upstream's answer is not a well-formed chat completion (HTTP 502)."""

    default_hint = "The upstream must answer in the OpenAI Chat Completions format."


def _counts(value: Any, path: Path, walk: Walk) -> None:
    """``usage``: token counts only (integers, or objects of integers), no text anywhere."""
    if not isinstance(value, dict):
        raise ShapeError("must be an object of token counts", path)
    for key, item in value.items():
        if isinstance(item, dict):
            _counts(item, (*path, key), walk)
        elif isinstance(item, bool) or not isinstance(item, int | float | type(None)):
            raise ShapeError("must hold token counts only", (*path, key))


def _json_object(value: Any, path: Path, walk: Walk) -> None:
    """An object screened elsewhere (log-probabilities follow their text)."""
    if not isinstance(value, dict):
        raise ShapeError("must be an object", path)


def _list(value: Any, path: Path, walk: Walk) -> None:
    """An array screened elsewhere (tool calls, annotations)."""
    if not isinstance(value, list):
        raise ShapeError("must be an array", path)


def _screened_text(value: Any, path: Path, walk: Walk) -> None:
    """A text of the message, screened by ``answer_screen``."""
    if not isinstance(value, str):
        raise ShapeError("must be a string", path)


def _any(value: Any, path: Path, walk: Walk) -> None:
    """A value checked and screened where it is used (stream deltas, dropped fields)."""


_SCREENED_TEXTS = ("content", "refusal", "reasoning_content", "reasoning")
_MESSAGE = obj(
    {
        "role": enum("assistant"),
        **{key: nullable(_screened_text) for key in _SCREENED_TEXTS},
        "tool_calls": nullable(_list),
        "function_call": nullable(_json_object),
        "annotations": nullable(_list),
        "audio": _any,  # speech cannot be screened: always dropped (``answer_screen``)
    }
)
_DROPPED_DATA = ("prompt_logprobs", "prompt_token_ids", "token_ids")
"""Token data removed from every answer (``answer_screen.PROMPT_DATA_KEYS``)."""
_CHOICE = obj(
    {
        "index": integer(0),
        "message": _MESSAGE,
        "finish_reason": nullable(string),
        "logprobs": nullable(_json_object),
        **dict.fromkeys(_DROPPED_DATA, _any),
    },
    required=("message",),
)
_TOP = {
    "id": string,
    "created": integer(),
    "model": string,
    "usage": nullable(_counts),
    "system_fingerprint": nullable(string),
    "service_tier": nullable(string),
    **dict.fromkeys(_DROPPED_DATA, _any),
}
ANSWER_MAP: dict[str, Check] = {
    **_TOP,
    "object": enum("chat.completion"),
    "choices": list_of(_CHOICE, min_items=1),
}
"""Every key of a non-streamed answer the guard knows, with its check (see docs/guard.md)."""
_DELTA = obj(
    {
        "role": nullable(enum("assistant")),
        **dict.fromkeys(_SCREENED_TEXTS, _any),  # a non-string stops the stream (unscreenable)
        "tool_calls": nullable(_list),
        "function_call": nullable(_json_object),
    }
)
CHUNK_MAP: dict[str, Check] = {
    **_TOP,
    "object": enum("chat.completion.chunk"),
    "obfuscation": _any,  # random padding of OpenAI's streams: dropped
    "choices": list_of(
        obj(
            {
                "index": integer(0),
                "delta": _DELTA,
                "finish_reason": nullable(string),
                "logprobs": nullable(_json_object),
                **dict.fromkeys(_DROPPED_DATA, _any),
            },
            required=("delta",),
        )
    ),
}
"""Every key of a streamed chunk the guard knows, with its check."""
_CHECK_ANSWER = obj(ANSWER_MAP, required=("choices",))
_CHECK_CHUNK = obj(CHUNK_MAP, required=("choices",))
_ALWAYS_DROPPED = frozenset({"obfuscation"})

UnknownFields = list[tuple[Path, Any]]


def _check(
    document: Any, check: Check, unknown: UnknownAnswerFields, what: str
) -> tuple[UnknownFields, list[str]]:
    if not isinstance(document, dict):
        raise AnswerShapeError(f"upstream sent {what} that is not a JSON object")
    walk = Walk()
    try:
        check(document, (), walk)
    except ShapeError as error:
        raise AnswerShapeError(f"upstream sent a malformed {what}: {error}") from None
    dropped = [key for key in _ALWAYS_DROPPED if key in document]
    for key in _ALWAYS_DROPPED:
        document.pop(key, None)
    if walk.unknown and unknown == "refuse":
        names = ", ".join(dotted(path) for path, _ in walk.unknown[:5])
        raise AnswerShapeError(f"upstream sent {what} with fields the guard does not know: {names}")
    return walk.unknown, dropped


def remove(document: dict[str, Any], fields: UnknownFields) -> list[str]:
    """Remove the given fields from ``document``; return their dotted names.

    Keys of a message or delta are left in place: ``answer_screen.drop_unscreened`` drops
    every key it does not screen there and lists it by its name.
    """
    fields = [(p, v) for p, v in fields if not (len(p) == 4 and p[2] in ("message", "delta"))]
    for path, _ in fields:
        parent: Any = document
        for step in path[:-1]:
            parent = parent[step]
        parent.pop(path[-1], None)
    return [dotted(path) for path, _ in fields]


def unknown_texts(fields: UnknownFields) -> list[str]:
    """Each unknown field as one text to screen: its key, then its keys and strings."""
    return [
        "\n".join([str(path[-1]), *(text for _, text, _ in all_strings(value, path))])
        for path, value in fields
    ]


def check_answer(answer: Any, unknown: UnknownAnswerFields) -> tuple[UnknownFields, list[str]]:
    """Check a non-streamed answer in place; return its unknown fields and the keys dropped."""
    return _check(answer, _CHECK_ANSWER, unknown, "answer")


def check_chunk(chunk: Any, unknown: UnknownAnswerFields) -> tuple[UnknownFields, list[str]]:
    """Check one streamed chunk in place; return its unknown fields and the keys dropped."""
    return _check(chunk, _CHECK_CHUNK, unknown, "stream chunk")
