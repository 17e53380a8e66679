"""Strict YAML reading for files a user (or an attacker) writes: duplicate keys are an error.

PyYAML's ``safe_load`` keeps the last of two equal keys silently, so ``scope:`` written twice
would let the second block override the first unseen. ``strict_yaml`` refuses it.
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["DuplicateKeyError", "strict_yaml"]


class DuplicateKeyError(yaml.YAMLError):
    """A mapping names the same key twice."""


class _StrictLoader(yaml.SafeLoader):
    """``SafeLoader`` that rejects duplicate mapping keys (at any depth)."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, f"unhashable key {key!r}", key_node.start_mark
            ) from None
        if duplicate:
            line = key_node.start_mark.line + 1
            raise DuplicateKeyError(f"duplicate key {key!r} (line {line})")
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def strict_yaml(text: str) -> Any:
    """Parse one YAML document; raises ``yaml.YAMLError`` (incl. ``DuplicateKeyError``)."""
    return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
