"""The streamed half of a chat exchange: SSE out, screened through ``StreamScreen``.

A choice's content and its refusal are each released through a ``StreamScreen``; a content or
refusal delta that is not a string (nor null) stops the stream. Tool calls are held back and
released whole through ``ToolCallScreen``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

from kastell.guard._asgi import Send, error_body, sse
from kastell.guard.interface import Detection, ScanContext
from kastell.guard.pipeline import Screener
from kastell.guard.streaming import UNSCREENABLE_RULE, ReleasedCall, StreamScreen, ToolCallScreen

__all__ = ["SSE_HEADERS", "StreamOutcome", "StreamRelay"]

SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


@dataclasses.dataclass
class StreamOutcome:
    """What happened to a stream: how it ended and exactly what each choice received."""

    outcome: str = "complete"
    """complete | blocked | client_disconnected | upstream_error"""
    blocked_rule: str | None = None
    sent: dict[int, str] = dataclasses.field(default_factory=dict)
    """Per choice, the content released."""
    refusals: dict[int, str] = dataclasses.field(default_factory=dict)
    """Per choice that released any of a refusal, the refusal released."""
    tool_calls: dict[int, list[str]] = dataclasses.field(default_factory=dict)
    """Per choice, each tool call released, as its canonical JSON line (``tool_call_record``)."""

    @property
    def sent_text(self) -> str:
        """What every choice received, in index order, choices joined by newlines.

        A choice's part is its released content, then (if it released one) a newline and its
        refusal, then for each released tool call a newline and the call's canonical JSON line
        as sent (a content-only choice is just its content).
        """
        indices = sorted(set(self.sent) | set(self.refusals) | set(self.tool_calls))
        refusals = {i: [text] for i, text in self.refusals.items()}
        parts = (
            [self.sent.get(i, ""), *refusals.get(i, []), *self.tool_calls.get(i, [])]
            for i in indices
        )
        return "\n".join("\n".join(part) for part in parts)

    @property
    def sent_tool_calls(self) -> int:
        """How many tool calls were released, over all choices."""
        return sum(len(calls) for calls in self.tool_calls.values())


@dataclasses.dataclass
class _Choice:
    """The screens of one streamed choice: its content, its refusal and its tool calls."""

    content: StreamScreen
    refusal: StreamScreen
    calls: ToolCallScreen

    @property
    def texts(self) -> dict[str, StreamScreen]:
        """The screen of each text field of the choice's deltas, by field name."""
        return {"content": self.content, "refusal": self.refusal}

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
        tails = {"content": self.content.finish()}
        if self.refusal.text:  # a refusal is screened only if there is one
            tails["refusal"] = self.refusal.finish()
        return tails, released


class StreamRelay:
    """Relays upstream chunks to the client, screening each choice's text as it grows.

    Content is released behind a hold-back window (``StreamScreen``); tool calls are held back
    whole and released one delta per call once complete and screened (``ToolCallScreen``).
    What the client received is committed to ``result`` only with the frames that carry it.
    """

    def __init__(self, screener: Screener, context: ScanContext, holdback: int) -> None:
        self._screener = screener
        self._context = context
        self._holdback = holdback
        self._choices: dict[int, _Choice] = {}
        self.result = StreamOutcome()
        self._last: dict[str, Any] = {}

    def _choice(self, index: int) -> _Choice:
        state = self._choices.get(index)
        if state is None:
            state = self._choices[index] = _Choice(
                StreamScreen(self._screener, self._context, self._holdback),
                StreamScreen(self._screener, self._context, self._holdback),
                ToolCallScreen(self._screener, self._context),
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

    def _extra_frame(self, index: int, delta: dict[str, Any]) -> bytes:
        choice = {"index": index, "delta": delta, "finish_reason": None}
        return sse({**self._last, "choices": [choice]})

    def _commit(self, index: int, state: _Choice, released: list[ReleasedCall]) -> None:
        self.result.sent[index] = state.content.sent
        if state.refusal.sent:
            self.result.refusals[index] = state.refusal.sent
        if released:
            self.result.tool_calls.setdefault(index, []).extend(r.record for r in released)

    def _screen_choice(
        self, choice: dict[str, Any]
    ) -> tuple[_Choice, int, list[bytes], dict[str, Any] | None, list[ReleasedCall]]:
        """Screen one choice of a chunk.

        Returns its state and index, the frames to send before it (content tail, released
        tool calls), the choice to relay (None: nothing to relay) and the calls released.
        """
        raw_index = choice.get("index", 0)
        index = raw_index if isinstance(raw_index, int) else 0
        state = self._choice(index)
        raw_delta = choice.get("delta")
        delta = dict(raw_delta) if isinstance(raw_delta, dict) else {}
        calls = {k: delta.pop(k) for k in ("tool_calls", "function_call") if k in delta}
        pieces = state.feed(delta)
        released = state.calls.feed(calls, state.content.text) if calls else []
        extra: list[bytes] = []
        finish = choice.get("finish_reason")
        if finish is not None and state.blocking_rule is None:
            tails, more = state.finish()
            released += more
            for key, tail in tails.items():
                if key in pieces:  # the tail follows this delta's own piece
                    pieces[key] += tail
                elif tail:
                    extra.append(self._extra_frame(index, {key: tail}))
        extra += [self._extra_frame(index, r.delta) for r in released]
        delta.update(pieces)
        relayed = any(pieces.values()) or finish is not None or set(delta) - set(state.texts)
        return state, index, extra, ({**choice, "delta": delta} if relayed else None), released

    def frames(self, chunk: dict[str, Any]) -> list[bytes]:
        """The SSE frames to send for one upstream chunk (a block ends the list)."""
        self._last = {k: v for k, v in chunk.items() if k in ("id", "object", "created", "model")}
        out: list[bytes] = []
        choices_out: list[dict[str, Any]] = []
        commits: list[tuple[int, _Choice, list[ReleasedCall]]] = []
        choices = chunk.get("choices")
        for choice in choices if isinstance(choices, list) else []:
            if not isinstance(choice, dict):
                continue
            state, index, extra, relayed, released = self._screen_choice(choice)
            rule = state.blocking_rule
            if rule is not None:
                return self._blocked_frames(index, rule)
            if extra and choices_out:  # what went before in this chunk goes out first
                partial = {k: v for k, v in chunk.items() if k != "usage"}
                out.append(sse({**partial, "choices": choices_out}))
                choices_out = []
            out += extra
            if relayed is not None:
                choices_out.append(relayed)
            commits.append((index, state, released))
        for commit in commits:
            self._commit(*commit)
        if choices_out or chunk.get("usage"):
            out.append(sse({**chunk, "choices": choices_out}))
        return out

    def flush(self) -> list[bytes]:
        """Upstream ended: release what every unfinished choice still holds back."""
        frames: list[bytes] = []
        commits: list[tuple[int, _Choice, list[ReleasedCall]]] = []
        for index, state in self._choices.items():
            if state.blocking_rule is not None:
                continue
            tails, released = state.finish()
            rule = state.blocking_rule
            if rule is not None:
                return self._blocked_frames(index, rule)
            frames += [self._extra_frame(index, {k: t}) for k, t in tails.items() if t]
            frames += [self._extra_frame(index, r.delta) for r in released]
            commits.append((index, state, released))
        for commit in commits:
            self._commit(*commit)
        return frames

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
        found: list[Detection] = []
        for state in self._choices.values():
            texts = [d for screen in state.texts.values() for d in screen.verdict.detections]
            rules = {d.rule_id for d in texts}
            found += texts
            for detection in state.calls.detections:
                if detection.rule_id not in rules:
                    rules.add(detection.rule_id)
                    found.append(detection)
        return found
