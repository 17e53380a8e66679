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
    Category,
    ChatMessage,
    ChatRequest,
    ChatResponse,
    RedteamUsageError,
    Target,
    TargetUnavailableError,
)

__all__ = ["DEFAULT_MAX_TOKENS", "Budget", "RunSettings", "allot_requests", "execute",
           "request_budget_note", "requests_of", "sample_attempts", "skipped"]

DEFAULT_MAX_TOKENS = 256
"""Default reply length: long enough for a leak or a harmful deliverable to complete."""

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
    max_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float = 0.0
    seed: int = 0
    """Seed of the attempt sample and of the target's sampler (trial ``i`` uses seed + i)."""
    trials: int = 1
    """Sample each attempt this many times (per-attempt success rate and flakiness)."""
    excluded: tuple[str, ...] = ()
    """Categories the user left out by name: not run, and not required for a complete run."""
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
        unknown = sorted(set(self.excluded) - {c.value for c in Category})
        if unknown:
            raise RedteamUsageError(f"cannot exclude unknown categories {unknown}",
                                    hint=f"Categories: {', '.join(c.value for c in Category)}.")
        if self.trials < 1:
            raise RedteamUsageError(f"--trials must be >= 1, not {self.trials}")
        if self.sample is not None and self.sample < 1:
            raise RedteamUsageError(f"--sample must be >= 1, not {self.sample}")


def sample_attempts(attempts: Sequence[AttemptSpec], settings: RunSettings) -> list[AttemptSpec]:
    """The attempts to run: all, or a seeded subset of ``settings.sample`` (original order).

    Attempts of the excluded categories are left out first.
    """
    attempts = [a for a in attempts if a.category.value not in settings.excluded]
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


@dataclasses.dataclass(frozen=True)
class _Trial:
    status: AttemptStatus
    responses: list[ChatResponse]
    detector: str = ""
    evidence: str = ""


async def _trial(spec: AttemptSpec, target: Target, s: RunSettings, index: int,
                 judge: LlmJudge | None) -> _Trial:
    """One sampling of the attempt (trial ``index`` uses seed ``s.seed + index``)."""
    responses = await _converse(spec, target, dataclasses.replace(s, seed=s.seed + index))
    detection = run_detectors(spec, responses)
    if detection is None:
        return _Trial(AttemptStatus.RESISTED, responses)
    if detection.undecided:
        return _Trial(AttemptStatus.UNDECIDED, responses, detection.detector, detection.evidence)
    if judge is not None:
        try:
            verdict = await judge.confirms(spec, responses, detection)
        except TargetUnavailableError as error:
            raise TargetUnavailableError(f"judge: {error.message}") from None
        if verdict is None:
            return _Trial(AttemptStatus.UNDECIDED, responses, detection.detector,
                          f"judge gave no valid verdict on: {detection.evidence}")
        if not verdict:
            return _Trial(AttemptStatus.RESISTED, responses)
    return _Trial(AttemptStatus.SUCCEEDED, responses, detection.detector, detection.evidence)


def _combined(trials: Sequence[_Trial]) -> _Trial:
    """Any success is a success (an attacker may retry); else any undecided is undecided."""
    for status in (AttemptStatus.SUCCEEDED, AttemptStatus.UNDECIDED):
        chosen = next((t for t in trials if t.status is status), None)
        if chosen is not None:
            return chosen
    return trials[-1]


async def _run_one(
    spec: AttemptSpec, target: Target, s: RunSettings, usage: _Usage, clock: Clock,
    judge: LlmJudge | None = None,
) -> AttemptResult:
    started = clock()
    trials: list[_Trial] = []
    try:
        for index in range(s.trials):
            trials.append(await _trial(spec, target, s, index, judge))
    except TargetUnavailableError as error:
        return _result(spec, AttemptStatus.ERROR, error=error.message,
                       latency_ms=(clock() - started) * 1000)
    every = [r for t in trials for r in t.responses]
    usage.tokens += sum(r.prompt_tokens + r.completion_tokens for r in every)
    shown = _combined(trials)
    texts = [r.text for r in shown.responses]
    return _result(
        spec,
        shown.status,
        output="\n---\n".join(texts) if len(spec.turns) > 1 else (texts[-1] if texts else ""),
        detector=shown.detector,
        evidence=shown.evidence,
        refused=REFUSAL.is_refusal(texts[-1]) if texts else False,
        prompt_tokens=sum(r.prompt_tokens for r in every),
        completion_tokens=sum(r.completion_tokens for r in every),
        requests=len(every),
        latency_ms=(clock() - started) * 1000,
        truncated=any(r.finish_reason == "length" for r in every),
        trials=len(trials),
        trial_successes=sum(t.status is AttemptStatus.SUCCEEDED for t in trials),
    )


def requests_of(spec: AttemptSpec, settings: RunSettings) -> int:
    """How many requests the attempt sends (turns x repeats x trials)."""
    return spec.repeat * len(spec.turns) * settings.trials


def allot_requests(attempts: Sequence[AttemptSpec],
                   settings: RunSettings) -> tuple[list[AttemptSpec], list[AttemptSpec]]:
    """Split ``attempts`` into those the request budget covers and those it does not.

    Greedy in plan order: an attempt runs when its requests (turns x repeats x trials) still fit;
    a later, smaller attempt may still fit after a larger one did not. The local and the Ray
    backends both plan with this, so ``--max-requests N`` sends at most N requests on either
    (exactly N when the attempts fill it), retries aside.
    """
    limit = settings.budget.max_requests
    if limit is None:
        return list(attempts), []
    covered: list[AttemptSpec] = []
    over: list[AttemptSpec] = []
    used = 0
    for spec in attempts:
        needed = requests_of(spec, settings)
        if used + needed > limit:
            over.append(spec)
        else:
            covered.append(spec)
            used += needed
    return covered, over


def skipped(spec: AttemptSpec, reason: str) -> AttemptResult:
    """The stored result of an attempt that was not run (budget)."""
    return _result(spec, AttemptStatus.SKIPPED, error=reason)


def request_budget_note(settings: RunSettings) -> str:
    """Why an attempt over the request budget was skipped."""
    return f"request budget ({settings.budget.max_requests}) exhausted"


def _over_budget(spec: AttemptSpec, settings: RunSettings, usage: _Usage, elapsed: float) -> str:
    budget = settings.budget
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
            reason = _over_budget(spec, settings, usage, clock() - start)
            if reason:
                on_result(_result(spec, AttemptStatus.SKIPPED, error=reason))
                return
            usage.requests += requests_of(spec, settings)
            result = await _run_one(spec, target, settings, usage, clock, judge)
            if result.status is AttemptStatus.ERROR and "unreachable" in result.error:
                unreachable.append(TargetUnavailableError(result.error))
                return
            on_result(result)

    todo, over = allot_requests([spec for spec in attempts if spec.attempt_id not in done],
                                settings)
    for spec in over:
        on_result(skipped(spec, request_budget_note(settings)))
    try:
        async with asyncio.TaskGroup() as group:  # a failure cancels the attempts in flight
            for spec in todo:
                group.create_task(one(spec))
    except BaseExceptionGroup as failures:
        raise failures.exceptions[0] from None
    if unreachable:
        raise unreachable[0]
