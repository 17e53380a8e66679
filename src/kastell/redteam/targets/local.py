"""The local SmolLM2-135M-Instruct model, served in-process on 127.0.0.1 for the run."""

from __future__ import annotations

import contextlib

from kastell.localmodel import serve_local_model
from kastell.redteam.interface import ChatRequest, ChatResponse
from kastell.redteam.targets.openai import OpenAITarget

__all__ = ["LocalModelTarget"]


class LocalModelTarget:
    """``Target`` starting the bundled model server on construction; ``aclose`` stops it.

    One slot and no prompt-cache reuse by default, so that a temperature-0 run gives the same
    outputs whatever the client's concurrency: llama.cpp's results depend on which sequences
    share a batch (two slots: 5 of 16 outputs changed between concurrency 4 and 1, and 2 of 16
    between two identical concurrency-4 runs) and on which prefix a slot's cache reuses.

    Args:
        n_threads: inference threads (1 on a shared machine).
        n_parallel: concurrent slots; each gets ``ctx_size // n_parallel`` tokens of context.
        ctx_size: total context tokens.
    """

    def __init__(self, *, n_threads: int = 1, n_parallel: int = 1, ctx_size: int = 4096) -> None:
        self._stack = contextlib.ExitStack()
        server = self._stack.enter_context(
            serve_local_model(n_threads=n_threads, n_parallel=n_parallel, ctx_size=ctx_size)
        )
        self._model = server.model
        self._inner = OpenAITarget(server.base_url, server.model, timeout=300.0, max_retries=1,
                                   extra_body={"cache_prompt": False})

    @property
    def description(self) -> str:
        """Name of the local model."""
        return f"local:{self._model}"

    async def send(self, request: ChatRequest) -> ChatResponse:
        """Send to the in-process server."""
        return await self._inner.send(request)

    async def aclose(self) -> None:
        """Close the client and stop the server."""
        await self._inner.aclose()
        self._stack.close()
