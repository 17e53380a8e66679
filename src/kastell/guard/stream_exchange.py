"""The streamed half of a chat exchange: SSE out, screened through ``StreamScreen``.

Tool calls are held back and released whole through ``ToolCallScreen``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

from kastell.guard._asgi import Send, error_body, sse
from kastell.guard.interface import Detection, ScanContext
from kastell.guard.pipeline import Screener
from kastell.guard.streaming import ReleasedCall, StreamScreen, ToolCallScreen

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
    tool_calls: dict[int, list[str]] = dataclasses.field(default_factory=dict)
    """Per choice, each tool call released, as its canonical JSON line (``tool_call_record``)."""

    @property
    def sent_text(self) -> str:
        """What every choice received, in index order, choices joined by newlines.

        A choice's part is its released content, then for each released tool call a newline
        and the call's canonical JSON line as sent (a content-only choice is just its content).
        """
        indices = sorted(set(self.sent) | set(self.tool_calls))
        parts = ([self.sent.get(i, ""), *self.tool_calls.get(i, [])] for i in indices)
        return "\n".join("\n".join(part) for part in parts)

    @property
    def sent_tool_calls(self) -> int:
        """How many tool calls were released, over all choices."""
        return sum(len(calls) for calls in self.tool_calls.values())


@dataclasses.dataclass
class _Choice:
    """The screens of one streamed choice: its content and its tool calls."""

    content: StreamScreen
    calls: ToolCallScreen

    @property
    def blocking_rule(self) -> str | None:
        if self.content.blocked:
            return self.content.verdict.blocking_rule or "guard.blocked"
        return self.calls.blocking_rule

    def finish(self) -> tuple[str, list[ReleasedCall]]:
        """Screen the held-back calls (with all the content), then the content's tail."""
        released = self.calls.finish(self.content.text)
        return ("" if self.calls.blocked else self.content.finish()), released


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
        text = delta.get("content")
        piece = state.content.feed(text) if isinstance(text, str) else ""
        released = state.calls.feed(calls, state.content.text) if calls else []
        extra: list[bytes] = []
        finish = choice.get("finish_reason")
        if finish is not None and state.blocking_rule is None:
            tail, more = state.finish()
            released += more
            if isinstance(text, str):  # the tail follows this delta's own piece
                piece, tail = piece + tail, ""
            if tail:
                extra.append(self._extra_frame(index, {"content": tail}))
        extra += [self._extra_frame(index, r.delta) for r in released]
        if isinstance(text, str):
            delta["content"] = piece
        relayed = piece or finish is not None or set(delta) - {"content"}
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
            tail, released = state.finish()
            rule = state.blocking_rule
            if rule is not None:
                return self._blocked_frames(index, rule)
            if tail:
                frames.append(self._extra_frame(index, {"content": tail}))
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
        """Every output detection of every choice: content (latest verdict) and tool calls.

        A tool call is screened with the choice's content, so a rule that fired on the content
        is listed once per choice.
        """
        found: list[Detection] = []
        for state in self._choices.values():
            content = list(state.content.verdict.detections)
            rules = {d.rule_id for d in content}
            found += content
            for detection in state.calls.detections:
                if detection.rule_id not in rules:
                    rules.add(detection.rule_id)
                    found.append(detection)
        return found
