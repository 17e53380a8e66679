"""Send the demo's requests through a running ``kastell guard serve`` and say what it did.

Used by assess.sh (``make demo``); standard library only, no proxy (the guard is on 127.0.0.1)::

    python guard_traffic.py health URL
    python guard_traffic.py send URL data/guard-traffic.json --min-blocked 20

``health`` exits 0 when ``URL/healthz`` answers ``{"status": "ok"}``, else 1. ``send`` posts the
benign questions (answered by the model), the questions asking for log-probabilities, the
attacks (expected: 400 ``kastell_blocked``) and one request with a wrong API key (401), then
prints one line per kind of result. Exit status of ``send``: 0 every request got the expected
kind of answer and at least ``--min-blocked`` attacks were blocked, 1 otherwise, 3 the guard
could not be reached.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import pathlib
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

DEMO_API_KEY = "demo-api-key-not-secret"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_EXPECTED = {"benign": 200, "logprobs": 200, "wrong key": 401}
_NOTES = {
    "logprobs": " (log-probabilities requested: an extraction alert under the demo policy)",
    "wrong key": " (audited as auth_failure)",
}


class GuardUnreachableError(Exception):
    """The guard did not answer at all (connection refused, timeout)."""


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What the guard answered to one request."""

    kind: str
    status: int
    label: str
    """``answered``, ``answer blocked (content_filter)`` or the error code."""
    question: str
    answer: str = ""

    @property
    def expected(self) -> bool:
        """Whether the status is the one this kind of request should get."""
        if self.kind == "injection":  # blocked by a guard rule, not refused as malformed
            return self.status == 400 and self.label.startswith("guard.")
        return self.status == _EXPECTED[self.kind]


def _call(request: urllib.request.Request, timeout: float) -> tuple[int, dict[str, Any]]:
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        raise GuardUnreachableError(f"{request.full_url}: {error}") from None
    try:
        body = json.loads(raw or b"{}")
    except json.JSONDecodeError:
        body = {}
    return status, body if isinstance(body, dict) else {}


def _label(status: int, body: dict[str, Any]) -> tuple[str, str]:
    if status == 200:
        choice = (body.get("choices") or [{}])[0]
        if choice.get("finish_reason") == "content_filter":
            return "answer blocked (content_filter)", ""
        return "answered", str((choice.get("message") or {}).get("content") or "")
    error = body.get("error") or {}
    return str(error.get("code") or error.get("type") or "no error object"), ""


def _ask(url: str, key: str, kind: str, question: str, number: int, timeout: float) -> Outcome:
    body: dict[str, Any] = {
        "model": "smollm2",
        "messages": [{"role": "user", "content": question}],
        "max_tokens": 8 if kind == "logprobs" else 24,
    }
    if kind == "logprobs":
        body["logprobs"] = True
    request = urllib.request.Request(
        f"{url}/v1/chat/completions",
        data=json.dumps(body).encode("utf-8"),
        method="POST",
        headers={
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/json",
            "X-Request-Id": f"demo-{kind.replace(' ', '-')}-{number}",
        },
    )
    status, answer = _call(request, timeout)
    label, text = _label(status, answer)
    return Outcome(kind, status, label, question, text)


def send_traffic(url: str, traffic: dict[str, Any], key: str, timeout: float) -> list[Outcome]:
    """Send every request of ``traffic`` to the guard at ``url``, in order; return the outcomes."""
    plan = [
        *(("benign", q) for q in traffic["benign"]),
        *(("logprobs", q) for q in traffic["logprobs"]),
        *(("injection", q) for q in traffic["attacks"]),
    ]
    outcomes = [_ask(url, key, kind, q, n, timeout) for n, (kind, q) in enumerate(plan, 1)]
    wrong = _ask(url, "demo-wrong-key", "wrong key", traffic["benign"][0], len(plan) + 1, timeout)
    return [*outcomes, wrong]


def summary_lines(outcomes: Sequence[Outcome]) -> list[str]:
    """One line per kind of result, e.g. ``injection: 400 guard.input.jailbreak x4``."""
    counts = collections.Counter((o.kind, o.status, o.label) for o in outcomes)
    lines = []
    for (kind, status, label), n in counts.items():
        lines.append(f"{kind}: {status} {label} x{n}{_NOTES.get(kind, '')}")
        answered = [o for o in outcomes if o.kind == kind == "benign" and o.answer]
        if answered and label == "answered":
            answer = " ".join(answered[0].answer.split())
            answer = answer if len(answer) <= 70 else answer[:70] + "..."
            lines.append(f'  e.g. "{answered[0].question}" -> "{answer}"')
    return lines


def _health(url: str) -> int:
    try:
        status, body = _call(urllib.request.Request(f"{url}/healthz"), timeout=2.0)
    except GuardUnreachableError:
        return 1
    return 0 if status == 200 and body.get("status") == "ok" else 1


def _send(url: str, traffic_path: pathlib.Path, key: str, min_blocked: int) -> int:
    traffic = json.loads(traffic_path.read_text(encoding="utf-8"))
    try:
        outcomes = send_traffic(url, traffic, key, timeout=120.0)
    except GuardUnreachableError as error:
        print(f"error: the guard did not answer: {error}", file=sys.stderr)
        return 3
    print("\n".join(summary_lines(outcomes)))
    failed = [o for o in outcomes if not o.expected]
    for outcome in failed:
        print(f"UNEXPECTED: {outcome.kind} request answered {outcome.status} {outcome.label}: "
              f"{outcome.question[:60]!r}", file=sys.stderr)  # fmt: skip
    blocked = sum(1 for o in outcomes if o.kind == "injection" and o.expected)
    if blocked < min_blocked:
        print(f"UNEXPECTED: {blocked} attacks blocked, fewer than the {min_blocked} of a burst",
              file=sys.stderr)  # fmt: skip
    return 1 if failed or blocked < min_blocked else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``health URL`` or ``send URL TRAFFIC [--api-key K] [--min-blocked N]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("health").add_argument("url")
    send = commands.add_parser("send")
    send.add_argument("url")
    send.add_argument("traffic", type=pathlib.Path)
    send.add_argument("--api-key", default=DEMO_API_KEY)
    send.add_argument("--min-blocked", type=int, default=0)
    args = parser.parse_args(argv)
    url = args.url.rstrip("/")
    if args.command == "health":
        return _health(url)
    return _send(url, args.traffic, args.api_key, args.min_blocked)


if __name__ == "__main__":
    sys.exit(main())
