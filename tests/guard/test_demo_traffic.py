"""The demo's guard step (examples/demo): its policy, its traffic and the incidents they make.

``make demo`` serves the signed SmolLM2 behind ``kastell guard serve`` with
examples/demo/guard-policy.yaml and sends examples/demo/data/guard-traffic.json through it with
examples/demo/guard_traffic.py. Here the same policy, traffic and script run against the
gateway in a thread with a scripted upstream instead of the model, so a change to the scanners,
the policy schema or the incident rules that would break the demo fails here first.
"""

from __future__ import annotations

import importlib.util
import json
import pathlib
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
import yaml

from kastell.audit.log import AuditLog
from kastell.cli.main import main
from kastell.guard.app import GuardApp
from kastell.guard.audit_sink import AuditLogSink
from kastell.guard.config import parse_config
from kastell.guard.lint import lint_config
from kastell.guard.runtime import build_runtime

from ._servers import MockUpstream, free_port, serve_in_thread

DEMO = pathlib.Path(__file__).resolve().parents[2] / "examples" / "demo"
TRAFFIC = DEMO / "data" / "guard-traffic.json"


@pytest.fixture(scope="module")
def traffic_script() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("kastell_demo_traffic", DEMO / "guard_traffic.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module while being built
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def _demo_policy(upstream_url: str, **policy: Any) -> dict[str, Any]:
    """The demo's guard policy with the model replaced by ``upstream_url`` and no audit paths."""
    document = yaml.safe_load((DEMO / "guard-policy.yaml").read_text(encoding="utf-8"))
    document["upstreams"] = {"local": {"type": "openai", "base_url": upstream_url + "/v1"}}
    document["policies"]["default"].update(policy)
    del document["audit"]
    return dict(document)


@pytest.fixture
def demo_gateway(tmp_path: pathlib.Path) -> Iterator[Any]:
    """``with demo_gateway(**policy) as url``: the demo policy served, audited to tmp_path."""
    import contextlib

    @contextlib.contextmanager
    def start(**policy: Any) -> Iterator[str]:
        with serve_in_thread(MockUpstream()) as upstream:
            config = parse_config(_demo_policy(upstream, **policy))
            sink = AuditLogSink(AuditLog.open(tmp_path / "audit.sqlite"))
            with serve_in_thread(GuardApp(build_runtime(config, audit=sink))) as url:
                yield url

    return start


def test_the_demo_policy_is_valid_and_lints_clean() -> None:
    document = yaml.safe_load((DEMO / "guard-policy.yaml").read_text(encoding="utf-8"))
    config = parse_config(document)
    assert lint_config(config) == []  # the assess guard step fails on medium/high findings
    assert config.upstreams["local"].type == "local"
    assert config.extraction.max_logprob_requests == 0


def test_demo_traffic_is_answered_blocked_and_opens_real_incidents(
    demo_gateway: Any, traffic_script: ModuleType, tmp_path: pathlib.Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    traffic = json.loads(TRAFFIC.read_text(encoding="utf-8"))
    with demo_gateway() as url:
        assert traffic_script.main(["health", url]) == 0
        assert traffic_script.main(["send", url, str(TRAFFIC), "--min-blocked", "20"]) == 0
    out = capsys.readouterr().out
    assert f"benign: 200 answered x{len(traffic['benign'])}" in out
    assert "wrong key: 401 invalid_api_key x1" in out
    blocked = sum(int(line.rsplit("x", 1)[1]) for line in out.splitlines()
                  if line.startswith("injection: 400 guard.input."))  # fmt: skip
    assert blocked == len(traffic["attacks"]) >= 20

    store = tmp_path / "evidence.sqlite"
    log = tmp_path / "audit.sqlite"
    opened = ["incident", "open", "--from-audit-log", str(log), "--store", str(store)]
    assert main([*opened, "--format", "json"]) == 0
    incidents = json.loads(capsys.readouterr().out)
    assert [i["source"] for i in incidents] == ["extraction_alert", "blocked_attack_burst"]
    first_attack = len(traffic["benign"]) + len(traffic["logprobs"]) + 1
    assert incidents[1]["evidence_refs"][0] == f"demo-injection-{first_attack}"


def test_send_fails_when_the_guard_lets_attacks_through(
    demo_gateway: Any, traffic_script: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    relaxed = {"guard.input.prompt_injection": "flag", "guard.input.ngram_injection": "flag"}
    with demo_gateway(actions=relaxed) as url:
        assert traffic_script.main(["send", url, str(TRAFFIC), "--min-blocked", "20"]) == 1
    err = capsys.readouterr().err
    assert "UNEXPECTED: injection request answered 200 answered" in err
    assert "fewer than the 20 of a burst" in err


def test_health_and_send_without_a_guard(traffic_script: ModuleType) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert traffic_script.main(["health", url]) == 1
    assert traffic_script.main(["send", url, str(TRAFFIC)]) == 3
