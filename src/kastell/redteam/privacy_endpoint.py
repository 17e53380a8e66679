"""Score continuations through an OpenAI-compatible completions endpoint (``top_logprobs``).

Chat endpoints do not return the probability of a text they did not generate, and servers such
as llama.cpp do not echo prompt log-probabilities. So the scorer teacher-forces: it asks for one
token after ``prefix``, looks up the next piece of the continuation among the ``top_k`` answers,
adds its log-probability, and moves on. Two limits, both stated in every result:

- a piece outside the top ``k`` is scored at the smallest returned log-probability (an upper
  bound of its real one) and the scorer advances one character; ``bounded_steps`` counts them;
- the endpoint re-tokenises ``prefix + piece`` each step, which may split text differently from
  the model's own decoding (an approximation, the same for the secret and its candidates).

Answers are cached per context, so candidates sharing a start cost one request for it.
"""

from __future__ import annotations

import math
from typing import Any

import httpx

from kastell.redteam.interface import TargetUnavailableError

__all__ = ["CompletionsScorer"]


class CompletionsScorer:
    """A :class:`~kastell.redteam.privacy.SequenceScorer` over ``POST {base_url}/completions``."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        top_k: int = 20,
        timeout_s: float = 60.0,
        api_key: str | None = None,
        max_requests: int = 100_000,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout_s,
                                    headers=headers, transport=transport)
        self._model = model
        self._top_k = top_k
        self._max_requests = max_requests
        self._cache: dict[str, list[tuple[str, float]]] = {}
        self.requests = 0
        """Requests sent so far."""
        self.bounded_steps = 0
        """Steps scored at the top-k floor because the piece was not among the answers."""

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()

    def __enter__(self) -> CompletionsScorer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def logprob(self, prefix: str, continuation: str, *, stop_below: float | None = None) -> float:
        """Summed log-probability of ``continuation`` after ``prefix`` (teacher-forced).

        Stops early once the sum is below ``stop_below`` (it can only fall further).
        """
        total = 0.0
        done = 0
        while done < len(continuation):
            if stop_below is not None and total < stop_below:
                return total
            rest = continuation[done:]
            top = self._next_tokens(prefix + continuation[:done])
            matches = [(token, lp) for token, lp in top if token and rest.startswith(token)]
            if matches:
                token, lp = max(matches, key=lambda item: (len(item[0]), item[1]))
                total += lp
                done += len(token)
            else:
                total += min(lp for _, lp in top)
                self.bounded_steps += 1
                done += 1
        return total

    def _next_tokens(self, context: str) -> list[tuple[str, float]]:
        cached = self._cache.get(context)
        if cached is not None:
            return cached
        if self.requests >= self._max_requests:
            raise TargetUnavailableError(
                f"the scoring budget of {self._max_requests} requests is spent",
                hint="Use fewer candidates or records, or raise --max-requests.",
            )
        self.requests += 1
        body = {"model": self._model, "prompt": context, "max_tokens": 1, "temperature": 0,
                "logprobs": self._top_k}
        try:
            response = self._client.post("/completions", json=body)
        except httpx.HTTPError as error:
            raise TargetUnavailableError(f"scoring request failed: {error}") from error
        if response.status_code != 200:
            raise TargetUnavailableError(
                f"the completions endpoint answered HTTP {response.status_code}",
                hint="Privacy measures need /v1/completions with logprobs (llama.cpp, vLLM).",
            )
        try:
            answer = response.json()
        except ValueError as error:
            raise TargetUnavailableError("the completions endpoint answered non-JSON") from error
        top = _top_logprobs(answer)
        self._cache[context] = top
        return top


def _top_logprobs(answer: Any) -> list[tuple[str, float]]:
    """The (token, logprob) pairs of the first generated position, in either answer format."""
    try:
        logprobs = answer["choices"][0]["logprobs"]
        if isinstance(logprobs.get("content"), list):  # llama.cpp / chat-style
            entries = logprobs["content"][0]["top_logprobs"]
            pairs = [(str(e["token"]), float(e["logprob"])) for e in entries]
        else:  # OpenAI legacy completions: top_logprobs = [{token: logprob}]
            pairs = [(str(t), float(lp)) for t, lp in logprobs["top_logprobs"][0].items()]
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as error:
        raise TargetUnavailableError(
            "the endpoint returned no top_logprobs for the next token",
            hint="Privacy measures need an endpoint that returns logprobs (or a local model).",
        ) from error
    if any(lp > 0 for _, lp in pairs):  # not a log-probability: the early stop would be wrong
        raise TargetUnavailableError("the endpoint returned a positive log-probability")
    pairs = [(t, lp) for t, lp in pairs if math.isfinite(lp)]
    if not pairs:
        raise TargetUnavailableError("the endpoint returned no finite log-probabilities")
    return pairs
