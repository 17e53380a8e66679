"""The guard's YAML configuration, validated at start-up (pydantic, at this boundary only).

Example::

    upstreams:
      main: {type: openai, base_url: "http://127.0.0.1:9000/v1", timeout_s: 30}
    policies:
      default: {actions: {guard.pii: redact}, canary: true}
    tenants:
      acme: {key_hashes: ["sha256$<salt>$<hash>"], policy: default, upstream: main}
    limits: {max_body_bytes: 1048576}

A bad field raises ``GuardConfigError`` whose ``field`` is the dotted path, e.g.
``tenants.acme.key_hashes.0``.
"""

from __future__ import annotations

import pathlib
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kastell.guard.interface import Action, GuardConfigError
from kastell.guard.keys import KEY_HASH_PATTERN
from kastell.guard.scanners.registry import all_rules

__all__ = [
    "AuditSettings",
    "ExtractionSettings",
    "GuardConfig",
    "LimitSettings",
    "LocalUpstreamSettings",
    "MetricsSettings",
    "OpenAIUpstreamSettings",
    "PolicySettings",
    "RateLimitSettings",
    "RefusalAuditSettings",
    "RemoteModelSignature",
    "TenantSettings",
    "load_config",
    "parse_config",
]

_ACTIONS = {a.label for a in Action}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RemoteModelSignature(_Strict):
    """The signed model a remote upstream is supposed to serve (verified at start-up).

    Only the signature is checked (trusted key, consistent statement): the model files are not
    here, and the gateway cannot observe what the remote service runs.
    """

    signature: str
    """Signature bundle (OpenSSF Model Signing) of the model the service is meant to serve."""
    public_key: str
    """Public key (PEM) trusted to have signed it."""


class OpenAIUpstreamSettings(_Strict):
    """Any OpenAI-compatible endpoint."""

    type: Literal["openai"]
    base_url: str = Field(pattern=r"^https?://")
    api_key_env: str | None = None
    """Name of the environment variable that holds the upstream's API key."""
    model: str | None = None
    """Rewrite the request's model to this name (None: pass the client's model through)."""
    timeout_s: float = Field(default=60.0, gt=0, le=3600)
    connect_timeout_s: float = Field(default=5.0, gt=0, le=600)
    max_connections: int = Field(default=100, ge=1, le=10_000)
    model_signature: RemoteModelSignature | None = None
    """Pin the served model by its signature (records say ``signed_remote``)."""
    declared_model_digest: str | None = Field(default=None, pattern=r"^sha256:[0-9a-f]{64}$")
    """Pin the served model by the operator's word (records say ``declared``)."""


class LocalUpstreamSettings(_Strict):
    """The bundled local model served in-process (xllamacpp)."""

    type: Literal["local"]
    model_path: str | None = None
    """A model file or directory to serve instead of the bundled SmolLM2 GGUF."""
    signature: str | None = None
    """Signature bundle of the model; required unless ``require_signature`` is false."""
    public_key: str | None = None
    require_signature: bool = True
    n_threads: int = Field(default=1, ge=1, le=256)
    n_parallel: int = Field(default=2, ge=1, le=64)
    ctx_size: int = Field(default=4096, ge=512, le=1_048_576)
    timeout_s: float = Field(default=120.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _signature_given(self) -> LocalUpstreamSettings:
        if self.require_signature and not (self.signature and self.public_key):
            raise ValueError(
                "a local upstream needs signature and public_key (or require_signature: false)"
            )
        return self


class PolicySettings(_Strict):
    """Per-tenant screening policy."""

    actions: dict[str, str] = Field(default_factory=dict)
    """rule id -> block | redact | flag | allow (overrides the rule's default)."""
    canary: bool = True
    """Plant a random canary per session in the system prompt and watch the output for it."""
    system_prompt: str | None = None
    """A system prompt the gateway prepends (also watched for leakage)."""
    full_text_audit: bool = False
    """Keep full prompt/answer text in the audit log (default: digests and redacted text)."""
    unknown_request_fields: Literal["refuse", "drop", "screen"] = "refuse"
    """A request key the guard's field map does not name: 400, removed, or screened as text."""
    unknown_answer_fields: Literal["drop", "screen", "refuse"] = "drop"
    """An answer key the map does not name: removed (listed in the record), relayed only if
    its text passes screening, or the whole answer refused (502)."""

    @field_validator("actions")
    @classmethod
    def _known(cls, value: dict[str, str]) -> dict[str, str]:
        rules = all_rules()
        for rule_id, action in value.items():
            if rule_id not in rules:
                raise ValueError(f"unknown rule id {rule_id!r}; known: {', '.join(sorted(rules))}")
            if action.lower() not in _ACTIONS:
                raise ValueError(f"action of {rule_id} must be one of {sorted(_ACTIONS)}")
        return value

    def overrides(self) -> dict[str, Action]:
        """The action overrides as enum values."""
        return {rule_id: Action[a.upper()] for rule_id, a in self.actions.items()}


class RateLimitSettings(_Strict):
    """Token bucket per tenant: ``burst`` requests at once, refilled at ``per_minute``."""

    per_minute: float = Field(default=600.0, gt=0)
    burst: int = Field(default=60, ge=1)


class TenantSettings(_Strict):
    """One tenant: who it is (API key hashes) and how it is treated."""

    key_hashes: list[Annotated[str, Field(pattern=KEY_HASH_PATTERN)]] = Field(min_length=1)
    policy: str = "default"
    upstream: str
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)


class LimitSettings(_Strict):
    """Request size and streaming limits."""

    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_message_chars: int = Field(default=32_000, ge=1)
    max_message_tokens: int = Field(default=8_000, ge=1)
    stream_holdback_chars: int = Field(default=64, ge=0, le=4096)
    """Characters held back while streaming so a match can still be stopped before sending."""
    max_answer_bytes: int = Field(default=16 * 1024 * 1024, ge=65_536, le=1024 * 1024 * 1024)
    """Largest upstream answer body, whatever its framing (streamed: the whole stream): 502."""
    inline_screen_bytes: int = Field(default=8_192, ge=0)
    """Requests and answers up to this size are screened on the event loop, larger ones in a
    worker process (the hop costs more than screening a small text)."""
    screening_workers: int = Field(default=2, ge=1, le=64)
    """Worker processes screening large requests and answers (started on first use)."""
    header_timeout_s: float = Field(default=10.0, gt=0, le=600)
    """A client must send a request's whole header block within this time (slow headers)."""
    max_header_bytes: int = Field(default=65_536, ge=1024, le=1024 * 1024)
    """Largest request header block (request line and headers): 431 and the connection closed."""
    body_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    """A client must send a request's whole body within this time after its headers: 408."""


class MetricsSettings(_Strict):
    """Who may read ``/metrics`` (it names tenants, rule hits and canary alerts).

    Default: nobody on the gateway's port (404). ``key_hashes``: a scraper presenting one of
    these keys (``Authorization: Bearer``, hashed like tenant keys). ``listen``: served on a
    separate ``host:port`` listener only (e.g. a loopback or management address).
    """

    key_hashes: list[Annotated[str, Field(pattern=KEY_HASH_PATTERN)]] = Field(default_factory=list)
    listen: str | None = Field(default=None, pattern=r"^(\[[0-9a-fA-F:.]+\]|[^:\s]+):[0-9]{1,5}$")
    public: bool = False
    """Serve ``/metrics`` to anyone on the gateway's port (not recommended)."""

    @model_validator(mode="after")
    def _one_way(self) -> MetricsSettings:
        if self.public and (self.key_hashes or self.listen):
            raise ValueError("public metrics exclude key_hashes and listen")
        return self


class ExtractionSettings(_Strict):
    """Thresholds of the model-extraction watch (per tenant, per window)."""

    window_s: float = Field(default=3600.0, gt=0)
    max_requests: int = Field(default=5000, ge=1)
    max_logprob_requests: int = Field(default=100, ge=0)
    max_template_repeats: int = Field(default=200, ge=1)
    """Requests sharing one prompt template (numbers/quoted values masked)."""
    min_requests_for_diversity: int = Field(default=500, ge=1)
    min_diversity: float = Field(default=0.0, ge=0, le=1)
    """Alert when the share of distinct prompts is below this (0 disables)."""
    max_diversity: float = Field(default=1.0, ge=0, le=1)
    """Alert when nearly every prompt is new (systematic coverage); 1 disables."""


class RefusalAuditSettings(_Strict):
    """How refused requests (401, 429) are audited without letting a flood fill the log.

    Per source and window, the first ``per_source`` refusals get one record each; the rest of
    the window is written as one summary record with their count.
    """

    window_s: int = Field(default=60, ge=1, le=86_400)
    per_source: int = Field(default=20, ge=1, le=100_000)
    max_sources: int = Field(default=1024, ge=1, le=1_000_000)
    """Sources tracked at once; further sources share the bucket ``*`` until windows end."""


class AuditSettings(_Strict):
    """Where the audit log lives (path of a SQLite file or a PostgreSQL URL)."""

    url: str
    signing_key: str | None = None
    """Ed25519 private key (PEM) that signs checkpoints."""
    checkpoint_every: int = Field(default=1000, ge=1)
    """Sign a checkpoint at least every this many records."""
    checkpoint_interval_s: float = Field(default=60.0, gt=0)
    """... and at least this often, also while the gateway is idle."""
    refused: RefusalAuditSettings = Field(default_factory=RefusalAuditSettings)
    """Auditing of refused requests (missing/unknown API key, rate limit)."""


class GuardConfig(_Strict):
    """The whole guard configuration."""

    upstreams: dict[
        str, Annotated[OpenAIUpstreamSettings | LocalUpstreamSettings, Field(discriminator="type")]
    ] = Field(min_length=1)
    policies: dict[str, PolicySettings] = Field(
        default_factory=lambda: {"default": PolicySettings()}
    )
    tenants: dict[str, TenantSettings] = Field(min_length=1)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    extraction: ExtractionSettings = Field(default_factory=ExtractionSettings)
    ml_classifier: bool = False
    """Add the ML prompt-injection classifier (needs the guard-ml extra, torch)."""
    rate_limit_backend: str = Field(default="memory", pattern=r"^(memory|redis://.+|rediss://.+)$")
    audit: AuditSettings | None = None
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)

    @model_validator(mode="after")
    def _references(self) -> GuardConfig:
        for name, tenant in self.tenants.items():
            if tenant.upstream not in self.upstreams:
                message = f"no upstream named {tenant.upstream!r}"
                raise _RefError(f"tenants.{name}.upstream", message)
            if tenant.policy not in self.policies:
                raise _RefError(f"tenants.{name}.policy", f"no policy named {tenant.policy!r}")
        return self


class _RefError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _first_error(error: ValidationError) -> GuardConfigError:
    detail = error.errors()[0]
    field = ".".join(str(part) for part in detail["loc"])
    context = detail.get("ctx", {}).get("error")
    if isinstance(context, _RefError):
        field = context.field
    message = str(detail["msg"]).removeprefix("Value error, ")
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return GuardConfigError(message + more, field=field or "<root>")


def parse_config(document: Any) -> GuardConfig:
    """Validate a parsed YAML document; raise ``GuardConfigError`` naming the bad field."""
    if not isinstance(document, dict):
        raise GuardConfigError("the guard config must be a YAML mapping", field="<root>")
    try:
        return GuardConfig.model_validate(document)
    except ValidationError as error:
        raise _first_error(error) from None


def load_config(path: pathlib.Path) -> GuardConfig:
    """Read and validate the YAML file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise GuardConfigError(
            f"cannot read guard config {path}: {error}",
            hint="Give the path of a readable UTF-8 YAML file.",
        ) from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise GuardConfigError(f"{path} is not valid YAML: {error}", field="<root>") from None
    return parse_config(document)
