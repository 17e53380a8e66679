"""Byte-level builders of GGUF, safetensors, ONNX, Keras and archive samples for the tests."""

from __future__ import annotations

import io
import json
import struct
import tarfile
import zipfile


def gguf_string(value: str) -> bytes:
    raw = value.encode("utf-8")
    return struct.pack("<Q", len(raw)) + raw


def gguf(metadata: dict[str, str | int], tensors: int = 0) -> bytes:
    """A GGUF v3 file with string/uint32 metadata and ``tensors`` tiny F32 tensors."""
    body = b""
    for key, value in metadata.items():
        body += gguf_string(key)
        if isinstance(value, str):
            body += struct.pack("<I", 8) + gguf_string(value)
        else:
            body += struct.pack("<I", 4) + struct.pack("<I", value)
    infos = b""
    for index in range(tensors):
        infos += gguf_string(f"t{index}") + struct.pack("<I", 1) + struct.pack("<Q", 4)
        infos += struct.pack("<I", 0) + struct.pack("<Q", index * 32)
    head = b"GGUF" + struct.pack("<IQQ", 3, tensors, len(metadata)) + body + infos
    padding = (-len(head)) % 32
    return head + b"\0" * padding + b"\0" * (32 * tensors)


def safetensors(header: dict[str, object], data: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


def _varint(value: int) -> bytes:
    out = b""
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out += bytes([byte | 0x80])
        else:
            return out + bytes([byte])


def pb_field(number: int, payload: bytes | int | str) -> bytes:
    """One protobuf field: varint for int, length-delimited for bytes/str."""
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    raw = payload.encode() if isinstance(payload, str) else payload
    return _varint(number << 3 | 2) + _varint(len(raw)) + raw


def onnx_model(nodes: tuple[tuple[str, str], ...] = (), external: tuple[str, ...] = (),
               opsets: tuple[str, ...] = ("",)) -> bytes:
    """An ONNX ModelProto: nodes (op_type, domain), initializers with external data paths."""
    graph = b""
    for op_type, domain in nodes:
        graph += pb_field(1, pb_field(1, "x") + pb_field(2, "y") + pb_field(4, op_type)
                          + (pb_field(7, domain) if domain else b""))
    graph += pb_field(2, "g")
    for index, location in enumerate(external):
        entry = pb_field(1, "location") + pb_field(2, location)
        tensor = pb_field(1, 1) + pb_field(2, 1) + pb_field(8, f"w{index}") + pb_field(13, entry)
        tensor += pb_field(14, 1)
        graph += pb_field(5, tensor)
    model = pb_field(1, 9) + pb_field(2, "test") + pb_field(7, graph)
    for domain in opsets:
        model += pb_field(8, pb_field(1, domain) + pb_field(2, 17))
    return model


def keras_archive(config: dict[str, object], weights: bytes = b"") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.6.0"}))
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("model.weights.h5", weights)
    return out.getvalue()


def zip_with(members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (0o120777 << 16)
            archive.writestr(info, target)
    return out.getvalue()


def tar_with(files: dict[str, bytes], links: dict[str, str] | None = None,
             devices: tuple[str, ...] = ()) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            archive.addfile(info)
        for name in devices:
            info = tarfile.TarInfo(name)
            info.type = tarfile.CHRTYPE
            archive.addfile(info)
    return out.getvalue()
