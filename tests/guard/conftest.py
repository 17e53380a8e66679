"""Fixtures of the guard tests: a scripted upstream, configs, a gateway with a real audit log."""

from __future__ import annotations

import contextlib
import pathlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kastell.audit.codec import parse_record
from kastell.audit.interface import AuditRecord
from kastell.audit.log import AuditLog
from kastell.audit.store import AuditStore
from kastell.guard.app import GuardApp
from kastell.guard.audit_sink import AuditLogSink
from kastell.guard.config import parse_config
from kastell.guard.keys import hash_api_key
from kastell.guard.runtime import build_runtime

from ._servers import MockUpstream, serve_in_thread

KEY = "kst-test-key-0123456789abcdef"
OTHER_KEY = "kst-other-key-0123456789abcdef"


def make_config(base_url: str, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "upstreams": {"main": {"type": "openai", "base_url": base_url + "/v1", "timeout_s": 5}},
        "policies": {"default": {}},
        "tenants": {
            "acme": {"key_hashes": [hash_api_key(KEY)], "upstream": "main"},
            "globex": {"key_hashes": [hash_api_key(OTHER_KEY)], "upstream": "main"},
        },
    }
    config.update(overrides)
    return config


@pytest.fixture
def upstream() -> Iterator[tuple[MockUpstream, str]]:
    mock = MockUpstream()
    with serve_in_thread(mock) as url:
        yield mock, url


def read_records(location: pathlib.Path) -> list[AuditRecord]:
    store = AuditStore.open(location, create=False)
    try:
        return [parse_record(row.body.encode()) for row in store.iter_rows()]
    finally:
        store.close()


Gateway = Callable[..., contextlib.AbstractContextManager[tuple[str, GuardApp]]]


@pytest.fixture
def gateway(upstream: tuple[MockUpstream, str], tmp_path: pathlib.Path) -> Gateway:
    """``with gateway(**config_overrides) as (url, app)``: a served gateway with an audit log."""

    @contextlib.contextmanager
    def start(**overrides: Any) -> Iterator[tuple[str, GuardApp]]:
        config = parse_config(make_config(upstream[1], **overrides))
        sink = AuditLogSink(AuditLog.open(tmp_path / "audit.db"))
        app = GuardApp(build_runtime(config, audit=sink))
        with serve_in_thread(app) as url:
            yield url, app

    return start


@pytest.fixture
def audit_path(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "audit.db"
