"""The streamed half of a chat exchange: SSE out, screened through ``StreamScreen``."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

from kastell.guard._asgi import Send, error_body, sse
from kastell.guard.interface import Detection, ScanContext
from kastell.guard.pipeline import Screener
from kastell.guard.streaming import StreamScreen

__all__ = ["SSE_HEADERS", "StreamOutcome", "StreamRelay"]

SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


@dataclasses.dataclass
class StreamOutcome:
    """What happened to a stream: how it ended and exactly what text each choice received."""

    outcome: str = "complete"
    """complete | blocked | client_disconnected | upstream_error"""
    blocked_rule: str | None = None
    sent: dict[int, str] = dataclasses.field(default_factory=dict)

    @property
    def sent_text(self) -> str:
        """The released text of every choice, in index order."""
        return "\n".join(self.sent[i] for i in sorted(self.sent))


class StreamRelay:
    """Relays upstream chunks to the client, screening each choice's text as it grows."""

    def __init__(self, screener: Screener, context: ScanContext, holdback: int) -> None:
        self._screener = screener
        self._context = context
        self._holdback = holdback
        self._screens: dict[int, StreamScreen] = {}
        self.result = StreamOutcome()
        self._last: dict[str, Any] = {}

    def _screen(self, index: int) -> StreamScreen:
        screen = self._screens.get(index)
        if screen is None:
            screen = self._screens[index] = StreamScreen(
                self._screener, self._context, self._holdback
            )
        return screen

    def _blocked_frames(self, index: int, screen: StreamScreen) -> list[bytes]:
        rule = screen.verdict.blocking_rule or "guard.blocked"
        self.result.outcome, self.result.blocked_rule = "blocked", rule
        stop = {
            **self._last,
            "choices": [{"index": index, "delta": {}, "finish_reason": "content_filter"}],
        }
        error = error_body(
            f"The answer was stopped by the guard policy ({rule}).", "kastell_blocked", rule
        )
        return [sse(stop), sse(error)]

    def frames(self, chunk: dict[str, Any]) -> list[bytes]:
        """The SSE frames to send for one upstream chunk (a block ends the list)."""
        self._last = {k: v for k, v in chunk.items() if k in ("id", "object", "created", "model")}
        held: list[bytes] = []
        choices_out: list[dict[str, Any]] = []
        choices = chunk.get("choices")
        for choice in choices if isinstance(choices, list) else []:
            if not isinstance(choice, dict):
                continue
            raw_index = choice.get("index", 0)
            index = raw_index if isinstance(raw_index, int) else 0
            screen = self._screen(index)
            raw_delta = choice.get("delta")
            delta = dict(raw_delta) if isinstance(raw_delta, dict) else {}
            piece = screen.feed(delta["content"]) if isinstance(delta.get("content"), str) else ""
            finish = choice.get("finish_reason")
            if finish is not None and not screen.blocked:
                rest = screen.finish()
                if rest:  # the held-back tail goes out in its own chunk, before the finish
                    tail = {"index": index, "delta": {"content": rest}, "finish_reason": None}
                    held.append(sse({**self._last, "choices": [tail]}))
            if screen.blocked:
                return self._blocked_frames(index, screen)
            self.result.sent[index] = screen.sent
            if "content" in delta:
                delta["content"] = piece
            if piece or finish is not None or set(delta) - {"content"}:
                choices_out.append({**choice, "delta": delta})
        if not choices_out and not chunk.get("usage"):
            return held
        return [*held, sse({**chunk, "choices": choices_out})]

    def flush(self) -> list[bytes]:
        """Upstream ended: release what every unfinished choice still holds back."""
        frames: list[bytes] = []
        for index, screen in self._screens.items():
            if screen.blocked:
                continue
            rest = screen.finish()
            if screen.blocked:
                return self._blocked_frames(index, screen)
            self.result.sent[index] = screen.sent
            if rest:
                choice = {"index": index, "delta": {"content": rest}, "finish_reason": None}
                frames.append(sse({**self._last, "choices": [choice]}))
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
        """Every output detection of every choice (latest verdicts)."""
        return [d for s in self._screens.values() for d in s.verdict.detections]
