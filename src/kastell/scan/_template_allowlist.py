"""Chat templates by allowlist: what real chat templates use, and nothing else (private).

A chat template is parsed with Jinja2's own parser; every node must be of an allowed type,
every filter, test, global and attribute name must be on the lists below, and no attribute
or item key may be computed from strings (``g['ev' ~ 'al']``, ``map(attribute=x)``,
``x|attr(y)``). Where the lists come from is documented in docs/scan.md ("Chat templates").
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__: list[str] = []

NODE_TYPES = frozenset({
    "Template", "Output", "TemplateData", "Const", "Name", "Getattr", "Getitem", "Slice",
    "Filter", "Test", "Call", "Keyword", "If", "For", "Assign", "AssignBlock", "NSRef",
    "Compare", "Operand", "And", "Or", "Not", "Neg", "Pos", "Add", "Sub", "Mul", "Div",
    "FloorDiv", "Mod", "Concat", "CondExpr", "List", "Tuple", "Dict", "Pair", "Break",
    "Continue", "Macro",
})
"""Jinja2 node types of real chat templates (no imports, includes, blocks, extends, calls
of blocks, filter blocks, ``with`` or autoescape blocks)."""

FILTERS = frozenset({
    "trim", "tojson", "length", "count", "capitalize", "upper", "lower", "title", "string",
    "join", "list", "first", "last", "items", "selectattr", "rejectattr", "select", "reject",
    "map", "default", "d", "replace", "indent", "safe", "round", "int", "float", "abs",
    "unique", "sort", "reverse", "wordcount", "truncate", "center", "striptags", "escape", "e",
})
"""Filters (``attr``, ``format``, ``xmlattr``, ``pprint``, ``groupby``... are not listed)."""

TESTS = frozenset({
    "defined", "undefined", "none", "string", "number", "integer", "float", "boolean",
    "mapping", "iterable", "sequence", "true", "false", "eq", "equalto", "ne", "in", "odd",
    "even", "divisibleby", "lower", "upper", "gt", "lt", "ge", "le", "sameas",
})
"""Tests (``callable``, ``filter``, ``test`` and ``escaped`` are not listed)."""

GLOBALS = frozenset({
    "messages", "add_generation_prompt", "bos_token", "eos_token", "pad_token", "unk_token",
    "tools", "custom_tools", "tools_in_user_message", "documents", "date_string",
    "enable_thinking", "reasoning_effort", "builtin_tools", "system_message", "strftime_now",
    "raise_exception", "namespace", "range", "loop", "true", "false", "none", "True", "False",
    "None",
})
"""Names a template may read without defining them: the renderer's context (messages, tokens,
tools, flags) and the helpers servers pass (``raise_exception``, ``strftime_now``) plus Jinja2's
``namespace`` and ``range``. ``cycler``, ``joiner``, ``lipsum``, ``dict``, ``self`` are not."""

ATTRIBUTES = frozenset({
    # message and tool-call fields
    "role", "content", "name", "tool_calls", "tool_call_id", "function", "arguments", "type",
    "text", "id", "image", "image_url", "video", "audio", "url", "reasoning_content",
    "thinking", "parameters", "description", "properties", "required", "title", "value",
    "responses", "response", "output", "documents", "doc", "source", "metadata",
    # loop variables
    "index", "index0", "revindex", "revindex0", "first", "last", "length", "previtem",
    "nextitem", "depth", "depth0",
    # string, list and mapping methods real templates call
    "strip", "lstrip", "rstrip", "split", "rsplit", "startswith", "endswith", "upper",
    "lower", "replace", "items", "keys", "values", "get", "append", "join", "format_map",
    "count", "find",
})
"""Attribute names and constant item keys (plus the ``namespace`` fields a template sets)."""

CALLS = frozenset({"namespace", "raise_exception", "strftime_now", "range"})
"""Globals that may be called (macros the template defines may be called too)."""


def _walk(node: Any) -> Iterator[Any]:
    yield node
    for child in node.iter_child_nodes():
        yield from _walk(child)


class _Defined:
    """Names the template itself binds (set, for, macro arguments, namespace fields)."""

    def __init__(self, tree: Any) -> None:
        from jinja2 import nodes

        self.names: set[str] = set()
        self.fields: set[str] = set()
        self.macros: set[str] = set()
        self.string_valued: set[str] = set()
        for node in _walk(tree):
            if isinstance(node, nodes.Name) and node.ctx in ("store", "param"):
                self.names.add(node.name)
            elif isinstance(node, nodes.NSRef):
                self.fields.add(node.attr)
            elif isinstance(node, nodes.Macro):
                self.macros.add(node.name)
                self.names.add(node.name)
            elif isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name) and (
                    node.node.name == "namespace"):
                self.fields.update(kw.key for kw in node.kwargs)
            if isinstance(node, nodes.Assign | nodes.For):
                targets = [n.name for n in _walk(node.target) if isinstance(n, nodes.Name)]
                if not _int_bound(node):
                    self.string_valued.update(targets)
            elif isinstance(node, nodes.AssignBlock | nodes.Macro):
                target = getattr(node, "target", None)
                self.string_valued.update(
                    n.name for n in (_walk(target) if target is not None else ())
                    if isinstance(n, nodes.Name))
                if isinstance(node, nodes.Macro):
                    self.string_valued.update(arg.name for arg in node.args)


def _int_bound(node: Any) -> bool:
    """Whether a ``set`` or ``for`` binds integers (int arithmetic; ``for i in range(...)``)."""
    from jinja2 import nodes

    if isinstance(node, nodes.For):
        iterable = node.iter
        return (isinstance(iterable, nodes.Call) and isinstance(iterable.node, nodes.Name)
                and iterable.node.name == "range")
    return _int_valued(node.node, set())


def _int_valued(expr: Any, string_names: set[str]) -> bool:
    """Whether ``expr`` is integer arithmetic (loop indexes, lengths, int constants)."""
    from jinja2 import nodes

    if isinstance(expr, nodes.Const):
        return isinstance(expr.value, int) and not isinstance(expr.value, bool)
    if isinstance(expr, nodes.Name):
        return expr.name not in string_names
    if isinstance(expr, nodes.Getattr):
        return (isinstance(expr.node, nodes.Name) and expr.node.name == "loop"
                and expr.attr in ("index", "index0", "revindex", "revindex0", "length"))
    if isinstance(expr, nodes.Filter):
        return expr.name in ("length", "count", "int") and not expr.args and not expr.kwargs
    if isinstance(expr, nodes.Add | nodes.Sub | nodes.Mul | nodes.FloorDiv | nodes.Mod):
        return _int_valued(expr.left, string_names) and _int_valued(expr.right, string_names)
    if isinstance(expr, nodes.Neg):
        return _int_valued(expr.node, string_names)
    return False


def allowlist_issues(tree: Any) -> Iterator[tuple[str, str]]:
    """Yield (kind, detail) for every construct outside the allowlist.

    ``kind`` is ``computed`` (a computed attribute or key: a sandbox-escape technique) or
    ``unlisted``.
    """
    from jinja2 import nodes

    defined = _Defined(tree)
    fields = ATTRIBUTES | defined.fields
    for node in _walk(tree):
        kind = type(node).__name__
        if kind not in NODE_TYPES:
            yield "unlisted", f"template construct {kind}"
        elif isinstance(node, nodes.Name) and node.ctx == "load" and (
                node.name not in GLOBALS and node.name not in defined.names):
            yield "unlisted", f"global {node.name!r}"
        elif isinstance(node, nodes.Getattr) and node.attr not in fields:
            yield "unlisted", f"attribute .{node.attr}"
        elif isinstance(node, nodes.Getitem):
            yield from _item_issues(node, fields, defined)
        elif isinstance(node, nodes.Filter):
            yield from _filter_issues(node, fields)
        elif isinstance(node, nodes.Test) and node.name not in TESTS:
            yield "unlisted", f"test {node.name!r}"
        elif isinstance(node, nodes.Call):
            callee = node.node
            if isinstance(callee, nodes.Name) and callee.name not in CALLS | defined.macros:
                yield "unlisted", f"call of {callee.name!r}"
            elif not isinstance(callee, nodes.Name | nodes.Getattr):
                yield "computed", "call of a computed value"
            if node.dyn_args is not None or node.dyn_kwargs is not None:
                yield "computed", "call with *args or **kwargs"


def _item_issues(node: Any, fields: frozenset[str], defined: _Defined,
                 ) -> Iterator[tuple[str, str]]:
    from jinja2 import nodes

    key = node.arg
    if isinstance(key, nodes.Slice):
        return
    if isinstance(key, nodes.Const):
        value = key.value
        plain = isinstance(value, int) and not isinstance(value, bool)
        if not plain and not (isinstance(value, str) and value in fields):
            yield "unlisted", f"item key {value!r}"
    elif not _int_valued(key, defined.string_valued):
        yield "computed", "item access with a computed key"


def _filter_issues(node: Any, fields: frozenset[str]) -> Iterator[tuple[str, str]]:
    from jinja2 import nodes

    if node.name not in FILTERS:
        yield ("computed" if node.name == "attr" else "unlisted"), f"filter {node.name!r}"
        return
    if node.dyn_args is not None or node.dyn_kwargs is not None:
        yield "computed", f"filter {node.name!r} with *args or **kwargs"
    named = [kw.value for kw in node.kwargs if kw.key == "attribute"]
    if node.name in ("selectattr", "rejectattr") and node.args:
        named.append(node.args[0])
    if node.name == "map" and node.args and not node.kwargs:
        # map('filter_name', ...) applies a filter by a name given as data
        first = node.args[0]
        if not (isinstance(first, nodes.Const) and first.value in FILTERS):
            yield "computed", "map() applies a filter named by a computed value"
    for value in named:
        if not isinstance(value, nodes.Const):
            yield "computed", f"{node.name}() with a computed attribute name"
        elif not isinstance(value.value, str) or value.value.split(".")[0] not in fields:
            yield "unlisted", f"{node.name}() reaches attribute {value.value!r}"
