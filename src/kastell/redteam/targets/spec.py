"""Turn a ``--target`` value into a target: ``URL``, ``local`` or ``python:MODULE:CALLABLE``."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from kastell.redteam.interface import RedteamUsageError, Target

__all__ = ["headers_from_env", "open_target"]


def headers_from_env(env: Mapping[str, str], api_key_env: str) -> dict[str, str]:
    """Request headers: ``Authorization: Bearer $API_KEY_ENV`` and ``KASTELL_TARGET_HEADERS``.

    ``KASTELL_TARGET_HEADERS`` is a JSON object of extra headers (e.g. ``{"api-key": "..."}``).
    """
    headers: dict[str, str] = {}
    key = env.get(api_key_env)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    extra = env.get("KASTELL_TARGET_HEADERS")
    if extra:
        try:
            parsed = json.loads(extra)
        except json.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
            raise RedteamUsageError(
                "KASTELL_TARGET_HEADERS is not a JSON object of strings",
                hint='Set it like {"api-key": "..."}.',
            )
        headers.update({str(k): v for k, v in parsed.items()})
    return headers


def open_target(
    spec: str,
    *,
    model: str = "default",
    timeout: float = 60.0,
    max_retries: int = 2,
    api_key_env: str = "KASTELL_TARGET_API_KEY",
    local_threads: int = 1,
    local_parallel: int = 1,
    env: Mapping[str, str] | None = None,
) -> Target:
    """Open the target named by ``spec`` (the caller must ``await target.aclose()``)."""
    if spec == "local":
        from kastell.redteam.targets.local import LocalModelTarget

        return LocalModelTarget(n_threads=local_threads, n_parallel=local_parallel)
    if spec.startswith("python:"):
        from kastell.redteam.targets.python import PythonTarget

        return PythonTarget(spec.removeprefix("python:"))
    if spec.startswith(("http://", "https://")):
        from kastell.redteam.targets.openai import OpenAITarget

        return OpenAITarget(
            spec,
            model,
            headers=headers_from_env(os.environ if env is None else env, api_key_env),
            timeout=timeout,
            max_retries=max_retries,
        )
    raise RedteamUsageError(
        f"unknown target {spec!r}",
        hint="Use an OpenAI-compatible base URL (http://host:port/v1), 'local', "
        "or python:MODULE:CALLABLE.",
    )
