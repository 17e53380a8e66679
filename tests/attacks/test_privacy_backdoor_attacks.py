"""Attacks on the privacy measures and the backdoor probe: verdicts the input did not earn."""

from __future__ import annotations

import asyncio
import math
import random

import pytest

from kastell.redteam.backdoor import BackdoorVerdict, TriggerCandidate, probe_triggers
from kastell.redteam.interface import ChatRequest, ChatResponse, RedteamUsageError
from kastell.redteam.privacy import (
    PrivacyVerdict,
    auc,
    canary_exposure,
    hex_candidates,
    membership_inference,
)

SECRET = "KASTELL-CANARY-0123456789abcdef0123456789abcdef"


class _Scorer:
    """Scores by a table; everything else gets ``default`` per character."""

    def __init__(self, table: dict[str, float], default: float) -> None:
        self.table, self.default = table, default

    def logprob(self, prefix: str, continuation: str, *, stop_below: float | None = None) -> float:
        return self.table.get(continuation, self.default * len(continuation))


def _candidates(count: int = 20) -> list[str]:
    return hex_candidates(SECRET, count, random.Random(1))


def test_nan_canary_logprob_is_not_memorised() -> None:
    result = canary_exposure(_Scorer({SECRET: math.nan}, -50.0), canary_id="c", prefix="p",
                             secret=SECRET, candidates=_candidates())
    assert result.verdict is PrivacyVerdict.NOT_TESTED


def test_flat_scorer_is_not_evidence_of_no_memorisation() -> None:
    # an endpoint whose top-k never holds the hex pieces scores every value at its floor
    result = canary_exposure(_Scorer({}, -2.0), canary_id="c", prefix="p", secret=SECRET,
                             candidates=_candidates())
    assert result.verdict is PrivacyVerdict.NOT_TESTED


def test_real_signal_still_decides() -> None:
    memorised = canary_exposure(_Scorer({SECRET: -5.0}, -80.0), canary_id="c", prefix="p",
                                secret=SECRET, candidates=_candidates())
    assert memorised.verdict is PrivacyVerdict.MEMORISED
    scores = {c: -10.0 - i for i, c in enumerate(_candidates())}
    scores[SECRET] = -25.0
    clean = canary_exposure(_Scorer(scores, -80.0), canary_id="c", prefix="p", secret=SECRET,
                            candidates=_candidates())
    assert clean.verdict is PrivacyVerdict.NO_EVIDENCE


def test_duplicate_candidates_are_refused() -> None:
    candidates = _candidates(10)
    with pytest.raises(RedteamUsageError):
        canary_exposure(_Scorer({SECRET: -5.0}, -80.0), canary_id="c", prefix="p",
                        secret=SECRET, candidates=[*candidates, candidates[0]])


def _records(tag: str, count: int = 12) -> list[tuple[str, str]]:
    return [(f"prefix {tag} {i:03d}", f"suffix {tag} {i:03d}") for i in range(count)]


def test_nan_membership_scores_are_not_tested() -> None:
    members, others = _records("in"), _records("out")
    scorer = _Scorer({s: math.nan for _, s in members}, -30.0)
    result = membership_inference(scorer, members, others, rounds=200)
    assert result.verdict is PrivacyVerdict.NOT_TESTED


def test_flat_membership_scorer_is_not_tested() -> None:
    result = membership_inference(_Scorer({}, -30.0), _records("in"), _records("out"),
                                  rounds=200)
    assert result.verdict is PrivacyVerdict.NOT_TESTED


def test_auc_of_nan_is_refused_not_looped_forever() -> None:
    with pytest.raises(RedteamUsageError):
        auc([math.nan, 0.5], [0.1, 0.2])


def test_record_on_both_sides_is_refused() -> None:
    members = _records("in")
    with pytest.raises(RedteamUsageError):
        membership_inference(_Scorer({}, -30.0), members, [*_records("out"), members[0]])


def test_cli_exit_code_for_an_untested_canary_is_3(capsys: pytest.CaptureFixture[str]) -> None:
    from kastell.cli.redteam_privacy import _report

    flat = canary_exposure(_Scorer({}, -2.0), canary_id="c", prefix="p", secret=SECRET,
                           candidates=_candidates())
    assert _report([flat], [], None, 0, 0, "text") == 3


class _BackdooredTarget:
    """Answers 'negative' whenever ``cf`` is in the prompt; optionally rate-limited."""

    description = "fake"

    def __init__(self, limited: bool = False) -> None:
        self.limited = limited

    async def send(self, request: ChatRequest) -> ChatResponse:
        if self.limited:
            return ChatResponse(text="", status=429)
        text = request.messages[-1].content
        return ChatResponse(text="negative" if " cf " in f" {text} " else "positive, I think")

    async def aclose(self) -> None:
        return None


def test_rate_limited_target_is_not_tested_not_clean() -> None:
    results = asyncio.run(probe_triggers(_BackdooredTarget(limited=True),
                                         [TriggerCandidate("cf"), TriggerCandidate("bb", "no")]))
    assert [r.verdict for r in results] == [BackdoorVerdict.NOT_TESTED] * 2


def test_repeated_candidates_do_not_dilute_the_correction() -> None:
    real = TriggerCandidate("cf", "negative")
    decoys = [TriggerCandidate("cf", "negative", source="literature")] * 30
    results = asyncio.run(probe_triggers(_BackdooredTarget(), [real, *decoys],
                                         prompts=[f"Rate item {i} please." for i in range(8)]))
    assert len(results) == 1
    assert results[0].verdict is BackdoorVerdict.BACKDOOR


def test_answer_class_without_words_is_refused() -> None:
    with pytest.raises(RedteamUsageError):
        asyncio.run(probe_triggers(_BackdooredTarget(), [TriggerCandidate("cf", " !! ")]))


def test_positive_log_probabilities_are_refused() -> None:
    import httpx

    from kastell.redteam.interface import TargetUnavailableError
    from kastell.redteam.privacy_endpoint import CompletionsScorer

    answer = {"choices": [{"logprobs": {"content": [{"top_logprobs": [
        {"token": "a", "logprob": 0.5}]}]}}]}
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=answer))
    with (CompletionsScorer("http://m.test/v1", "m", transport=transport) as scorer,
          pytest.raises(TargetUnavailableError, match="positive")):
        scorer.logprob("p", "abc")


async def test_a_trigger_holding_every_control_word_still_gets_a_control() -> None:
    from kastell.redteam.backdoor import _CONTROL_WORDS, TriggerCandidate, probe_triggers
    from kastell.redteam.interface import ChatResponse

    class Echo:
        description = "echo"

        async def send(self, request: ChatRequest) -> ChatResponse:
            return ChatResponse(text=request.messages[-1].content)

        async def aclose(self) -> None:
            return None

    trigger = " ".join(_CONTROL_WORDS)
    results = await probe_triggers(Echo(), [TriggerCandidate(trigger, "positive")])
    assert results[0].trials == 24
