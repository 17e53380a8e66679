"""The streamed half of a chat exchange: SSE out, screened through ``StreamScreen``.

Each text field of a choice's deltas (content, refusal, ``reasoning_content``, ``reasoning``)
is released through its own ``StreamScreen``; a text delta that is not a string (nor null)
stops the stream. Tool calls are held back and released whole through ``ToolCallScreen``.
The choice's ``logprobs`` entries are held back with the text they spell and released once the
released text covers them (``kastell.guard._logprobs``). Any other non-null key of a delta is
dropped and named in the audit record: the guard relays only what it screens.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

from kastell.guard._asgi import Send, error_body, sse
from kastell.guard._logprobs import LOGPROB_FIELDS, LogprobsHold
from kastell.guard.answer_screen import (
    CALL_FIELDS,
    OUTPUT_TEXT_FIELDS,
    drop_prompt_data,
    drop_unscreened,
    withheld_details,
)
from kastell.guard.answer_shape import UnknownAnswerFields, check_chunk, remove, unknown_texts
from kastell.guard.interface import Action, Detection, Direction, ScanContext
from kastell.guard.pipeline import Screener
from kastell.guard.streaming import UNSCREENABLE_RULE, ReleasedCall, StreamScreen, ToolCallScreen

__all__ = ["SSE_HEADERS", "StreamOutcome", "StreamRelay"]

SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
_DELTA_FIELDS = frozenset({"role", *OUTPUT_TEXT_FIELDS, *CALL_FIELDS})


@dataclasses.dataclass
class StreamOutcome:
    """What happened to a stream: how it ended and exactly what each choice received."""

    outcome: str = "complete"
    """complete | blocked | client_disconnected | upstream_error"""
    blocked_rule: str | None = None
    sent: dict[int, str] = dataclasses.field(default_factory=dict)
    """Per choice, the content released."""
    texts: dict[int, dict[str, str]] = dataclasses.field(default_factory=dict)
    """Per choice, each other text field (refusal, reasoning) that released any text."""
    tool_calls: dict[int, list[str]] = dataclasses.field(default_factory=dict)
    """Per choice, each tool call released, as its canonical JSON line (``tool_call_record``)."""
    logprobs_sent: dict[int, int] = dataclasses.field(default_factory=dict)
    """Per choice, how many logprob entries were released."""
    dropped_fields: set[str] = dataclasses.field(default_factory=set)
    """Names of the delta keys dropped because the guard does not screen them."""

    @property
    def refusals(self) -> dict[int, str]:
        """Per choice that released any of a refusal, the refusal released."""
        return {i: texts["refusal"] for i, texts in self.texts.items() if "refusal" in texts}

    @property
    def sent_text(self) -> str:
        """What every choice received, in index order, choices joined by newlines.

        A choice's part is its released content, then a newline and each other text field it
        released any of (refusal, ``reasoning_content``, ``reasoning``, in that order), then for
        each released tool call a newline and the call's canonical JSON line as sent (a
        content-only choice is just its content).
        """
        indices = sorted(set(self.sent) | set(self.texts) | set(self.tool_calls))
        parts = (
            [
                self.sent.get(i, ""),
                *(self.texts[i][key] for key in OUTPUT_TEXT_FIELDS if key in self.texts.get(i, {})),
                *self.tool_calls.get(i, []),
            ]
            for i in indices
        )
        return "\n".join("\n".join(part) for part in parts)

    @property
    def sent_tool_calls(self) -> int:
        """How many tool calls were released, over all choices."""
        return sum(len(calls) for calls in self.tool_calls.values())


@dataclasses.dataclass
class _Choice:
    """The screens of one streamed choice: its text fields, its tool calls, its logprobs."""

    texts: dict[str, StreamScreen]
    """The screen of each text field of the choice's deltas, by field name."""
    calls: ToolCallScreen
    logprobs: LogprobsHold = dataclasses.field(default_factory=LogprobsHold)

    @property
    def content(self) -> StreamScreen:
        """The screen of the content."""
        return self.texts["content"]

    @property
    def blocking_rule(self) -> str | None:
        for screen in self.texts.values():
            if screen.blocked:
                return screen.verdict.blocking_rule or "guard.blocked"
        return self.calls.blocking_rule

    def feed(self, delta: dict[str, Any]) -> dict[str, str]:
        """Feed the delta's text fields; return the piece of each to release now.

        A field that is neither a string nor null cannot be screened: it stops the stream.
        """
        pieces: dict[str, str] = {}
        for key, screen in self.texts.items():
            value = delta.get(key)
            if isinstance(value, str):
                pieces[key] = screen.feed(value)
            elif value is not None:
                why = f"a streamed {key} delta that is not a string cannot be screened"
                screen.refuse(UNSCREENABLE_RULE, why)
        return pieces

    def finish(self) -> tuple[dict[str, str], list[ReleasedCall]]:
        """Screen the held-back calls (with all the content), then the tail of each text."""
        released = self.calls.finish(self.content.text)
        if self.calls.blocked:
            return {}, released
        # a field other than the content is screened only if there is some of it
        tails = {k: s.finish() for k, s in self.texts.items() if k == "content" or s.text}
        return tails, released

    def release_logprobs(self, *, final: bool) -> dict[str, Any] | None:
        """The logprob entries the released text now covers (None: none, or blocked)."""
        if self.blocking_rule is not None:
            return None
        released = {field: self.texts[field].sent for field in LOGPROB_FIELDS}
        return self.logprobs.release(released, final=final)


def _entries(logprobs: dict[str, Any] | None) -> int:
    """How many logprob entries a released ``logprobs`` object carries."""
    return sum(len(entries or ()) for entries in (logprobs or {}).values())


@dataclasses.dataclass(frozen=True)
class _Screened:
    """One choice of a chunk, screened: what to send for it and what to commit once sent."""

    state: _Choice
    index: int
    extra: list[bytes]
    """Frames to send before the chunk's own (text tails, released tool calls)."""
    relayed: dict[str, Any] | None
    """The choice to relay in the chunk (None: nothing to relay)."""
    released: list[ReleasedCall]
    logprobs: int
    """Logprob entries the relayed choice carries."""


class StreamRelay:
    """Relays upstream chunks to the client, screening each choice's text as it grows.

    Text is released behind a hold-back window (``StreamScreen``), each logprob entry once the
    released text covers its token; tool calls are held back whole and released one delta per
    call once complete and screened (``ToolCallScreen``). What the client received is
    committed to ``result`` only with the frames that carry it.
    """

    def __init__(
        self,
        screener: Screener,
        context: ScanContext,
        holdback: int,
        unknown: UnknownAnswerFields = "drop",
    ) -> None:
        self._screener = screener
        self._context = context
        self._holdback = holdback
        self._unknown = unknown
        self._choices: dict[int, _Choice] = {}
        self.result = StreamOutcome()
        self._last: dict[str, Any] = {}
        self._unknown_found: list[Detection] = []

    def check(self, chunk: dict[str, Any]) -> None:
        """Check a chunk's shape (``AnswerShapeError``) and apply the unknown-field policy."""
        fields, dropped = check_chunk(chunk, self._unknown)
        self.result.dropped_fields.update(dropped)
        if fields and self._unknown == "screen":
            texts = unknown_texts(fields)
            joined = self._screener.screen_joined(texts, Direction.OUTPUT, self._context)
            self._unknown_found += joined.detections
            if joined.action < Action.REDACT:
                return
        if fields:
            self.result.dropped_fields.update(remove(chunk, fields))

    def _choice(self, index: int) -> _Choice:
        state = self._choices.get(index)
        if state is None:
            texts = {
                key: StreamScreen(self._screener, self._context, self._holdback)
                for key in OUTPUT_TEXT_FIELDS
            }
            state = self._choices[index] = _Choice(
                texts, ToolCallScreen(self._screener, self._context)
            )
        return state

    def _blocked_frames(self, index: int, rule: str) -> list[bytes]:
        self.result.outcome, self.result.blocked_rule = "blocked", rule
        stop = {
            **self._last,
            "choices": [{"index": index, "delta": {}, "finish_reason": "content_filter"}],
        }
        error = error_body(
            f"The answer was stopped by the guard policy ({rule}).", "kastell_blocked", rule
        )
        return [sse(stop), sse(error)]

    def _extra_frame(
        self, index: int, delta: dict[str, Any], logprobs: dict[str, Any] | None = None
    ) -> bytes:
        choice = {"index": index, "delta": delta, "finish_reason": None}
        if logprobs is not None:
            choice["logprobs"] = logprobs
        return sse({**self._last, "choices": [choice]})

    def _commit(self, screened: _Screened) -> None:
        index, state = screened.index, screened.state
        self.result.sent[index] = state.content.sent
        for key, screen in state.texts.items():
            if key != "content" and screen.sent:
                self.result.texts.setdefault(index, {})[key] = screen.sent
        if screened.released:
            records = [r.record for r in screened.released]
            self.result.tool_calls.setdefault(index, []).extend(records)
        if screened.logprobs:
            sent = self.result.logprobs_sent.get(index, 0)
            self.result.logprobs_sent[index] = sent + screened.logprobs

    def _screen_choice(self, choice: dict[str, Any]) -> _Screened:
        """Screen one choice of a chunk (see ``_Screened`` for what comes back)."""
        raw_index = choice.get("index", 0)
        index = raw_index if isinstance(raw_index, int) else 0
        state = self._choice(index)
        raw_delta = choice.get("delta")
        delta = dict(raw_delta) if isinstance(raw_delta, dict) else {}
        calls = {k: delta.pop(k) for k in CALL_FIELDS if k in delta}
        self.result.dropped_fields.update(drop_unscreened(delta, _DELTA_FIELDS))
        pieces = state.feed(delta)
        state.logprobs.feed(choice.get("logprobs"))
        released = state.calls.feed(calls, state.content.text) if calls else []
        extra: list[bytes] = []
        finish = choice.get("finish_reason")
        finished = finish is not None and state.blocking_rule is None
        if finished:
            tails, more = state.finish()
            released += more
            for key, tail in tails.items():
                if key in pieces:  # the tail follows this delta's own piece
                    pieces[key] += tail
                elif tail:
                    extra.append(self._extra_frame(index, {key: tail}))
        extra += [self._extra_frame(index, r.delta) for r in released]
        delta.update(pieces)
        logprobs = state.release_logprobs(final=finished)
        out = {k: v for k, v in choice.items() if k != "logprobs"}
        if logprobs is not None or "logprobs" in choice:
            out["logprobs"] = logprobs
        relayed = (
            any(pieces.values())
            or finish is not None
            or logprobs is not None
            or set(delta) - set(state.texts)
        )
        out["delta"] = delta
        return _Screened(
            state, index, extra, out if relayed else None, released, _entries(logprobs)
        )

    def frames(self, chunk: dict[str, Any]) -> list[bytes]:
        """The SSE frames to send for one upstream chunk (a block ends the list).

        Raises ``AnswerShapeError`` (an ``UpstreamError``) for a chunk that is not well-formed.
        """
        self.check(chunk)
        self.result.dropped_fields.update(drop_prompt_data(chunk))
        self._last = {k: v for k, v in chunk.items() if k in ("id", "object", "created", "model")}
        out: list[bytes] = []
        choices_out: list[dict[str, Any]] = []
        commits: list[_Screened] = []
        choices = chunk.get("choices")
        for choice in choices if isinstance(choices, list) else []:
            if not isinstance(choice, dict):
                continue
            screened = self._screen_choice(choice)
            rule = screened.state.blocking_rule
            if rule is not None:
                return self._blocked_frames(screened.index, rule)
            if screened.extra and choices_out:  # what went before in this chunk goes out first
                partial = {k: v for k, v in chunk.items() if k != "usage"}
                out.append(sse({**partial, "choices": choices_out}))
                choices_out = []
            out += screened.extra
            if screened.relayed is not None:
                choices_out.append(screened.relayed)
            commits.append(screened)
        for screened in commits:
            self._commit(screened)
        if choices_out or chunk.get("usage"):
            out.append(sse({**chunk, "choices": choices_out}))
        return out

    def flush(self) -> list[bytes]:
        """Upstream ended: release what every unfinished choice still holds back."""
        frames: list[bytes] = []
        commits: list[_Screened] = []
        for index, state in self._choices.items():
            if state.blocking_rule is not None:
                continue
            tails, released = state.finish()
            rule = state.blocking_rule
            if rule is not None:
                return self._blocked_frames(index, rule)
            frames += [self._extra_frame(index, {k: t}) for k, t in tails.items() if t]
            frames += [self._extra_frame(index, r.delta) for r in released]
            logprobs = state.release_logprobs(final=True)
            if logprobs is not None:
                frames.append(self._extra_frame(index, {}, logprobs))
            commits.append(_Screened(state, index, [], None, released, _entries(logprobs)))
        for screened in commits:
            self._commit(screened)
        return frames

    def details(self) -> dict[str, str]:
        """What the client did not get, for the response record's ``details``.

        ``logprobs_withheld``: the choices that did not get every logprob entry the upstream
        sent (stopped on a mismatch, held back when the stream ended or was blocked);
        ``dropped_fields``: the delta keys dropped.
        """
        withheld = [
            index
            for index, state in self._choices.items()
            if state.logprobs.stopped is not None
            or state.logprobs.received > self.result.logprobs_sent.get(index, 0)
        ]
        return withheld_details(withheld, sorted(self.result.dropped_fields))

    async def relay(
        self,
        send: Send,
        chunks: AsyncIterator[dict[str, Any]],
        first: dict[str, Any] | None,
        disconnected: asyncio.Event,
    ) -> None:
        """Send frames for ``first`` and the rest of ``chunks`` until done, blocked or gone."""
        chunk = first
        while chunk is not None:
            if disconnected.is_set():
                self.result.outcome = "client_disconnected"
                return
            for frame in self.frames(chunk):
                await send({"type": "http.response.body", "body": frame, "more_body": True})
            if self.result.outcome == "blocked":
                return
            chunk = await anext(chunks, None)
        for frame in self.flush():
            await send({"type": "http.response.body", "body": frame, "more_body": True})

    def detections(self) -> list[Detection]:
        """Every output detection of every choice: content and refusal (latest verdicts), calls.

        A tool call is screened with the choice's content, so a rule that fired on the content
        is listed once per choice.
        """
        found: list[Detection] = list(self._unknown_found)
        for state in self._choices.values():
            texts = [d for screen in state.texts.values() for d in screen.verdict.detections]
            rules = {d.rule_id for d in texts}
            found += texts
            for detection in state.calls.detections:
                if detection.rule_id not in rules:
                    rules.add(detection.rule_id)
                    found.append(detection)
        return found
