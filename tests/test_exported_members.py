"""Every public module's ``__all__`` lists exactly its public names."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import kastell


def _public_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(kastell.__path__, prefix="kastell."):
        parts = info.name.split(".")
        if any(part.startswith("_") for part in parts):
            continue
        names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("module_name", _public_modules())
def test_all_matches_public_names(module_name: str) -> None:
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:  # optional extras (e.g. the guard) may be absent
        pytest.skip(f"optional dependency missing: {error}")
    declared = getattr(module, "__all__", None)
    assert declared is not None, f"{module_name} has no __all__"
    defined_here = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (inspect.getmodule(value) is module or not (inspect.isclass(value)
             or inspect.isfunction(value) or inspect.ismodule(value)))
        and not inspect.ismodule(value)
        and name not in {"annotations", "TYPE_CHECKING"}
    }
    missing = {name for name in declared if not hasattr(module, name)}
    assert not missing, f"{module_name}.__all__ names undefined {missing}"
    undeclared = {
        name for name in defined_here
        if (inspect.isclass(getattr(module, name)) or inspect.isfunction(getattr(module, name)))
    } - set(declared)
    assert not undeclared, f"{module_name} defines public {undeclared} not in __all__"
