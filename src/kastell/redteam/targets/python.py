"""A Python callable as target (``python:MODULE:CALLABLE``), e.g. a wrapped RAG pipeline.

The callable receives one dict shaped like a Chat Completions request (``messages``,
``max_tokens``, ``temperature``, ``tools``) and returns either the reply text or a dict with
``content`` and optional ``tool_calls`` (``[{"name": ..., "arguments": ...}]``). It may be
``async``; a synchronous one runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
from collections.abc import Callable
from typing import Any

from kastell.redteam.interface import (
    ChatRequest,
    ChatResponse,
    RedteamUsageError,
    TargetUnavailableError,
    ToolCall,
)
from kastell.redteam.targets.openai import request_body

__all__ = ["PythonTarget", "load_callable"]


def load_callable(spec: str) -> Callable[..., Any]:
    """Import ``MODULE:CALLABLE`` and return the callable."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise RedteamUsageError(
            f"bad python target {spec!r}", hint="Write it as python:MODULE:CALLABLE."
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise RedteamUsageError(
            f"cannot import {module_name!r}: {error}",
            hint="Make sure the module is on PYTHONPATH (or installed).",
        ) from None
    function: Callable[..., Any] | None = getattr(module, attribute, None)
    if function is None or not callable(function):
        raise RedteamUsageError(f"{module_name}.{attribute} is not a callable")
    return function


def _response(value: Any) -> ChatResponse:
    if isinstance(value, str):
        return ChatResponse(text=value)
    if isinstance(value, dict):
        calls = tuple(
            ToolCall(str(c.get("name", "")), str(c.get("arguments", "")), str(c.get("id", "")))
            for c in value.get("tool_calls") or ()
            if isinstance(c, dict)
        )
        tokens = value.get("completion_tokens", 0)
        return ChatResponse(text=str(value.get("content") or ""), tool_calls=calls,
                            finish_reason=str(value.get("finish_reason") or ""),
                            completion_tokens=tokens if isinstance(tokens, int) else 0)
    raise TargetUnavailableError(
        f"python target returned {type(value).__name__}, not str or dict",
        hint="Return the reply text, or {'content': ..., 'tool_calls': [...], "
             "'finish_reason': ..., 'completion_tokens': N}.",
    )


class PythonTarget:
    """``Target`` calling a Python function in this process."""

    def __init__(self, spec: str, function: Callable[..., Any] | None = None) -> None:
        self._spec = spec
        self._function = function if function is not None else load_callable(spec)

    @property
    def description(self) -> str:
        """``python:MODULE:CALLABLE``."""
        return f"python:{self._spec}"

    async def send(self, request: ChatRequest) -> ChatResponse:
        """Call the function with the request dict."""
        body = request_body(request, "python")
        try:
            if inspect.iscoroutinefunction(self._function):
                value = await self._function(body)
            else:
                value = await asyncio.to_thread(self._function, body)
        # The callable is the user's code: any exception it raises is a target failure.
        except Exception as error:  # noqa: BLE001
            raise TargetUnavailableError(
                f"python target {self._spec} raised {type(error).__name__}: {error}"
            ) from None
        return _response(value)

    async def aclose(self) -> None:
        """Nothing to release."""
