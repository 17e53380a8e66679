"""One chat-completion exchange: screen the request, forward it, screen the answer, audit it.

Order of events for a non-streamed answer: input screening -> (blocked: audit, HTTP 400) ->
canary planted -> upstream -> output screening of content and tool calls (``answer_screen``) ->
audit record committed -> response sent.
For a streamed answer the request record is committed before the first byte, the answer is
released through ``StreamScreen`` and a response record stating exactly what was sent is
committed before the final ``[DONE]``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

from kastell.audit.interface import AuditEvent, EventType
from kastell.guard import _records as rec
from kastell.guard._asgi import Send, error_body, send_error, send_json, sse
from kastell.guard.answer_shape import AnswerShapeError
from kastell.guard.canaries import plant_canary
from kastell.guard.interface import Action, Detection, Direction, ScanContext, UpstreamError
from kastell.guard.offload import ScreenedAnswer, screen_answer, send_answer
from kastell.guard.pipeline import message_texts
from kastell.guard.request_body import BadRequestError, ChatRequest, parse_chat_body
from kastell.guard.request_screen import RequestVerdict, screen_request
from kastell.guard.runtime import GuardRuntime, TenantRuntime
from kastell.guard.stream_exchange import SSE_HEADERS, StreamRelay
from kastell.types import Severity

__all__ = ["BadRequestError", "ChatExchange", "parse_chat_body"]

# the request parser lives in request_body; re-exported here for callers of the old place


@dataclasses.dataclass
class ChatExchange:
    """State of one exchange (created per request by the app)."""

    runtime: GuardRuntime
    tenant: TenantRuntime
    request: ChatRequest
    request_id: str
    session: str | None
    started: float = dataclasses.field(default_factory=time.perf_counter)

    @property
    def body(self) -> dict[str, Any]:
        """The client's request body, as checked."""
        return self.request.body

    async def _audit(self, event: AuditEvent) -> None:
        if self.runtime.audit is not None:
            await self.runtime.audit.record(event)

    def _count(self, status: int) -> None:
        metrics = self.runtime.metrics
        metrics.inc(
            "kastell_guard_requests_total", {"tenant": self.tenant.name, "status": str(status)}
        )
        metrics.observe_latency(time.perf_counter() - self.started)

    def _rule_hits(self, direction: Direction, action: Action, detections: list[Detection]) -> None:
        metrics = self.runtime.metrics
        metrics.inc(
            "kastell_guard_decisions_total", {"direction": direction.value, "action": action.label}
        )
        for detection in detections:
            metrics.inc("kastell_guard_rule_hits_total", {"rule": detection.rule_id})

    def _prompt_text(self) -> tuple[str, str]:
        """(raw, audit-redacted) text of the last message, for the audit record."""
        raw = "\n".join(message_texts(self.body["messages"][-1]))
        return raw, rec.audit_copy(raw)

    async def run(self, send: Send, disconnected: asyncio.Event) -> int:
        """Handle the exchange; return the HTTP status sent."""
        pool = self.runtime.screening
        verdict = (
            await pool.request(self.tenant.screener, self.tenant.name, self.request)
            if pool is not None
            else screen_request(self.tenant.screener, self.request)
        )
        found = [d for _, d in verdict.detections]
        self._rule_hits(Direction.INPUT, verdict.action, found)
        raw_prompt, audit_prompt = self._prompt_text()
        common = self._common(verdict, raw_prompt, audit_prompt)
        if verdict.action is Action.BLOCK:
            rule = verdict.blocking_rule or "guard.blocked"
            await self._audit(
                rec.event(
                    EventType.BLOCK,
                    action=Action.BLOCK,
                    rules=[d.rule_id for d in found],
                    severity=Severity.HIGH,
                    status=400,
                    message=f"input blocked by {rule}",
                    **common,
                )
            )
            await send_error(
                send,
                400,
                f"The request was blocked by the guard policy ({rule}).",
                "kastell_blocked",
                rule,
            )
            self._count(400)
            return 400
        await self._watch_extraction(raw_prompt)
        canary = (
            self.runtime.canaries.for_session(self.tenant.name, self.session)
            if self.tenant.policy.canary
            else None
        )
        forwarded, reference = plant_canary(
            verdict.messages, canary, self.tenant.policy.system_prompt
        )
        context = ScanContext(role="assistant", canary=canary, system_prompt=reference)
        body = {**verdict.body, "messages": forwarded}
        if self.body.get("stream"):
            return await self._stream(send, disconnected, body, context, verdict, common)
        return await self._complete(send, body, context, verdict, common)

    def _common(self, verdict: RequestVerdict, raw: str, redacted: str) -> dict[str, Any]:
        full = raw if self.tenant.policy.full_text_audit else None
        return {
            "tenant": self.tenant.name,
            "request_id": self.request_id,
            "prompt_digest": rec.messages_digest(self.body["messages"]),
            "served_model_digest": self.runtime.served_digests.get(self.tenant.upstream),
            "upstream": self.tenant.upstream,
            "redacted_text": redacted,
            "full_text": full,
        }

    async def _watch_extraction(self, prompt: str) -> None:
        wants_logprobs = (
            bool(self.body.get("logprobs")) or self.body.get("top_logprobs") is not None
        )
        alerts = await self.runtime.extraction.observe(
            self.tenant.name, prompt, wants_logprobs=wants_logprobs
        )
        for alert in alerts:
            self.runtime.metrics.inc(
                "kastell_guard_alerts_total", {"kind": f"extraction_{alert.kind}"}
            )
            await self._audit(
                rec.event(
                    EventType.EXTRACTION_ALERT,
                    tenant=self.tenant.name,
                    request_id=self.request_id,
                    severity=Severity.HIGH,
                    message=alert.message,
                    details={
                        "kind": alert.kind,
                        "value": str(alert.value),
                        "threshold": str(alert.threshold),
                    },
                )
            )

    async def _upstream_failed(
        self, send: Send, error: UpstreamError, common: dict[str, Any]
    ) -> int:
        status = error.http_status
        self.runtime.metrics.inc("kastell_guard_upstream_errors_total", {"status": str(status)})
        await self._audit(
            rec.event(
                EventType.UPSTREAM_ERROR,
                status=status,
                message=error.message[:300],
                severity=Severity.MEDIUM,
                **common,
            )
        )
        body = getattr(error, "body", None)
        if 400 <= status < 500 and isinstance(body, dict) and "error" in body:
            await send_json(send, status, body)
        else:
            kind = "upstream_timeout" if status == 504 else "upstream_error"
            await send_error(send, status, error.message, kind, kind)
        self._count(status)
        return status

    async def _incident(self, detections: list[Detection], common: dict[str, Any]) -> None:
        from kastell.guard.scanners.canary import CanaryLeakDetector

        if any(d.rule_id == CanaryLeakDetector.RULE for d in detections):
            self.runtime.metrics.inc("kastell_guard_alerts_total", {"kind": "canary_leak"})
            await self._audit(
                rec.event(
                    EventType.CANARY_LEAK,
                    action=Action.BLOCK,
                    rules=[CanaryLeakDetector.RULE],
                    severity=Severity.CRITICAL,
                    message="session canary seen in the model's answer",
                    **common,
                )
            )

    async def _complete(
        self,
        send: Send,
        body: dict[str, Any],
        context: ScanContext,
        verdict: RequestVerdict,
        common: dict[str, Any],
    ) -> int:
        upstream = self.runtime.upstreams[self.tenant.upstream]
        try:
            raw = await upstream.complete(body)
        except UpstreamError as error:
            return await self._upstream_failed(send, error, common)
        screened = await self._screen_answer(context, raw)
        if screened.error is not None:
            return await self._upstream_failed(send, AnswerShapeError(screened.error), common)
        rules = [d.rule_id for _, d in verdict.detections]
        action = verdict.action
        for choice_action, detections in (*screened.choices, screened.unknown):
            self._rule_hits(Direction.OUTPUT, choice_action, list(detections))
            rules += [d.rule_id for d in detections]
            action = max(action, choice_action)
            if choice_action is Action.BLOCK:
                await self._incident(list(detections), common)
        details = {**screened.details, **self._request_details()}
        common = {
            **common,
            "redacted_text": f"{common['redacted_text']}\n---\n" + "\n".join(screened.audit_texts),
        }
        await self._audit(
            rec.event(
                EventType.RESPONSE,
                action=action,
                rules=rules,
                status=200,
                response_digest=screened.digest,
                latency_us=int((time.perf_counter() - self.started) * 1e6),
                details=details or None,
                **common,
            )
        )
        await send_answer(send, screened)
        self._count(200)
        return 200

    async def _screen_answer(self, context: ScanContext, raw: list[bytes]) -> ScreenedAnswer:
        unknown = self.tenant.policy.unknown_answer_fields
        pool = self.runtime.screening
        if pool is None:
            return screen_answer(self.tenant.screener, context, b"".join(raw), unknown)
        return await pool.answer(self.tenant.screener, self.tenant.name, context, raw, unknown)

    def _request_details(self) -> dict[str, str]:
        """The request's unknown fields dropped by policy, for the records' ``details``."""
        dropped = self.request.dropped
        return {"request_dropped_fields": ",".join(sorted(dropped))} if dropped else {}

    async def _stream(
        self,
        send: Send,
        disconnected: asyncio.Event,
        body: dict[str, Any],
        context: ScanContext,
        verdict: RequestVerdict,
        common: dict[str, Any],
    ) -> int:
        upstream = self.runtime.upstreams[self.tenant.upstream]
        rules = [d.rule_id for _, d in verdict.detections]
        # the request record is committed while the upstream prepares its first chunk; the
        # first byte goes out only once both are done
        recorded = asyncio.ensure_future(
            self._audit(rec.event(EventType.REQUEST, action=verdict.action, rules=rules, **common))
        )
        chunks = upstream.stream(body)
        relay = StreamRelay(
            self.tenant.screener,
            context,
            self.runtime.limits.stream_holdback_chars,
            self.tenant.policy.unknown_answer_fields,
        )
        try:
            first = await anext(chunks, None)
            if first is not None:
                relay.check(first)  # a malformed first chunk is a 502 before any byte is sent
        except UpstreamError as error:
            await chunks.aclose()  # type: ignore[attr-defined]
            await recorded
            return await self._upstream_failed(send, error, common)
        except BaseException:
            recorded.cancel()
            raise
        try:
            await recorded
        except BaseException:
            await chunks.aclose()  # type: ignore[attr-defined]
            raise
        await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
        try:
            await relay.relay(send, chunks, first, disconnected)
        except UpstreamError as error:
            relay.result.outcome = "upstream_error"
            frame = sse(error_body(error.message, "upstream_error", "upstream_error"))
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]
        await self._record_stream(relay, verdict, rules, common)
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False})
        self._count(200)
        return 200

    async def _record_stream(
        self,
        relay: StreamRelay,
        verdict: RequestVerdict,
        rules: list[str],
        common: dict[str, Any],
    ) -> None:
        """Commit the stream's response record: outcome and exactly what was sent."""
        result = relay.result
        found = relay.detections()
        out_action = (
            Action.BLOCK if result.blocked_rule else self.tenant.screener.policy.check(found)
        )
        self._rule_hits(Direction.OUTPUT, out_action, found)
        action = max(out_action, verdict.action)
        if result.blocked_rule:
            await self._incident(found, common)
        sent = result.sent_text
        redacted = f"{common['redacted_text']}\n---\n{rec.audit_copy(sent)}"
        # a lone surrogate the upstream sent (JSON "\\ud800") is hashed as is, not refused
        sent_bytes = sent.encode("utf-8", "surrogatepass")
        await self._audit(
            rec.event(
                EventType.RESPONSE,
                action=action,
                rules=rules + [d.rule_id for d in found],
                status=200,
                response_digest=rec.sha256_digest(sent_bytes),
                latency_us=int((time.perf_counter() - self.started) * 1e6),
                details={
                    "stream": True,
                    "outcome": result.outcome,
                    "sent_chars": len(sent),
                    "sent_tool_calls": result.sent_tool_calls,
                    **relay.details(),
                    **self._request_details(),
                },
                **{**common, "redacted_text": redacted},
            )
        )
