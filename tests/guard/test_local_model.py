"""Local upstream: the served model's signature is verified at start-up (integrity), the
served digest lands in every audit record, and the real SmolLM2 answers through the gateway."""

from __future__ import annotations

import pathlib

import openai
import pytest
import yaml

from kastell.cli.main import main
from kastell.guard.config import parse_config
from kastell.guard.interface import ModelNotTrustedError
from kastell.guard.service import prepared_gateway
from kastell.integrity.keys import generate_private_key
from kastell.integrity.signing import sign_model

from ._servers import serve_in_thread
from .conftest import KEY, make_config, read_records


def _keys(tmp_path: pathlib.Path, name: str) -> tuple[object, pathlib.Path]:
    key = generate_private_key()
    public = tmp_path / f"{name}.pub"
    public.write_bytes(key.public_key.pem())
    return key, public


def _signed(tmp_path: pathlib.Path, model: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    key, public = _keys(tmp_path, "trusted")
    signature = tmp_path / "model.sig"
    signature.write_bytes(sign_model(model, key).bundle.to_json())  # type: ignore[arg-type]
    return signature, public


def _local_config(
    tmp_path: pathlib.Path, model: pathlib.Path, signature: pathlib.Path, public: pathlib.Path
) -> pathlib.Path:
    config = make_config("http://127.0.0.1:9", audit={"url": str(tmp_path / "audit.db")})
    config["upstreams"] = {
        "main": {
            "type": "local",
            "model_path": str(model),
            "signature": str(signature),
            "public_key": str(public),
            "n_threads": 1,
            "n_parallel": 1,
            "ctx_size": 1024,
        }
    }
    path = tmp_path / "guard.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_tampered_model_refuses_to_start(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF" + b"\0" * 64)
    signature, public = _signed(tmp_path, model)
    model.write_bytes(b"GGUF" + b"\1" * 64)
    path = _local_config(tmp_path, model, signature, public)
    assert main(["guard", "serve", "--config", str(path), "--check"]) == 1
    assert "refusing to serve" in capsys.readouterr().err


def test_untrusted_key_refuses_to_start(tmp_path: pathlib.Path) -> None:
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF" + b"\0" * 64)
    signature, _ = _signed(tmp_path, model)
    _, other = _keys(tmp_path, "other")
    config = parse_config(
        yaml.safe_load(_local_config(tmp_path, model, signature, other).read_text())
    )
    with pytest.raises(ModelNotTrustedError), prepared_gateway(config, config_dir=tmp_path):
        pass


@pytest.mark.model
@pytest.mark.slow
def test_signed_smollm2_answers_through_the_gateway(tmp_path: pathlib.Path) -> None:
    from kastell.localmodel import smollm2_gguf_path

    model = smollm2_gguf_path()
    signature, public = _signed(tmp_path, model)
    path = _local_config(tmp_path, model, signature, public)
    config = parse_config(yaml.safe_load(path.read_text()))
    with prepared_gateway(config, config_dir=tmp_path) as app, serve_in_thread(app) as url:
        digest = app.runtime.served_digests["main"]
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0, timeout=120)
        answer = client.chat.completions.create(
            model="smollm2",
            max_tokens=8,
            messages=[{"role": "user", "content": "Say hello."}],
        )
        chunks = list(
            client.chat.completions.create(
                model="smollm2",
                max_tokens=8,
                stream=True,
                messages=[{"role": "user", "content": "Say hi."}],
            )
        )
        client.close()
    assert answer.choices[0].finish_reason in ("stop", "length")
    assert any(c.choices and c.choices[0].finish_reason for c in chunks)
    records = read_records(tmp_path / "audit.db")
    assert records
    assert all(r.event.served_model_digest == digest for r in records)
