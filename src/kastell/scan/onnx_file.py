"""ONNX models: external-data paths that escape the model directory, custom operator domains.

The protobuf wire format is parsed here (no ``onnx`` dependency): only the fields needed are
decoded (graph, nodes, attributes with sub-graphs, initializers, functions, opset imports);
every length is bounds-checked and nesting is limited.
"""

from __future__ import annotations

import dataclasses
import posixpath
from collections.abc import Iterator
from typing import ClassVar

from kastell.scan.interface import (
    Blob,
    ScanContext,
    ScannerMeta,
    ScanOutcome,
    UnscannableInputError,
)

__all__ = ["OnnxFacts", "OnnxScanner", "parse_onnx"]

_STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "ai.onnx.training",
                               "ai.onnx.preview.training"})
_MAX_DEPTH = 32
_MAX_BYTES = 2 << 30


@dataclasses.dataclass
class OnnxFacts:
    """What the parse collects."""

    ir_version: int = 0
    domains: set[str] = dataclasses.field(default_factory=set)
    external_locations: list[str] = dataclasses.field(default_factory=list)
    nodes: int = 0
    has_graph: bool = False


def _varint(data: memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise UnscannableInputError("ONNX varint truncated or too long")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(data: memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise UnscannableInputError("ONNX field number 0")
        if wire == 0:
            value, pos = _varint(data, pos)
            yield number, wire, value
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise UnscannableInputError("ONNX length-delimited field past its parent")
            yield number, wire, data[pos:pos + length]
            pos += length
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
            if pos > len(data):
                raise UnscannableInputError("ONNX fixed-width field truncated")
        else:
            raise UnscannableInputError(f"ONNX wire type {wire} is not supported")


def _text(value: int | memoryview) -> str:
    if not isinstance(value, memoryview):
        raise UnscannableInputError("ONNX string field has the wrong wire type")
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        raise UnscannableInputError("ONNX string is not UTF-8") from None


def _sub(value: int | memoryview) -> memoryview:
    if not isinstance(value, memoryview):
        raise UnscannableInputError("ONNX message field has the wrong wire type")
    return value


def _tensor(data: memoryview, facts: OnnxFacts) -> None:
    for number, _, value in _fields(data):
        if number == 13:  # external_data: StringStringEntryProto {1: key, 2: value}
            entry = {n: _text(v) for n, _, v in _fields(_sub(value)) if n in (1, 2)}
            if entry.get(1) == "location":
                facts.external_locations.append(entry.get(2, ""))


def _attribute(data: memoryview, facts: OnnxFacts, depth: int) -> None:
    for number, _, value in _fields(data):
        if number in (5, 10):  # t, tensors
            _tensor(_sub(value), facts)
        elif number in (6, 11):  # g, graphs
            _graph(_sub(value), facts, depth + 1)


def _node(data: memoryview, facts: OnnxFacts, depth: int) -> None:
    facts.nodes += 1
    domain = ""
    for number, _, value in _fields(data):
        if number == 7:
            domain = _text(value)
        elif number == 5:
            _attribute(_sub(value), facts, depth)
    facts.domains.add(domain)


def _graph(data: memoryview, facts: OnnxFacts, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise UnscannableInputError("ONNX sub-graphs nested too deeply")
    for number, _, value in _fields(data):
        if number == 1:
            _node(_sub(value), facts, depth)
        elif number in (5, 15):  # initializer, sparse_initializer
            _tensor(_sub(value), facts)


def parse_onnx(data: bytes) -> OnnxFacts:
    """Parse an ONNX ModelProto's wire format.

    Raises:
        UnscannableInputError: the bytes are not a well-formed ModelProto.
    """
    facts = OnnxFacts()
    view = memoryview(data)
    for number, wire, value in _fields(view):
        if number == 1 and wire == 0 and isinstance(value, int):
            facts.ir_version = value
        elif number == 7:
            facts.has_graph = True
            _graph(_sub(value), facts, 0)
        elif number == 8:  # opset_import: {1: domain, 2: version}
            for inner, _, item in _fields(_sub(value)):
                if inner == 1:
                    facts.domains.add(_text(item))
        elif number == 25:  # functions (FunctionProto: node = 7, opset_import = 9)
            for inner, _, item in _fields(_sub(value)):
                if inner == 7:
                    _node(_sub(item), facts, 1)
    if not facts.has_graph or facts.ir_version <= 0:
        raise UnscannableInputError("not an ONNX model: no ir_version or graph")
    return facts


def _escapes(location: str) -> str | None:
    if not location:
        return "empty location"
    normal = location.replace("\\", "/")
    if normal.startswith("/") or (len(normal) > 1 and normal[1] == ":"):
        return "absolute path"
    if posixpath.normpath(normal).split("/")[0] == ".." or ".." in normal.split("/"):
        return "leaves the model directory"
    return None


class OnnxScanner:
    """ONNX models (own protobuf wire parser)."""

    meta: ClassVar[ScannerMeta] = ScannerMeta(
        name="onnx",
        formats=("onnx",),
        version="1.0.0",
        rules=("KS-ONNX-EXTERNAL-DATA-ESCAPE", "KS-ONNX-CUSTOM-DOMAIN"),
        description="External data path escapes, custom operator domains.",
    )

    def scan(self, blob: Blob, fmt: str, ctx: ScanContext) -> ScanOutcome:
        """Scan an ONNX model."""
        if blob.size is not None and blob.size > _MAX_BYTES:
            raise UnscannableInputError("ONNX protobuf over 2 GiB (not a valid ModelProto)")
        with blob.opener() as stream:
            facts = parse_onnx(stream.read(_MAX_BYTES + 1))
        findings = []
        for location in facts.external_locations:
            why = _escapes(location)
            if why is None and blob.local_path is not None:
                import pathlib

                base = pathlib.Path(blob.local_path).resolve().parent
                target = (base / location).resolve()
                if not target.is_relative_to(base):
                    why = "resolves (through links) outside the model directory"
            if why is not None:
                findings.append(ctx.finding(
                    "KS-ONNX-EXTERNAL-DATA-ESCAPE", f"external data {location!r}: {why}", blob))
        custom = sorted(facts.domains - _STANDARD_DOMAINS)
        if custom:
            findings.append(ctx.finding(
                "KS-ONNX-CUSTOM-DOMAIN", f"custom operator domains: {', '.join(custom)} (need "
                "native operator libraries at load time)", blob))
        return ScanOutcome(tuple(findings), (), "onnx")
