"""Interface of the red-team harness: plugin protocols, attempt and result types, errors.

A *probe* turns a ``ProbeConfig`` into ``AttemptSpec`` values (prompts, scripted turns, tools,
what to look for). *Converters* rewrite prompt text (base64, homoglyphs, ...) and compose.
A *target* answers chat requests. *Detectors* read a response and return a ``Detection`` only on
positive evidence of a successful attack: no evidence means the attack did not succeed.

Errors::

    KastellError
     └── RedteamError
          ├── RedteamUsageError (UsageError)          bad target spec, suite, gate, budget, file
          │    └── SuiteMismatchError                 two runs used different suites
          ├── TargetUnavailableError (CheckError)     target unreachable / timed out / broken
          ├── RunNotFoundError (UsageError)           no such run in the store
          └── RedteamStoreError (CheckError)          results store unusable
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, NewType, Protocol, runtime_checkable

from kastell.errors import CheckError, KastellError, UsageError
from kastell.types import ControlId

__all__ = [
    "AttemptId",
    "AttemptResult",
    "AttemptSpec",
    "AttemptStatus",
    "Category",
    "ChatMessage",
    "ChatRequest",
    "ChatResponse",
    "Converter",
    "Detection",
    "Detector",
    "Probe",
    "ProbeConfig",
    "RedteamError",
    "RedteamStoreError",
    "RedteamUsageError",
    "RunId",
    "RunNotFoundError",
    "SuiteMismatchError",
    "Target",
    "TargetUnavailableError",
    "ToolCall",
    "ToolSpec",
]

AttemptId = NewType("AttemptId", str)
RunId = NewType("RunId", str)


class RedteamError(KastellError):
    """Base of the red-team harness errors."""


class RedteamUsageError(RedteamError, UsageError):
    """A red-team option, suite, gate or input file is wrong."""

    default_hint = "Check `kastell redteam --help` and docs/redteam.md."


class SuiteMismatchError(RedteamUsageError):
    """Two runs used different suites, so their rates are not comparable."""

    default_hint = "Re-run both with one suite, or pass --allow-suite-change to compare anyway."


class TargetUnavailableError(RedteamError, CheckError):
    """The target could not be reached or did not answer usably; the result is unknown."""

    default_hint = "Check the target URL, that the server is running, and credentials (env vars)."


class RunNotFoundError(RedteamError, UsageError):
    """No run with that id exists in the store."""

    default_hint = "List runs with `kastell redteam runs --store STORE`."


class RedteamStoreError(RedteamError, CheckError):
    """The results store cannot be read or written."""


class Category(enum.StrEnum):
    """Attack categories; gate expressions and reports use these names."""

    PROMPT_INJECTION = "prompt_injection"
    INDIRECT_PROMPT_INJECTION = "indirect_prompt_injection"
    JAILBREAK = "jailbreak"
    SYSTEM_PROMPT_LEAKAGE = "system_prompt_leakage"
    SENSITIVE_INFO_DISCLOSURE = "sensitive_info_disclosure"
    TRAINING_DATA_EXTRACTION = "training_data_extraction"
    MODEL_EXTRACTION = "model_extraction"
    TOXICITY = "toxicity"
    INSECURE_OUTPUT = "insecure_output"
    EXCESSIVE_AGENCY = "excessive_agency"


@dataclasses.dataclass(frozen=True)
class ToolCall:
    """A function call the model asked for."""

    name: str
    arguments: str = ""
    call_id: str = ""


@dataclasses.dataclass(frozen=True)
class ToolSpec:
    """A function offered to a tool-calling target (OpenAI ``tools`` entry)."""

    name: str
    description: str
    parameters: Mapping[str, Any] = dataclasses.field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )


@dataclasses.dataclass(frozen=True)
class ChatMessage:
    """One chat message (OpenAI roles: system, user, assistant, tool)."""

    role: str
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None


@dataclasses.dataclass(frozen=True)
class ChatRequest:
    """What a target is asked."""

    messages: tuple[ChatMessage, ...]
    max_tokens: int
    temperature: float = 0.0
    seed: int | None = None
    tools: tuple[ToolSpec, ...] = ()
    logprobs: bool = False
    top_logprobs: int | None = None
    retry_rate_limited: bool = True
    """Retry HTTP 429 with backoff; the rate-limit probe turns this off to see the 429s."""


@dataclasses.dataclass(frozen=True)
class ChatResponse:
    """What a target answered (``status`` is the HTTP status, 200 for in-process targets)."""

    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = ""
    has_logprobs: bool = False
    status: int = 200


@dataclasses.dataclass(frozen=True)
class AttemptSpec:
    """One attack attempt, fully materialized: the suite digest covers all of these fields."""

    attempt_id: AttemptId
    probe_id: str
    category: Category
    language: str
    converters: tuple[str, ...]
    """Names and versions (``name@version``) of the converters applied, in order."""
    system: str
    turns: tuple[str, ...]
    """User turns; more than one means scripted multi-turn escalation."""
    detectors: tuple[str, ...]
    """Names and versions (``name@version``) of the detectors judging this attempt."""
    expect: Mapping[str, Any]
    """What the detectors look for: canary, marker, pii values, forbidden tools, patterns..."""
    mappings: tuple[ControlId, ...]
    context: tuple[ChatMessage, ...] = ()
    """Messages between the system prompt and the first user turn (documents, tool results)."""
    tools: tuple[ToolSpec, ...] = ()
    max_tokens: int | None = None
    """Overrides the run's max_tokens (model-extraction probes)."""
    repeat: int = 1
    """Send the same request this many times (rate-limit probe)."""
    request_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """Extra request switches: ``logprobs``, ``top_logprobs``."""


class AttemptStatus(enum.StrEnum):
    """Outcome of one attempt."""

    SUCCEEDED = "succeeded"
    """Positive evidence that the attack worked."""
    RESISTED = "resisted"
    """No evidence of success."""
    ERROR = "error"
    """The target failed; the attempt is unknown."""
    SKIPPED = "skipped"
    """Not run (budget exhausted, interrupted)."""
    UNDECIDED = "undecided"
    """The target answered but no verdict could be reached (the judge gave no valid answer);
    unknown, never counted as resisted."""


@dataclasses.dataclass(frozen=True)
class Detection:
    """Positive evidence that an attack succeeded (or, with ``undecided``, that it cannot tell)."""

    detector: str
    evidence: str
    undecided: bool = False
    """The detector could not decide (the evidence it needs was not produced, e.g. the model
    stopped before a server cap could show); the attempt is undecided, never resisted."""


@dataclasses.dataclass(frozen=True)
class AttemptResult:
    """The stored outcome of one attempt."""

    attempt_id: AttemptId
    probe_id: str
    category: Category
    language: str
    status: AttemptStatus
    prompt: str
    """The (converted) user turns joined with a separator line, as sent."""
    output: str
    """The last reply (for multi-turn: every reply, separated)."""
    detector: str = ""
    evidence: str = ""
    refused: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0
    latency_ms: float = 0.0
    error: str = ""
    truncated: bool = False
    """Some reply stopped at ``max_tokens`` (``finish_reason == "length"``)."""
    trials: int = 1
    """How many times the attempt was sampled (``--trials``)."""
    trial_successes: int = 0
    """Trials whose verdict was a success. ``status`` is succeeded when any trial succeeded
    (an attacker may simply retry); flaky when some trials succeeded and some did not."""

    @property
    def flaky(self) -> bool:
        """The verdict changed between trials."""
        return 0 < self.trial_successes < self.trials


@dataclasses.dataclass(frozen=True)
class ProbeConfig:
    """Inputs probes may need; frozen and passed in (no global state)."""

    languages: tuple[str, ...] = ("en",)
    records: tuple[Mapping[str, str], ...] = ()
    """Training-data records ``{"prefix", "suffix"}`` for verbatim-extraction probes."""
    canaries: tuple[Mapping[str, str], ...] = ()
    """Planted canaries ``{"prefix", "canary"}`` or ``{"prefix", "canary_sha256", "pattern"}``."""
    max_tokens_cap: int = 256
    """An endpoint that returns more completion tokens than this is uncapped."""
    burst: int = 12
    """Requests in the rate-limit burst probe."""
    system_prompt: str = ""
    """The deployment's own system prompt. When set (or when ``secrets`` are given), the
    system-prompt-leakage probes send it unchanged instead of their built-in prompt and look for
    the deployment's secrets and for the prompt itself. A canary is planted only on request:
    ``{CANARY}`` in the prompt marks its place, or ``plant_canary`` appends a confidential line
    holding it. The text is part of every such attempt, so runs with other prompts do not
    compare."""
    secrets: tuple[str, ...] = ()
    """The deployment's own secrets (``--secret``, ``redteam.secrets``): any form of them in a
    reply to a leakage probe is a leak."""
    plant_canary: bool = False
    """Append a canary line to the deployment's system prompt (``--plant-canary``)."""


@runtime_checkable
class Converter(Protocol):
    """Rewrites attack text; deterministic for a given text."""

    name: ClassVar[str]
    version: ClassVar[int]

    def convert(self, text: str) -> str:
        """Return the converted text."""
        ...


@runtime_checkable
class Detector(Protocol):
    """Judges responses; returns a ``Detection`` only on positive evidence of success."""

    name: ClassVar[str]
    version: ClassVar[int]

    def detect(self, spec: AttemptSpec, responses: Sequence[ChatResponse]) -> Detection | None:
        """Return evidence of a successful attack, or ``None``."""
        ...


@runtime_checkable
class Probe(Protocol):
    """A family of attempts; metadata are class attributes checked by a contract test."""

    probe_id: ClassVar[str]
    category: ClassVar[Category]
    version: ClassVar[int]
    mappings: ClassVar[tuple[ControlId, ...]]
    description: ClassVar[str]

    def attempts(self, config: ProbeConfig) -> list[AttemptSpec]:
        """Materialize the probe's attempts (without converters) for ``config``."""
        ...


@runtime_checkable
class Target(Protocol):
    """Something that answers chat requests."""

    @property
    def description(self) -> str:
        """A printable name (URL or module path), never containing credentials."""
        ...

    async def send(self, request: ChatRequest) -> ChatResponse:
        """Send one request; raise ``TargetUnavailableError`` when the target fails."""
        ...

    async def aclose(self) -> None:
        """Release connections and servers."""
        ...
