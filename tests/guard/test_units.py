"""Pure parts: policy composition, redaction, hold-back streaming, keys, extraction, metrics."""

from __future__ import annotations

import asyncio

import pytest

from kastell.guard.canaries import CanaryBook, plant_canary
from kastell.guard.config import ExtractionSettings
from kastell.guard.extraction import ExtractionWatch, prompt_template
from kastell.guard.interface import Action, Detection, GuardConfigError, RuleInfo, ScanContext
from kastell.guard.keys import KeyRing, hash_api_key, new_api_key
from kastell.guard.metrics import GuardMetrics
from kastell.guard.pipeline import SCANNER_ERROR_RULE, Screener
from kastell.guard.policy import AllOf, AnyOf, RuleActionPolicy, parse_action, redact
from kastell.guard.ratelimit import MemoryRateLimiter
from kastell.guard.scanners.registry import all_rules, default_scanners
from kastell.guard.streaming import StreamScreen


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_policy_strictest_wins_and_overrides() -> None:
    rules = all_rules()
    policy = RuleActionPolicy(rules, {"guard.pii": Action.FLAG})
    pii, secret = Detection("guard.pii", "x"), Detection("guard.secret", "y")
    assert policy.check([pii]) is Action.FLAG
    assert policy.check([pii, secret]) is Action.BLOCK
    assert policy.check([]) is Action.ALLOW
    assert policy.action_for("guard.unknown") is Action.BLOCK  # fail closed
    lenient = RuleActionPolicy(rules, {"guard.secret": Action.ALLOW})
    assert AllOf((policy, lenient)).check([secret]) is Action.BLOCK
    assert AnyOf((policy, lenient)).check([secret]) is Action.ALLOW


def test_parse_action() -> None:
    assert parse_action("Redact") is Action.REDACT
    with pytest.raises(GuardConfigError, match="unknown action"):
        parse_action("explode")


def test_redact_merges_overlaps() -> None:
    assert redact("abcdefgh", [(1, 3), (2, 5), (7, 8)], "#") == "a#fg#"


class _Exploding:
    name = "exploding"
    version = "1"
    directions = frozenset({"input"})
    rules: tuple[RuleInfo, ...] = ()

    def scan(self, text: str, context: ScanContext) -> list[Detection]:
        raise ValueError("boom")


def test_scanner_error_fails_closed() -> None:
    screener = Screener([_Exploding()], RuleActionPolicy(all_rules()))  # type: ignore[list-item]
    verdict = screener.screen_messages([{"role": "user", "content": "hello"}])
    assert verdict.action is Action.BLOCK
    assert verdict.blocking_rule == SCANNER_ERROR_RULE


def test_list_content_parts_are_screened_and_redacted() -> None:
    screener = Screener(default_scanners(), RuleActionPolicy(all_rules()))
    message = {"role": "user", "content": [{"type": "text", "text": "mail jane@example.eu"}]}
    verdict = screener.screen_messages([message])
    assert verdict.action is Action.REDACT
    assert verdict.messages[0]["content"][0]["text"] == "mail [REDACTED]"


def test_stream_holdback_never_releases_a_blocked_match() -> None:
    screener = Screener(default_scanners(), RuleActionPolicy(all_rules()))
    screen = StreamScreen(screener, ScanContext(canary="kst-0123456789abcdef"), holdback=32)
    released = ""
    for piece in ["The marker ", "is kst-0123", "456789ab", "cdef and more"]:
        released += screen.feed(piece)
    released += screen.finish()
    assert screen.blocked
    assert "kst-" not in released
    assert screen.sent == released


def test_stream_releases_everything_when_clean() -> None:
    screener = Screener(default_scanners(), RuleActionPolicy(all_rules()))
    screen = StreamScreen(screener, ScanContext(), holdback=8)
    out = "".join(screen.feed(p) for p in ["Hello ", "there, ", "how are you?"]) + screen.finish()
    assert out == "Hello there, how are you?"
    assert not screen.blocked


def test_stream_redaction_inside_window() -> None:
    screener = Screener(default_scanners(), RuleActionPolicy(all_rules()))
    screen = StreamScreen(screener, ScanContext(), holdback=40)
    out = "".join(screen.feed(p) for p in ["Write to ", "jane@exam", "ple.eu today"])
    out += screen.finish()
    assert out == "Write to [REDACTED] today"


def test_keyring_constant_time_lookup() -> None:
    key = new_api_key()
    ring = KeyRing({"a": [hash_api_key(key)], "b": [hash_api_key("kst-other-0000000000")]})
    assert ring.tenant_for(key) == "a"
    assert ring.tenant_for(key + "x") is None
    assert hash_api_key(key) != hash_api_key(key)  # salted


def test_canary_book_per_session() -> None:
    book = CanaryBook(capacity=2)
    first = book.for_session("t", "s1")
    assert book.for_session("t", "s1") == first
    assert book.for_session("t", "s2") != first
    assert book.for_session("t", None) != book.for_session("t", None)


def test_plant_canary_merges_into_system_prompt() -> None:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    out, reference = plant_canary(messages, "kst-1", "Policy prompt.")
    assert out[0]["content"].startswith("Policy prompt.")
    assert "kst-1" in out[0]["content"]
    assert reference == "Policy prompt.\nBe brief."
    assert messages[0]["content"] == "Be brief."  # input untouched
    added, _ = plant_canary([{"role": "user", "content": "hi"}], "kst-2", None)
    assert added[0]["role"] == "system"


def test_extraction_alerts_fire_once_per_window() -> None:
    clock = _Clock()
    settings = ExtractionSettings(
        max_requests=5, max_logprob_requests=2, max_template_repeats=3, window_s=60
    )
    watch = ExtractionWatch(settings, clock)
    kinds: list[str] = []
    for i in range(7):
        kinds += [
            a.kind for a in watch.observe_now("t", f"Price of item {i}?", wants_logprobs=True)
        ]
    assert sorted(kinds) == ["logprobs", "templated", "volume"]
    clock.now += 61
    assert watch.observe_now("t", "hello", wants_logprobs=False) == []


def test_extraction_diversity() -> None:
    settings = ExtractionSettings(min_requests_for_diversity=10, min_diversity=0.5)
    watch = ExtractionWatch(settings, _Clock())
    alerts = [a for _ in range(10) for a in watch.observe_now("t", "same", wants_logprobs=False)]
    assert [a.kind for a in alerts] == ["low_diversity"]


def test_prompt_template_masks_values() -> None:
    assert prompt_template('Translate "cat" 3 times') == prompt_template("translate 'dog' 12 times")


def test_memory_rate_limiter_token_bucket() -> None:
    clock = _Clock()
    limiter = MemoryRateLimiter(clock)

    async def run() -> list[bool]:
        results = [(await limiter.acquire("t", 60, 2)).allowed for _ in range(3)]
        clock.now += 1.0
        results.append((await limiter.acquire("t", 60, 2)).allowed)
        return results

    assert asyncio.run(run()) == [True, True, False, True]


def test_metrics_render() -> None:
    metrics = GuardMetrics()
    metrics.inc("kastell_guard_rule_hits_total", {"rule": 'a"b'})
    metrics.observe_latency(0.003)
    text = metrics.render()
    assert 'kastell_guard_rule_hits_total{rule="a\\"b"} 1' in text
    assert 'kastell_guard_request_duration_seconds_bucket{le="0.005"} 1' in text
