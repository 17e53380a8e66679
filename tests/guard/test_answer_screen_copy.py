"""``screen_completion`` leaves the upstream's answer as it was and copies only what it changes."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kastell.guard.answer_screen import screen_completion
from kastell.guard.interface import Action, ScanContext
from kastell.guard.pipeline import Screener
from kastell.guard.policy import RuleActionPolicy
from kastell.guard.scanners.registry import all_rules, default_scanners

_SCREENER = Screener(default_scanners(), RuleActionPolicy(all_rules()))
_MAIL = '{"to": "jane@example.eu"}'


def _answer(message: dict[str, Any], logprobs: Any = None) -> dict[str, Any]:
    choice = {"index": 0, "message": message, "logprobs": logprobs, "finish_reason": "stop"}
    return {"id": "c", "choices": [choice], "usage": {"total_tokens": 3}}


@pytest.mark.parametrize(
    ("message", "where"),
    [
        (
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "a",
                        "type": "function",
                        "function": {"name": "mail", "arguments": _MAIL},
                    }
                ],
            },
            lambda m: m["tool_calls"][0]["function"]["arguments"],
        ),
        (
            {
                "role": "assistant",
                "content": None,
                "function_call": {"name": "mail", "arguments": _MAIL},
            },
            lambda m: m["function_call"]["arguments"],
        ),
    ],
)
def test_redacted_arguments_are_written_to_a_copy(message: dict[str, Any], where: Any) -> None:
    answer = _answer(message)
    before = copy.deepcopy(answer)
    screened = screen_completion(_SCREENER, ScanContext(), answer)
    assert screened.choices[0].action is Action.REDACT
    assert where(screened.answer["choices"][0]["message"]) == '{"to": "[REDACTED]"}'
    assert answer == before  # the upstream's answer, tool calls included, is unchanged


def test_a_redacted_choice_changes_only_the_copy() -> None:
    message = {"role": "assistant", "content": "Write to jane@example.eu", "audio": {"id": "x"}}
    logprobs = {"content": [{"token": "Write", "logprob": -1.0}]}
    answer = _answer(message, logprobs)
    before = copy.deepcopy(answer)
    screened = screen_completion(_SCREENER, ScanContext(), answer)
    sent = screened.answer["choices"][0]
    assert sent["message"] == {"role": "assistant", "content": "Write to [REDACTED]"}
    assert sent["logprobs"] is None
    assert screened.dropped_fields == ("audio",)
    assert answer == before


def test_logprobs_kept_are_shared_not_copied() -> None:
    logprobs = {"content": [{"token": "Hello", "logprob": -1.0, "top_logprobs": []}]}
    answer = _answer({"role": "assistant", "content": "Hello"}, logprobs)
    screened = screen_completion(_SCREENER, ScanContext(), answer)
    assert screened.logprobs_withheld == ()
    # the heaviest part of an answer is relayed as received, never deep-copied per request
    assert screened.answer["choices"][0]["logprobs"] is logprobs
    assert screened.answer["choices"][0] is not answer["choices"][0]
