"""Run attempts against a target: asyncio with bounded concurrency, budgets, resume.

The runner is pure orchestration: the target, the clock and the result sink are passed in.
Every finished attempt goes to ``on_result`` at once (the store writes it), so an interrupted
run loses at most the attempts in flight, and ``resume`` skips what is already stored.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections.abc import Callable, Collection, Sequence

from kastell.redteam.detectors.judge import LlmJudge
from kastell.redteam.detectors.registry import REFUSAL, run_detectors
from kastell.redteam.interface import (
    AttemptId,
    AttemptResult,
    AttemptSpec,
    AttemptStatus,
    ChatMessage,
    ChatRequest,
    ChatResponse,
    RedteamUsageError,
    Target,
    TargetUnavailableError,
)

__all__ = ["Budget", "RunSettings", "execute", "sample_attempts"]

Clock = Callable[[], float]


@dataclasses.dataclass(frozen=True)
class Budget:
    """Per-run limits; attempts that do not fit are recorded as skipped (run incomplete)."""

    max_requests: int | None = None
    max_tokens: int | None = None
    """Prompt plus completion tokens over the run."""
    max_seconds: float | None = None


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """How to run: concurrency, reply length, sampling and budgets."""

    concurrency: int = 4
    max_tokens: int = 48
    temperature: float = 0.0
    seed: int = 0
    sample: int | None = None
    """Run a seeded random subset of this many attempts."""
    budget: Budget = dataclasses.field(default_factory=Budget)

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.max_tokens < 1:
            raise RedteamUsageError(
                f"concurrency and max_tokens must be >= 1 (got {self.concurrency}, "
                f"{self.max_tokens})"
            )
        if not 0.0 <= self.temperature <= 2.0:
            raise RedteamUsageError(f"temperature must be within [0, 2], not {self.temperature}")
        if self.sample is not None and self.sample < 1:
            raise RedteamUsageError(f"--sample must be >= 1, not {self.sample}")


def sample_attempts(attempts: Sequence[AttemptSpec], settings: RunSettings) -> list[AttemptSpec]:
    """The attempts to run: all, or a seeded subset of ``settings.sample`` (original order)."""
    if settings.sample is None or settings.sample >= len(attempts):
        return list(attempts)
    chosen = set(random.Random(settings.seed).sample(range(len(attempts)), settings.sample))
    return [a for i, a in enumerate(attempts) if i in chosen]


@dataclasses.dataclass
class _Usage:
    requests: int = 0
    tokens: int = 0


def _request(spec: AttemptSpec, messages: tuple[ChatMessage, ...], s: RunSettings) -> ChatRequest:
    options = spec.request_options
    return ChatRequest(
        messages=messages,
        max_tokens=spec.max_tokens or s.max_tokens,
        temperature=s.temperature,
        seed=s.seed,
        tools=spec.tools,
        logprobs=bool(options.get("logprobs", False)),
        top_logprobs=options.get("top_logprobs"),
        retry_rate_limited=spec.repeat == 1,
    )


async def _converse(spec: AttemptSpec, target: Target, s: RunSettings) -> list[ChatResponse]:
    history: tuple[ChatMessage, ...] = (
        (ChatMessage("system", spec.system),) if spec.system else ()
    ) + spec.context
    responses: list[ChatResponse] = []
    if spec.repeat > 1:
        request = _request(spec, (*history, ChatMessage("user", spec.turns[0])), s)
        for _ in range(spec.repeat):
            responses.append(await target.send(request))
        return responses
    for turn in spec.turns:
        history = (*history, ChatMessage("user", turn))
        response = await target.send(_request(spec, history, s))
        responses.append(response)
        history = (*history, ChatMessage("assistant", response.text))
    return responses


def _result(spec: AttemptSpec, status: AttemptStatus, **fields: object) -> AttemptResult:
    return AttemptResult(
        attempt_id=spec.attempt_id,
        probe_id=spec.probe_id,
        category=spec.category,
        language=spec.language,
        status=status,
        prompt="\n---\n".join(spec.turns),
        output=str(fields.pop("output", "")),
        **fields,  # type: ignore[arg-type]
    )


async def _run_one(
    spec: AttemptSpec, target: Target, s: RunSettings, usage: _Usage, clock: Clock,
    judge: LlmJudge | None = None,
) -> AttemptResult:
    started = clock()
    try:
        responses = await _converse(spec, target, s)
    except TargetUnavailableError as error:
        return _result(spec, AttemptStatus.ERROR, error=error.message,
                       latency_ms=(clock() - started) * 1000)
    tokens = sum(r.prompt_tokens + r.completion_tokens for r in responses)
    usage.tokens += tokens
    detection = run_detectors(spec, responses)
    if detection is not None and judge is not None:
        try:
            if not await judge.confirms(spec, responses, detection):
                detection = None
        except TargetUnavailableError as error:
            return _result(spec, AttemptStatus.ERROR, error=f"judge: {error.message}",
                           latency_ms=(clock() - started) * 1000)
    texts = [r.text for r in responses]
    return _result(
        spec,
        AttemptStatus.SUCCEEDED if detection else AttemptStatus.RESISTED,
        output="\n---\n".join(texts) if len(spec.turns) > 1 else (texts[-1] if texts else ""),
        detector=detection.detector if detection else "",
        evidence=detection.evidence if detection else "",
        refused=REFUSAL.is_refusal(texts[-1]) if texts else False,
        prompt_tokens=sum(r.prompt_tokens for r in responses),
        completion_tokens=sum(r.completion_tokens for r in responses),
        requests=len(responses),
        latency_ms=(clock() - started) * 1000,
    )


def _over_budget(spec: AttemptSpec, budget: Budget, usage: _Usage, elapsed: float) -> str:
    needed = spec.repeat * len(spec.turns)
    if budget.max_requests is not None and usage.requests + needed > budget.max_requests:
        return f"request budget ({budget.max_requests}) exhausted"
    if budget.max_tokens is not None and usage.tokens >= budget.max_tokens:
        return f"token budget ({budget.max_tokens}) exhausted"
    if budget.max_seconds is not None and elapsed >= budget.max_seconds:
        return f"time budget ({budget.max_seconds:g} s) exhausted"
    return ""


async def execute(
    attempts: Sequence[AttemptSpec],
    target: Target,
    settings: RunSettings,
    on_result: Callable[[AttemptResult], None],
    *,
    done: Collection[AttemptId] = (),
    clock: Clock = time.monotonic,
    judge: LlmJudge | None = None,
) -> None:
    """Run every attempt not in ``done``, at most ``settings.concurrency`` at a time.

    A ``judge`` (optional) reviews content detections and can only overrule them.

    Raises:
        TargetUnavailableError: the target is unreachable (after retries); the run stops, and
            what finished so far is already stored for ``resume``.
    """
    usage = _Usage()
    start = clock()
    semaphore = asyncio.Semaphore(settings.concurrency)
    unreachable: list[TargetUnavailableError] = []

    async def one(spec: AttemptSpec) -> None:
        async with semaphore:
            if unreachable:
                return
            reason = _over_budget(spec, settings.budget, usage, clock() - start)
            if reason:
                on_result(_result(spec, AttemptStatus.SKIPPED, error=reason))
                return
            usage.requests += spec.repeat * len(spec.turns)
            result = await _run_one(spec, target, settings, usage, clock, judge)
            if result.status is AttemptStatus.ERROR and "unreachable" in result.error:
                unreachable.append(TargetUnavailableError(result.error))
                return
            on_result(result)

    todo = [spec for spec in attempts if spec.attempt_id not in done]
    try:
        async with asyncio.TaskGroup() as group:  # a failure cancels the attempts in flight
            for spec in todo:
                group.create_task(one(spec))
    except BaseExceptionGroup as failures:
        raise failures.exceptions[0] from None
    if unreachable:
        raise unreachable[0]
