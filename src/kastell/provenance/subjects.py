"""Resolve command inputs into statement parts: the model subject, parameters, times."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from kastell._untrusted import load_json, read_regular
from kastell.integrity.signing import GIT_PATHS, Serialization, describe_model
from kastell.provenance import _model_signature
from kastell.provenance.interface import ProvenanceUsageError
from kastell.provenance.statement import read_signed_statement
from kastell.types import Digest, Subject

__all__ = ["parse_parameters", "parse_timestamp", "resolve_model_subject"]


def resolve_model_subject(
    model_dir: Path | None, model_digest: str | None, signature: Path | None, name: str | None
) -> Subject:
    """The model subject from a signature, a model directory or a digest; all must agree.

    With a signature, a model directory is checked against it (as the signature serialized the
    model); alone, a directory is hashed as ``kastell sign`` does by default (sha256 files, git
    metadata left out).

    Raises:
        ProvenanceUsageError: none given, or they name different models.
        DigestMismatchError: the model directory differs from the signature.
    """
    found: list[tuple[str, Digest]] = []
    if signature is not None:
        resources = _model_signature.resources_of(read_signed_statement(signature))
        found.append(("--signature", resources.model_digest))
        name = name or resources.model_name
        if model_dir is not None:
            _model_signature.check_model(model_dir, resources.description, signature_path=signature)
    elif model_dir is not None:
        description = describe_model(model_dir, Serialization(ignore_paths=GIT_PATHS))
        found.append(("--model-dir", description.digest))
        name = name or description.name
    if model_digest is not None:
        found.append(("--model-digest", Digest.parse(model_digest)))
    if not found:
        raise ProvenanceUsageError(
            "no model given", hint="Pass --signature, --model-dir or --model-digest."
        )
    if len({digest for _, digest in found}) > 1:
        listed = ", ".join(f"{option} {digest}" for option, digest in found)
        raise ProvenanceUsageError(
            f"the model options disagree: {listed}",
            hint="Pass options that describe the same model (re-sign it if it changed).",
        )
    return Subject(name or "model", found[0][1])


def parse_parameters(params: tuple[str, ...], params_file: Path | None) -> dict[str, Any]:
    """Invocation parameters from ``KEY=VALUE`` items over an optional JSON object file."""
    result: dict[str, Any] = {}
    if params_file is not None:
        try:
            loaded = load_json(read_regular(params_file, limit=16 * 1024 * 1024))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
            raise ProvenanceUsageError(
                f"cannot read --params-file {params_file}: {error}"
            ) from error
        if not isinstance(loaded, dict):
            raise ProvenanceUsageError(f"--params-file {params_file} must hold a JSON object")
        result.update(loaded)
    for item in params:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ProvenanceUsageError(
                f"--param {item!r} is not KEY=VALUE", hint="Write e.g. --param epochs=3."
            )
        result[key] = value
    return result


def parse_timestamp(text: str, option: str) -> dt.datetime:
    """An RFC 3339 time given to ``option``."""
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise ProvenanceUsageError(
            f"{option} {text!r} is not an RFC 3339 time", hint="Write e.g. 2026-01-31T12:00:00Z."
        ) from None
