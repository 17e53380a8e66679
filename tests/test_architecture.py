"""The package layers of docs/architecture.md hold: each package imports only what it may."""

from __future__ import annotations

import ast
import pathlib

import pytest

SRC = pathlib.Path(__file__).resolve().parents[1] / "src" / "kastell"

# Shared foundation every package may use; it imports no capability.
FOUNDATION = {
    "errors", "types", "_storage", "_http1", "report", "localmodel", "text", "_untrusted",
    "__init__",
}

# The text-detection core is foundation for every capability, but itself imports only these.
TEXT_MAY_IMPORT = {"errors", "types"}

# capability -> the other capabilities it may import (docs/architecture.md).
ALLOWED: dict[str, set[str]] = {
    "integrity": set(),
    "scan": set(),
    "protect": {"integrity"},
    "audit": set(),
    "provenance": {"integrity", "scan"},
    "bom": {"integrity", "provenance"},
    "redteam": {"provenance"},
    "guard": {"audit", "integrity"},
    "datascan": {"integrity", "provenance", "text"},
    "comply": {
        "integrity", "provenance", "protect", "bom", "scan", "redteam", "guard", "audit",
    },
    "cli": {
        "integrity", "provenance", "protect", "bom", "scan", "redteam", "guard", "audit",
        "comply", "datascan",
    },
}


def _top_package(path: pathlib.Path) -> str:
    relative = path.relative_to(SRC)
    return relative.parts[0].removesuffix(".py")


def _imported_packages(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "kastell" and len(parts) > 1:
                found.add(parts[1])
    return found


def _modules() -> list[pathlib.Path]:
    return sorted(SRC.rglob("*.py"))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_imports_follow_the_layers(path: pathlib.Path) -> None:
    package = _top_package(path)
    imported = _imported_packages(path) - {package}
    allowed = FOUNDATION if package in FOUNDATION else FOUNDATION | ALLOWED[package]
    assert imported <= allowed, f"{package} must not import {sorted(imported - allowed)}"


def test_nothing_but_cli_imports_comply() -> None:
    offenders = [
        str(path.relative_to(SRC))
        for path in _modules()
        if _top_package(path) not in {"comply", "cli"} and "comply" in _imported_packages(path)
    ]
    assert offenders == []


@pytest.mark.parametrize(
    "path", sorted((SRC / "text").rglob("*.py")), ids=lambda p: str(p.relative_to(SRC))
)
def test_text_core_imports_only_errors_and_types(path: pathlib.Path) -> None:
    imported = _imported_packages(path) - {"text"}
    assert imported <= TEXT_MAY_IMPORT, f"text must not import {sorted(imported - TEXT_MAY_IMPORT)}"
