"""Prompt converters: encodings, Unicode tricks and structural rewrites; they compose in order."""

__all__: list[str] = []
