"""Fan a campaign out over Ray workers (optional extra: ``pip install 'kastell[ray]'``).

The attempts are split into chunks; each chunk runs in a Ray task that opens its own target
from the target spec (``URL`` or ``python:MODULE:CALLABLE``; ``local`` would start one model per
worker) with the run's timeout and retries, and runs the ordinary asyncio runner on it. Results
come back chunk by chunk to the driver, which stores them, so resume works as with the asyncio
backend. The request budget is planned on the driver with the local backend's own rule
(``runner.allot_requests``), so ``--max-requests N`` sends at most N requests on either; the
time budget applies to every chunk from its start; the token budget (known only after the
replies) is split evenly across chunks. Without a Ray address, a single-node Ray instance is
started on this machine for the campaign and stopped after it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Collection, Sequence
from typing import Any

from kastell.redteam.interface import (
    AttemptId,
    AttemptResult,
    AttemptSpec,
    RedteamUsageError,
    TargetUnavailableError,
)
from kastell.redteam.runner import (
    Budget,
    RunSettings,
    allot_requests,
    execute,
    request_budget_note,
    skipped,
)

__all__ = ["TargetOptions", "execute_on_ray", "run_chunk"]


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RedteamUsageError(
            "the Ray backend needs the ray package",
            hint="pip install 'kastell[ray]', or run without --workers.",
        ) from None
    return ray


@dataclasses.dataclass(frozen=True)
class TargetOptions:
    """How each worker opens the target: the same options as the local backend."""

    model: str = "default"
    timeout: float = 60.0
    retries: int = 2


def run_chunk(target_spec: str, options: TargetOptions, chunk: list[AttemptSpec],
              settings: RunSettings) -> list[AttemptResult]:
    """Run one chunk on a worker (also callable in-process): open, run, close."""
    from kastell.redteam.targets.spec import open_target

    results: list[AttemptResult] = []

    async def main() -> None:
        target = open_target(target_spec, model=options.model, timeout=options.timeout,
                             max_retries=options.retries)
        try:
            await execute(chunk, target, settings, results.append)
        finally:
            await target.aclose()

    asyncio.run(main())
    return results


def _split(budget: Budget, parts: int) -> Budget:
    """Per-chunk budget: requests already planned, tokens shared evenly, time per chunk."""
    tokens = None if budget.max_tokens is None else max(1, budget.max_tokens // parts)
    return Budget(None, tokens, budget.max_seconds)


def execute_on_ray(
    attempts: Sequence[AttemptSpec],
    target_spec: str,
    settings: RunSettings,
    on_result: Callable[[AttemptResult], None],
    *,
    workers: int = 2,
    model: str = "default",
    done: Collection[AttemptId] = (),
    address: str | None = None,
    timeout: float = 60.0,
    retries: int = 2,
) -> None:
    """Run the attempts not in ``done`` on Ray, reporting each result to ``on_result``.

    Raises:
        RedteamUsageError: ray is not installed or ``workers`` < 1.
        TargetUnavailableError: a worker could not reach the target.
    """
    if workers < 1:
        raise RedteamUsageError(f"--workers must be >= 1, not {workers}")
    ray = _import_ray()
    todo, over = allot_requests([spec for spec in attempts if spec.attempt_id not in done],
                                settings)
    for spec in over:
        on_result(skipped(spec, request_budget_note(settings)))
    if not todo:
        return
    count = min(len(todo), workers * 4)
    chunks = [todo[i::count] for i in range(count)]
    chunk_settings = dataclasses.replace(settings, budget=_split(settings.budget, count))
    started_here = not ray.is_initialized()
    if started_here:
        local = {} if address else {"num_cpus": workers, "_node_ip_address": "127.0.0.1"}
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 configure_logging=False, **local)
    try:
        task = ray.remote(run_chunk)
        options = TargetOptions(model, timeout, retries)
        pending = [task.remote(target_spec, options, chunk, chunk_settings) for chunk in chunks]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            try:
                results = ray.get(ready[0])
            except ray.exceptions.RayTaskError as error:
                cause = getattr(error, "cause", None)
                if isinstance(cause, TargetUnavailableError):
                    raise TargetUnavailableError(cause.message) from None
                raise TargetUnavailableError(f"a Ray worker failed: {error}") from None
            for result in results:
                on_result(result)
    finally:
        if started_here:
            ray.shutdown()
