"""Keras v3 ``.keras`` archives and legacy HDF5 ``.h5`` models.

The model config (``config.json`` in a ``.keras`` zip, the ``model_config`` attribute of an
HDF5 file) is walked for Lambda layers (serialized Python bytecode), ``module`` paths outside
Keras and registered custom objects. HDF5 needs the optional ``h5py``; without it an HDF5
file is unscannable, never clean.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, ClassVar

from kastell.scan.archive import open_zip, scan_zip_members, zip_member_findings
from kastell.scan.interface import (
    Blob,
    ScanContext,
    ScannerMeta,
    ScanOutcome,
    UnscannableInputError,
)
from kastell.types import Finding

__all__ = ["KerasScanner", "keras_config_findings"]

_KERAS_MODULES = ("keras", "keras_hub", "keras_nlp", "keras_cv", "tf_keras", "tensorflow.keras")
_MAX_CONFIG = 64 << 20
_MAX_DEPTH = 200


def _walk(node: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    if depth > _MAX_DEPTH:
        raise UnscannableInputError("Keras config nested too deeply")
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value, depth + 1)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value, depth + 1)


def _in_keras(module: str) -> bool:
    return any(module == m or module.startswith(m + ".") for m in _KERAS_MODULES)


def keras_config_findings(config: Any, blob: Blob, ctx: ScanContext) -> list[Finding]:
    """Findings over a parsed Keras model config."""
    findings: list[Finding] = []
    for node in _walk(config):
        class_name = node.get("class_name")
        if class_name in ("Lambda", "__lambda__") or "function_type" in node and node.get(
                "function_type") == "lambda":
            name = node.get("config", {}).get("name") if isinstance(
                node.get("config"), dict) else None
            findings.append(ctx.finding(
                "KS-KERAS-LAMBDA", f"Lambda layer {name or class_name!r} runs serialized Python "
                "code when the model is loaded", blob))
        module = node.get("module")
        if isinstance(module, str) and not _in_keras(module):
            findings.append(ctx.finding(
                "KS-KERAS-FOREIGN-MODULE", f"{class_name!r} is loaded from module {module!r}",
                blob))
        registered = node.get("registered_name")
        if isinstance(registered, str) and ">" in registered:
            findings.append(ctx.finding(
                "KS-KERAS-CUSTOM-OBJECT", f"custom object {registered!r} must be registered "
                "by code the loader imports", blob))
    unique: dict[str, Finding] = {}
    for finding in findings:
        unique.setdefault(finding.rule_id + finding.message, finding)
    return list(unique.values())


def _parse_config(raw: bytes | str, where: str) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise UnscannableInputError(f"{where} is not valid JSON") from None


def _scan_hdf5(blob: Blob, ctx: ScanContext) -> ScanOutcome:
    try:
        import h5py
    except ImportError:
        raise UnscannableInputError(
            "HDF5 file and h5py is not installed (pip install 'kastell[hdf5]')") from None
    findings: list[Finding] = []
    try:
        with blob.opener() as stream, h5py.File(stream, "r") as handle:
            for key in ("model_config", "training_config"):
                raw = handle.attrs.get(key)
                if raw is None:
                    continue
                text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
                if len(text) > _MAX_CONFIG:
                    raise UnscannableInputError(f"HDF5 {key} attribute over the size limit")
                findings.extend(keras_config_findings(_parse_config(text, key), blob, ctx))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UnscannableInputError(f"HDF5 file cannot be read: {error}") from None
    return ScanOutcome(tuple(findings), (), "hdf5")


class KerasScanner:
    """Keras v3 archives (config.json) and HDF5 models (model_config attribute)."""

    meta: ClassVar[ScannerMeta] = ScannerMeta(
        name="keras",
        formats=("keras", "hdf5"),
        version="1.0.0",
        rules=("KS-KERAS-LAMBDA", "KS-KERAS-FOREIGN-MODULE", "KS-KERAS-CUSTOM-OBJECT",
               "KS-ARCHIVE-PATH-TRAVERSAL", "KS-ARCHIVE-BOMB"),
        description="Lambda layers, foreign modules, custom objects in Keras configs.",
    )

    def scan(self, blob: Blob, fmt: str, ctx: ScanContext) -> ScanOutcome:
        """Scan a Keras archive or an HDF5 file."""
        if fmt == "hdf5":
            return _scan_hdf5(blob, ctx)
        with blob.opener() as stream, open_zip(stream) as archive:
            findings = zip_member_findings(archive, blob, ctx)
            info = archive.getinfo("config.json")
            if info.file_size > _MAX_CONFIG:
                raise UnscannableInputError("Keras config.json over the size limit")
            config = _parse_config(archive.read("config.json"), "config.json")
            findings.extend(keras_config_findings(config, blob, ctx))
            nested = scan_zip_members(
                archive, blob, ctx, skip=lambda name: name in ("config.json", "metadata.json"))
        return ScanOutcome(tuple(findings), (), "keras").merge(nested)
