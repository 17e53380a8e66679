r"""The chat-completion request as the guard reads it: parsed, bounded, checked, field by field.

``parse_chat_request`` turns the raw body into a ``ChatRequest`` or raises ``BadRequestError``
(HTTP 400 with the gateway's JSON error, ``param`` naming the field):

- JSON only: no ``NaN``/``Infinity`` literals, no number that overflows to infinity, no lone
  surrogate (``"\ud800"``) in any string or key, nesting at most ``MAX_DEPTH`` deep;
- every field of the Chat Completions request is named in ``REQUEST_MAP`` with its type and
  range (``max_tokens`` a positive integer, ``temperature`` a finite number in [0, 2], ...);
- every text the model can read is screened: the messages' texts by the pipeline
  (``kastell.guard.pipeline``), every other one (tool and function definitions with their
  JSON schemas, ``response_format``'s schema, ``stop``, ``user``, ``metadata``, ``prediction``,
  ...) as the request's *extra texts*;
- a key the map does not name is refused (default), dropped, or screened as text, as the
  tenant's policy says (``unknown_request_fields``).

The complete map is documented in docs/guard.md ("What is screened").
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from typing import Any, Literal

from kastell.guard._shape import (
    Check,
    Path,
    ShapeError,
    Walk,
    all_strings,
    boolean,
    dotted,
    either,
    enum,
    integer,
    list_of,
    map_of,
    nullable,
    number,
    obj,
    string,
    tagged,
    text,
    whole_text,
)

__all__ = [
    "MAX_DEPTH",
    "PROMPT_DATA_PARAMS",
    "REQUEST_MAP",
    "BadRequestError",
    "ChatRequest",
    "UnknownRequestFields",
    "parse_chat_body",
    "parse_chat_request",
]

MAX_DEPTH = 64
"""Deepest nesting of arrays and objects accepted in a request."""
PROMPT_DATA_PARAMS = ("prompt_logprobs", "echo", "return_token_ids", "return_tokens_as_token_ids")
"""Request switches (vLLM and others) that make an upstream return prompt or token data."""
UnknownRequestFields = Literal["refuse", "drop", "screen"]


class BadRequestError(Exception):  # noqa: N818 - mapped to HTTP 400 by the app, never escapes
    """The request body is not a valid chat-completion request."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


def _in_message(value: Any, path: Path, walk: Walk) -> None:
    """A text of a message: screened with the rest of its message by the pipeline."""
    if not isinstance(value, str):
        raise ShapeError("must be a string", path)


def _in_message_json(value: Any, path: Path, walk: Walk) -> None:
    """Any JSON value of a message screened by the pipeline as canonical JSON (never rewritten)."""


def _image_url(value: Any, path: Path, walk: Walk) -> None:
    """An image URL: a ``data:`` URL must carry an image (its payload is not screened)."""
    _in_message(value, path, walk)
    if value[:5].lower() == "data:" and not value[5:11].lower() == "image/":
        raise ShapeError("a data: URL here must hold an image (data:image/...)", path)


_PART = tagged(
    "type",
    {
        "text": obj({"type": string, "text": _in_message}, required=("text",)),
        "refusal": obj({"type": string, "refusal": _in_message}, required=("refusal",)),
        "image_url": obj(
            {
                "type": string,
                "image_url": obj(
                    {"url": _image_url, "detail": enum("auto", "low", "high")},
                    required=("url",),
                ),
            },
            required=("image_url",),
        ),
        "input_audio": obj(
            {"type": string, "input_audio": obj({"data": string, "format": string})},
            required=("input_audio",),
        ),
        "file": obj(
            {
                "type": string,
                "file": obj({"file_data": string, "file_id": string, "filename": _in_message}),
            },
            required=("file",),
        ),
    },
)
_FUNCTION_CALL = obj(
    {
        "id": string,
        "type": string,
        "function": obj({"name": _in_message_json, "arguments": _in_message_json}),
    },
    required=("function",),
)
_TAGGED_CALL = tagged(
    "type",
    {
        "function": _FUNCTION_CALL,
        "custom": obj(
            {"id": string, "type": string, "custom": obj({"name": string, "input": string})},
            required=("custom",),
        ),
    },
)


def _call(value: Any, path: Path, walk: Walk) -> None:
    """A tool call of an assistant message (``type`` may be left out: a function call)."""
    if isinstance(value, dict) and "type" not in value:
        _FUNCTION_CALL(value, path, walk)
    else:
        _TAGGED_CALL(value, path, walk)


_MESSAGE = obj(
    {
        "role": enum("system", "developer", "user", "assistant", "tool", "function"),
        "content": nullable(either((str, _in_message), (list, list_of(_PART)))),
        "name": _in_message,
        "refusal": nullable(_in_message),
        "tool_calls": nullable(list_of(_call)),
        "function_call": nullable(obj({"name": _in_message_json, "arguments": _in_message_json})),
        "tool_call_id": string,
        "audio": nullable(obj({"id": string})),
    },
    required=("role",),
)
_FUNCTION_DEFINITION = obj(
    {"name": text, "description": text, "parameters": whole_text, "strict": nullable(boolean)},
    required=("name",),
)
_TOOL = tagged(
    "type",
    {
        "function": obj({"type": string, "function": _FUNCTION_DEFINITION}, required=("function",)),
        "custom": obj(
            {
                "type": string,
                "custom": obj(
                    {"name": text, "description": text, "format": whole_text}, required=("name",)
                ),
            },
            required=("custom",),
        ),
    },
)
_RESPONSE_FORMAT = tagged(
    "type",
    {
        "text": obj({"type": string}),
        "json_object": obj({"type": string}),
        "json_schema": obj(
            {
                "type": string,
                "json_schema": obj(
                    {
                        "name": text,
                        "description": text,
                        "schema": whole_text,
                        "strict": nullable(boolean),
                    },
                    required=("name",),
                ),
            },
            required=("json_schema",),
        ),
    },
)
_TEXT_OR_PARTS = either(
    (str, text),
    (list, list_of(obj({"type": enum("text"), "text": text}, required=("text",)))),
)
_MAX_INT = 2**31 - 1


def _off(value: Any, path: Path, walk: Walk) -> None:
    """A prompt-data switch, allowed only when off (``null`` or ``false``)."""
    if value is not None and value is not False:
        raise ShapeError("must be null or false", path)


REQUEST_MAP: dict[str, Check] = {
    **{param: _off for param in PROMPT_DATA_PARAMS},
    "model": string,
    "messages": list_of(_MESSAGE, min_items=1),
    "stream": nullable(boolean),
    "stream_options": nullable(obj({"include_usage": boolean, "include_obfuscation": boolean})),
    "max_tokens": nullable(integer(1, _MAX_INT)),
    "max_completion_tokens": nullable(integer(1, _MAX_INT)),
    "n": nullable(integer(1, 128)),
    "temperature": nullable(number(0, 2)),
    "top_p": nullable(number(0, 1)),
    "presence_penalty": nullable(number(-2, 2)),
    "frequency_penalty": nullable(number(-2, 2)),
    "seed": nullable(integer(-(2**63), 2**63 - 1)),
    "logprobs": nullable(boolean),
    "top_logprobs": nullable(integer(0, 20)),
    "logit_bias": nullable(map_of(number(-100, 100), keys_are_text=False)),
    "stop": nullable(either((str, text), (list, list_of(text, max_items=4)))),
    "user": text,
    "safety_identifier": text,
    "prompt_cache_key": text,
    "metadata": nullable(map_of(text)),
    "store": nullable(boolean),
    "parallel_tool_calls": nullable(boolean),
    "reasoning_effort": nullable(string),
    "verbosity": nullable(string),
    "service_tier": nullable(string),
    "modalities": nullable(list_of(enum("text", "audio"))),
    "audio": nullable(obj({"voice": string, "format": string})),
    "prediction": nullable(
        obj({"type": enum("content"), "content": _TEXT_OR_PARTS}, required=("content",))
    ),
    "web_search_options": obj(
        {
            "search_context_size": enum("low", "medium", "high"),
            "user_location": nullable(
                obj(
                    {
                        "type": enum("approximate"),
                        "approximate": obj(
                            {"city": text, "country": text, "region": text, "timezone": text}
                        ),
                    }
                )
            ),
        }
    ),
    "response_format": nullable(_RESPONSE_FORMAT),
    "tools": nullable(list_of(_TOOL)),
    "tool_choice": nullable(either((str, enum("none", "auto", "required")), (dict, whole_text))),
    "functions": nullable(list_of(_FUNCTION_DEFINITION)),
    "function_call": nullable(either((str, enum("none", "auto")), (dict, obj({"name": text})))),
}
"""Every request field the guard knows, with its check (see docs/guard.md)."""
_CHECK_REQUEST = obj(REQUEST_MAP, required=("model", "messages"))


@dataclasses.dataclass(frozen=True)
class ChatRequest:
    """A checked request: the body to forward and what else the guard must screen in it."""

    body: dict[str, Any]
    extra_texts: tuple[tuple[Path, str, bool], ...] = ()
    """(path, text, frozen) of every text outside the messages' own fields, in body order."""
    dropped: tuple[str, ...] = ()
    """Dotted paths of the unknown fields removed (policy ``drop``)."""
    size: int = 0
    """Bytes of the raw body (decides whether screening runs inline or in a worker)."""


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError(f"the number {literal[:40]} is out of range")
    return value


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _load(raw: bytes) -> Any:
    try:
        return json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, UnicodeDecodeError) as error:
        raise BadRequestError(f"the body is not valid JSON: {error}") from None
    except RecursionError:
        raise BadRequestError(f"the body is nested more than {MAX_DEPTH} levels deep") from None


def _check_depth_and_text(body: Any, raw: bytes) -> None:
    """Refuse nesting over ``MAX_DEPTH`` and lone surrogates (they cannot be UTF-8 encoded)."""
    stack: list[tuple[Any, int]] = [(body, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                raise BadRequestError(f"the body is nested more than {MAX_DEPTH} levels deep")
            items = value.values() if isinstance(value, dict) else value
            stack += [(item, depth + 1) for item in items if isinstance(item, dict | list)]
    if _SURROGATE_ESCAPE.search(raw) is None:
        return  # a surrogate can only enter through a \u escape (raw UTF-8 cannot hold one)
    for path, value, _ in all_strings(body, ()):
        if _LONE_SURROGATE.search(value):
            raise BadRequestError(
                f"{dotted(path)} holds a lone surrogate (not Unicode text)", dotted(path) or None
            )


def _apply_unknown(
    body: dict[str, Any], walk: Walk, unknown: UnknownRequestFields
) -> tuple[list[tuple[Path, str, bool]], list[str]]:
    """Refuse, drop or screen the unknown fields the walk found."""
    extra: list[tuple[Path, str, bool]] = []
    dropped: list[str] = []
    for path, value in walk.unknown:
        name = dotted(path)
        if unknown == "refuse":
            raise BadRequestError(
                f"unknown field {name!r}: the guard forwards only fields it knows and screens",
                name,
            )
        if unknown == "drop":
            parent: Any = body
            for step in path[:-1]:
                parent = parent[step]
            del parent[path[-1]]
            dropped.append(name)
        else:  # screen: every key and string of it, frozen (no redaction in an unknown field)
            extra.append((path, str(path[-1]), True))
            extra += [(at, item, True) for at, item, _ in all_strings(value, path)]
    return extra, dropped


def parse_chat_request(raw: bytes, unknown: UnknownRequestFields = "refuse") -> ChatRequest:
    """Parse and check a chat request (see the module docstring)."""
    body = _load(raw)
    if not isinstance(body, dict):
        raise BadRequestError("the body must be a JSON object")
    _check_depth_and_text(body, raw)
    for param in PROMPT_DATA_PARAMS:
        value = body.get(param)
        if value is not None and value is not False:  # 0 is a request too (prompt_logprobs)
            raise BadRequestError(
                f"'{param}' is not allowed through the guard: the upstream would return the "
                "prompt (system prompt and canary included) or token data the guard cannot screen",
                param,
            )
    walk = Walk()
    try:
        _CHECK_REQUEST(body, (), walk)
    except ShapeError as error:
        top = error.path[0] if error.path else None
        raise BadRequestError(str(error), str(top) if top is not None else None) from None
    extra, dropped = _apply_unknown(body, walk, unknown)
    texts = [(path, value, frozen) for path, value, frozen in walk.texts] + extra
    return ChatRequest(body, tuple(texts), tuple(dropped), len(raw))


def parse_chat_body(raw: bytes, unknown: UnknownRequestFields = "refuse") -> dict[str, Any]:
    """Parse and check a chat request; return the body only."""
    return parse_chat_request(raw, unknown).body
