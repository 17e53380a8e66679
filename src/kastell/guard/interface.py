"""Interfaces of the runtime guard: scanners, verdicts, upstreams, audit sinks, errors.

The error tree of the guard::

    GuardError (KastellError)
     ├── GuardConfigError      (+ UsageError, exit 2): the YAML config is invalid
     ├── ModelNotTrustedError  (+ VerificationError, exit 1): the served model did not verify
     ├── ScannerError        (+ CheckError, exit 3): a scanner raised; the pipeline fails closed
     └── UpstreamError         (+ CheckError, exit 3): the upstream model could not answer
          └── UpstreamTimeoutError: the upstream did not answer within the configured timeout

A *scanner* looks at one text and returns ``Detection``s; the *policy* of a tenant turns
detections into one ``Action`` per text; the *pipeline* applies it to every message.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar, Protocol, runtime_checkable

from kastell._http1 import HttpError, HttpTimeoutError
from kastell.audit.interface import AuditEvent
from kastell.errors import CheckError, KastellError, UsageError, VerificationError
from kastell.types import ControlId, Severity

__all__ = [
    "Action",
    "AuditSink",
    "Detection",
    "Direction",
    "GuardConfigError",
    "GuardError",
    "ModelNotTrustedError",
    "RuleInfo",
    "ScanContext",
    "Scanner",
    "ScannerError",
    "TextVerdict",
    "Upstream",
    "UpstreamError",
    "UpstreamTimeoutError",
]


class GuardError(KastellError):
    """Base of every error the guard raises."""


class GuardConfigError(GuardError, UsageError):
    """The guard configuration is invalid; ``field`` is the dotted path of the bad field."""

    default_hint = "Fix the named field of the guard config; `kastell guard lint CONFIG` checks it."

    def __init__(self, message: str, *, field: str = "", hint: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message, hint=hint)
        self.field = field


class ModelNotTrustedError(GuardError, VerificationError):
    """The served model's signature did not verify; the gateway refuses to start."""

    default_hint = "Re-sign the model with a trusted key or point the config at the right model."


class ScannerError(GuardError, CheckError):
    """A scanner raised while screening; the request is blocked (fail closed)."""

    default_hint = "Inspect the scanner named in the message; the request was blocked."


class UpstreamError(GuardError, HttpError):
    """The upstream model endpoint could not be reached or answered with garbage (HTTP 502)."""

    default_hint = "Check that the upstream in the guard config is running and reachable."
    http_status: int = 502


class UpstreamTimeoutError(UpstreamError, HttpTimeoutError):
    """The upstream did not answer within the configured timeout (HTTP 504)."""

    default_hint = "Raise upstreams.<name>.timeout_s or check the upstream's load."
    http_status = 504


class Action(enum.IntEnum):
    """What the policy does with a text; ordered so the strictest action wins with ``max``."""

    ALLOW = 0
    FLAG = 1
    REDACT = 2
    BLOCK = 3

    @property
    def label(self) -> str:
        """Lower-case name used in configs and events."""
        return self.name.lower()


class Direction(enum.StrEnum):
    """Which side of the model a text is on."""

    INPUT = "input"
    OUTPUT = "output"


@dataclasses.dataclass(frozen=True)
class RuleInfo:
    """Typed metadata of one rule a scanner can fire."""

    rule_id: str
    title: str
    severity: Severity
    mappings: tuple[ControlId, ...]
    default_action: Action
    incident: bool = False
    """A firing of this rule is a security incident (e.g. canary leakage), not just a block."""


@dataclasses.dataclass(frozen=True)
class Detection:
    """One rule firing on one text; ``spans`` are the character ranges to redact."""

    rule_id: str
    message: str
    spans: tuple[tuple[int, int], ...] = ()


@dataclasses.dataclass(frozen=True)
class ScanContext:
    """What scanners may know beyond the text itself."""

    role: str = "user"
    canary: str | None = None
    system_prompt: str = ""


class Scanner(Protocol):
    """A plugin that screens one text. Registered in ``kastell.guard.scanners.registry``."""

    name: ClassVar[str]
    version: ClassVar[str]
    directions: ClassVar[frozenset[Direction]]
    rules: ClassVar[tuple[RuleInfo, ...]]

    def scan(self, text: str, context: ScanContext) -> list[Detection]:
        """Return the detections in ``text`` (empty when clean)."""
        ...


@dataclasses.dataclass(frozen=True)
class TextVerdict:
    """The policy's decision about one text: action, what fired, and the text to forward."""

    action: Action
    detections: tuple[Detection, ...]
    text: str
    """The text after redaction (unchanged unless the action is REDACT)."""

    @property
    def blocking_rule(self) -> str | None:
        """The rule id that caused a block, if any."""
        return self.detections[0].rule_id if self.action is Action.BLOCK else None


class Upstream(Protocol):
    """An OpenAI-compatible model endpoint the gateway forwards to."""

    async def complete(self, body: Mapping[str, Any]) -> list[bytes]:
        """Send a non-streaming chat completion; return the raw JSON of a 200 answer.

        The body comes in the pieces it arrived in; the guard joins, parses and checks it
        (``answer_shape``), off the event loop when it is large.
        """
        ...

    def stream(self, body: Mapping[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Send a streaming chat completion; yield each parsed SSE ``data`` chunk."""
        ...

    async def models(self) -> list[dict[str, Any]]:
        """List the models the upstream serves."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


@runtime_checkable
class AuditSink(Protocol):
    """Where the gateway writes one record per exchange; returns once the record is durable."""

    async def record(self, event: AuditEvent) -> str:
        """Append ``event`` durably and return the record's hash."""
        ...

    async def aclose(self) -> None:
        """Flush and close."""
        ...
