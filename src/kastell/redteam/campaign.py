"""Library API: run a suite against a target with gates, or reload a stored run.

``kastell redteam`` and ``kastell assess`` both call this module::

    result = run_campaign(suite="kastell-ci-v1", target="local", store="redteam.db",
                          gates=parse_gates("system_prompt_leakage>0"))
    result.exit_code()      # 0 pass, 1 gate failed, 3 incomplete
    result.to_dict()        # the JSON report
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import pathlib
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from kastell.errors import ExitCode
from kastell.redteam.baseline import Baseline
from kastell.redteam.detectors.judge import LlmJudge
from kastell.redteam.gates import GatePolicy, GateResult
from kastell.redteam.interface import (
    AttemptId,
    AttemptResult,
    AttemptSpec,
    AttemptStatus,
    Category,
    ProbeConfig,
    RedteamUsageError,
    RunId,
    Target,
)
from kastell.redteam.redaction import Redactor, is_redacted
from kastell.redteam.runner import Budget, RunSettings, execute, sample_attempts
from kastell.redteam.stats import Summary, summarize
from kastell.redteam.store import RedteamStore, RunRecord
from kastell.redteam.suites import MaterializedSuite, materialize, suite_named

__all__ = [
    "CampaignResult",
    "RayPlan",
    "load_campaign",
    "load_summary",
    "run_campaign",
    "run_campaign_async",
]

Now = Callable[[], dt.datetime]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclasses.dataclass(frozen=True)
class CampaignResult:
    """A run with its results, statistics and gate outcomes."""

    run: RunRecord
    suite: MaterializedSuite
    planned: tuple[AttemptSpec, ...]
    results: tuple[AttemptResult, ...]
    summary: Summary
    gates: tuple[GateResult, ...]
    baseline: Baseline | None = None

    @property
    def missing(self) -> int:
        """Planned attempts with no stored result (interrupted run)."""
        stored = {r.attempt_id for r in self.results}
        return sum(spec.attempt_id not in stored for spec in self.planned)

    @property
    def excluded(self) -> tuple[Category, ...]:
        """Categories the user excluded by name (not run, not required)."""
        names = set(self.run.settings.get("excluded", ()))
        return tuple(c for c in Category if c.value in names)

    @property
    def untested(self) -> tuple[Category, ...]:
        """Categories not excluded that have no planned attempt (e.g. no training records)."""
        planned = {spec.category for spec in self.planned}
        return tuple(c for c in Category if c not in planned and c not in self.excluded)

    @property
    def complete(self) -> bool:
        """Every planned attempt has a verdict and every category not excluded was tested.

        No attempt errored, was skipped, stayed undecided or is missing.
        """
        return self.summary.overall.complete and self.missing == 0 and not self.untested

    def incomplete_reasons(self) -> list[str]:
        """Why the run is incomplete (empty when complete)."""
        overall = self.summary.overall
        reasons = []
        if overall.undecided:
            reasons.append(f"{overall.undecided} attempt(s) undecided (no valid judge verdict)")
        if self.untested:
            reasons.append("not tested: " + ", ".join(c.value for c in self.untested)
                           + " (give the inputs, or exclude by name with --exclude-category)")
        if overall.errored:
            reasons.append(f"{overall.errored} attempt(s) errored")
        if overall.skipped:
            reasons.append(f"{overall.skipped} attempt(s) skipped (budget)")
        if self.missing:
            reasons.append(f"{self.missing} attempt(s) not run (interrupted; use --resume)")
        reasons += [f"gate {g.gate} undecided: {g.message}" for g in self.gates
                    if g.passed is None]
        return reasons

    @property
    def gates_failed(self) -> bool:
        """Some gate failed."""
        return any(g.passed is False for g in self.gates)

    def exit_code(self, *, allow_incomplete: bool = False) -> ExitCode:
        """1 when a gate failed; 3 when incomplete; else 0.

        ``allow_incomplete`` forgives errored, skipped and missing attempts only: undecided
        attempts and untested categories always make the run incomplete (exclude a category by
        name to leave it out).
        """
        if self.gates_failed:
            return ExitCode.FAILED
        undecided = any(g.passed is None for g in self.gates) or self.summary.overall.undecided
        if undecided or self.untested or (not self.complete and not allow_incomplete):
            return ExitCode.INCOMPLETE
        return ExitCode.OK

    def spec(self, attempt_id: AttemptId) -> AttemptSpec | None:
        """The attempt specification of a stored result."""
        return next((s for s in self.suite.attempts if s.attempt_id == attempt_id), None)

    def to_dict(self) -> dict[str, Any]:
        """The JSON report."""
        from kastell.redteam.report import report_dict

        return report_dict(self)


@dataclasses.dataclass(frozen=True)
class RayPlan:
    """Run the campaign on Ray: the target spec each worker opens, and how many workers."""

    target_spec: str
    workers: int = 2
    model: str = "default"
    address: str | None = None
    """A running Ray cluster; ``None`` starts a single-node Ray instance for the campaign."""
    timeout: float = 60.0
    """Seconds per request, as with the local backend."""
    retries: int = 2
    """Retries per request, as with the local backend."""


class _BatchWriter:
    """Buffers results and writes them in one transaction per batch (or per second)."""

    def __init__(self, store: RedteamStore, run_id: RunId,
                 on_result: Callable[[AttemptResult], None] | None,
                 size: int = 64, seconds: float = 1.0, *,
                 redactor: Redactor | None = None,
                 specs: Mapping[AttemptId, AttemptSpec] | None = None) -> None:
        self._store, self._run_id, self._on_result = store, run_id, on_result
        self._redactor, self._specs = redactor, specs or {}
        self._size, self._seconds = size, seconds
        self._pending: list[AttemptResult] = []
        self._last = time.monotonic()

    def add(self, result: AttemptResult) -> None:
        if self._redactor is not None:
            result = self._redactor.result(result, self._specs.get(result.attempt_id))
        self._pending.append(result)
        if len(self._pending) >= self._size or time.monotonic() - self._last >= self._seconds:
            self.flush()
        if self._on_result is not None:
            self._on_result(result)

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        self._store.put_attempts(self._run_id, pending)
        self._last = time.monotonic()


def _config_dict(config: ProbeConfig) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v
            for k, v in dataclasses.asdict(config).items()}


def _config_from(document: dict[str, Any]) -> ProbeConfig:
    return ProbeConfig(
        languages=tuple(document.get("languages", ("en",))),
        records=tuple(document.get("records", ())),
        canaries=tuple(document.get("canaries", ())),
        max_tokens_cap=int(document.get("max_tokens_cap", 256)),
        burst=int(document.get("burst", 12)),
        system_prompt=str(document.get("system_prompt", "")),
        secrets=tuple(str(s) for s in document.get("secrets", ())),
        plant_canary=bool(document.get("plant_canary", False)),
    )


def _settings_from(document: dict[str, Any]) -> RunSettings:
    budget = Budget(**document.get("budget", {}))
    return RunSettings(**{**{k: v for k, v in document.items() if k != "budget"},
                          "budget": budget, "excluded": tuple(document.get("excluded", ()))})


def _with_inputs(record: RunRecord, given: ProbeConfig) -> ProbeConfig:
    """The stored configuration of a digest-stored run with the secret inputs given again."""
    stored = _config_from(dict(record.probe_config))
    return dataclasses.replace(stored, system_prompt=given.system_prompt, secrets=given.secrets,
                               canaries=given.canaries, records=given.records)


def _assemble(store: RedteamStore, record: RunRecord, gates: GatePolicy | None,
              baseline: Baseline | None, config: ProbeConfig | None = None) -> CampaignResult:
    if config is None:
        if is_redacted(record.probe_config):
            raise RedteamUsageError(
                f"run {record.run_id} stored its system prompt, secrets, canaries and records "
                "as keyed digests",
                hint="Give the same --system-prompt, --secret, --canaries and --records again.",
            )
        config = _config_from(dict(record.probe_config))
    elif is_redacted(record.probe_config):
        config = _with_inputs(record, config)
    suite = materialize(suite_named(record.suite_name), config)
    if suite.digest != record.suite_digest:
        raise RedteamUsageError(
            f"run {record.run_id} used suite digest {record.suite_digest}, but this Kastell "
            f"builds {suite.digest} for {record.suite_name}",
            hint="Use the Kastell version that made the run.",
        )
    planned = tuple(sample_attempts(suite.attempts, _settings_from(dict(record.settings))))
    results = tuple(store.attempts(record.run_id))
    summary = summarize(results, baseline.accepted if baseline else ())
    gate_results = tuple(gates.check(summary)) if gates is not None else ()
    return CampaignResult(record, suite, planned, results, summary, gate_results, baseline)


def load_campaign(store: RedteamStore, run_id: str, *, gates: GatePolicy | None = None,
                  baseline: Baseline | None = None,
                  probe_config: ProbeConfig | None = None) -> CampaignResult:
    """Reload a stored run (a unique id prefix works) and evaluate ``gates`` on it.

    A run stored with keyed digests needs its inputs again as ``probe_config``; the suite
    digest check proves they are the run's own.
    """
    record = store.run(run_id)
    return _assemble(store, record, gates, baseline,
                     probe_config if is_redacted(record.probe_config) else None)


def load_summary(store: RedteamStore, run_id: str) -> tuple[RunRecord, Summary]:
    """A stored run's header and rates, without rebuilding its suite (what ``diff`` needs)."""
    record = store.run(run_id)
    return record, summarize(store.attempts(record.run_id))


async def run_campaign_async(
    *,
    suite: str,
    target: Target | None,
    store: RedteamStore,
    settings: RunSettings | None = None,
    probe_config: ProbeConfig | None = None,
    gates: GatePolicy | None = None,
    baseline: Baseline | None = None,
    resume: str | None = None,
    now: Now = _utcnow,
    on_result: Callable[[AttemptResult], None] | None = None,
    judge: Target | None = None,
    ray: RayPlan | None = None,
    store_plaintext: bool = False,
) -> CampaignResult:
    """Run (or resume) a campaign and return its result; the target stays open.

    ``judge`` is an optional judge model target that may overrule content detections.
    With ``ray``, the attempts run on Ray workers that open the target from its spec (then
    ``target`` may be ``None``; the judge is not available). Unless ``store_plaintext``, the
    store keeps the secret inputs as keyed digests and the replies with leaked values cut out
    (``kastell.redteam.redaction``); resuming such a run needs ``probe_config`` again.
    """
    if target is None and ray is None:
        raise RedteamUsageError("a target is needed unless the campaign runs on Ray")
    description = target.description if target is not None else (
        f"{ray.target_spec} (ray)" if ray is not None else "")
    if resume is not None:
        record = store.run(resume)
        if record.suite_name != suite:
            raise RedteamUsageError(f"run {record.run_id} used suite {record.suite_name}, "
                                    f"not {suite}")
        given = probe_config if is_redacted(record.probe_config) else None
        loaded = _assemble(store, record, None, None, given)
        config = _with_inputs(record, given) if given else _config_from(dict(record.probe_config))
        planned, run_settings = loaded.planned, _settings_from(dict(record.settings))
        redact = is_redacted(record.probe_config)
        done = {r.attempt_id for r in loaded.results
                if r.status in (AttemptStatus.SUCCEEDED, AttemptStatus.RESISTED)}
    else:
        run_settings = settings or RunSettings()
        config = probe_config or ProbeConfig(languages=suite_named(suite).languages)
        built = materialize(suite_named(suite), config)
        planned = tuple(sample_attempts(built.attempts, run_settings))
        # only runs with secret inputs need (and create) the store key: built-in canaries are
        # derived from the suite itself and protect nothing
        redact = not store_plaintext and any(
            (config.system_prompt, config.secrets, config.canaries, config.records))
        record = RunRecord(
            run_id=RunId(uuid.uuid4().hex[:16]), suite_name=suite, suite_digest=built.digest,
            probe_digests=dict(built.probe_digests),
            target=description + (f" [judge {judge.description}]" if judge else ""),
            settings=dataclasses.asdict(run_settings),
            probe_config=Redactor(store.key()).config(_config_dict(config)) if redact
            else _config_dict(config),
            planned=len(planned), started_at=now().isoformat(), finished_at=None,
        )
        store.create_run(record)
        done = set()

    writer = _BatchWriter(store, record.run_id, on_result,
                          redactor=Redactor(store.key()) if redact else None,
                          specs={spec.attempt_id: spec for spec in planned})
    try:
        if ray is not None:
            from kastell.redteam.ray_backend import execute_on_ray

            execute_on_ray(planned, ray.target_spec, run_settings, writer.add,
                           workers=ray.workers, model=ray.model, done=done, address=ray.address,
                           timeout=ray.timeout, retries=ray.retries)
        elif target is not None:
            await execute(planned, target, run_settings, writer.add, done=done,
                          clock=time.monotonic,
                          judge=LlmJudge(judge) if judge is not None else None)
    finally:
        writer.flush()  # what finished is kept, even when the run stops early
    store.finish_run(record.run_id, now())
    return _assemble(store, store.run(record.run_id), gates, baseline, config)


def run_campaign(
    *,
    suite: str,
    target: str | Target,
    store: str | pathlib.Path | RedteamStore,
    settings: RunSettings | None = None,
    probe_config: ProbeConfig | None = None,
    gates: GatePolicy | None = None,
    baseline: Baseline | None = None,
    resume: str | None = None,
    model: str = "default",
) -> CampaignResult:
    """Synchronous wrapper: open the target (spec string) and store, run, close both."""
    from kastell.redteam.targets.spec import open_target

    results_store = store if isinstance(store, RedteamStore) else RedteamStore(store)

    async def main() -> CampaignResult:
        opened = open_target(target, model=model) if isinstance(target, str) else target
        try:
            return await run_campaign_async(
                suite=suite, target=opened, store=results_store, settings=settings,
                probe_config=probe_config, gates=gates, baseline=baseline, resume=resume,
            )
        finally:
            if isinstance(target, str):
                await opened.aclose()

    try:
        return asyncio.run(main())
    finally:
        if not isinstance(store, RedteamStore):
            results_store.close()
