"""Checks of Jinja2 chat templates (GGUF metadata, ``tokenizer_config.json``).

Templates are checked by allowlist (``_template_allowlist``: node types, filters, tests,
globals and attribute names real chat templates use; computed attribute or item names are a
sandbox-escape finding), and by the deny checks below.

Servers render chat templates with Jinja2, often outside a sandbox. The whole template is
checked, whatever its size: it is parsed into a Jinja2 AST (parsing runs no template code)
and every attribute access, item access, filter, name and string constant is inspected; a
regular-expression pass over the raw text catches what the parser cannot see (obfuscated
underscores, templates that do not parse). Text and string constants are also searched for
instructions hidden from the reader: invisible characters and injection phrases.
"""

from __future__ import annotations

import dataclasses
import re

__all__ = ["TemplateIssue", "check_template"]

# Names whose globals or attributes reach Python internals from inside a template.
_GADGET_NAMES = frozenset({
    "cycler", "joiner", "lipsum", "url_for", "get_flashed_messages", "request", "config",
    "self", "__builtins__", "_TemplateReference__context",
})
_DANGEROUS_ATTRS = frozenset({
    "mro", "func_globals", "f_globals", "gi_frame", "gi_code", "cr_frame", "f_back",
    "tb_frame", "im_func", "environ", "popen", "system", "import_module", "eval", "exec",
})
_OBFUSCATED = re.compile(r"\\x5[fF]|\\u005[fF]|\\137|\\N\{LOW LINE\}|%5[fF]")
_DUNDER = re.compile(r"__[A-Za-z0-9_]+__|\b_[A-Za-z]+__[a-z_]+")
_INJECTION = re.compile(
    r"ignore (?:all |any )?(?:the )?(?:previous|prior|above|earlier) (?:instructions|rules)"
    r"|disregard (?:all |any |the )?(?:previous|prior|above|system)"
    r"|(?:do not|don't|never) (?:reveal|tell|mention|disclose|inform)"
    r"|without (?:telling|informing|notifying) the user"
    r"|exfiltrat|send (?:the |all )?(?:conversation|chat|messages|history|data) to"
    r"|https?://|\bcurl\b|\bwget\b|api[_ ]?key|password",
    re.IGNORECASE,
)
# Invisible format characters (zero-width, bidi controls, tag characters, soft hyphen) and
# private-use code points; the zero-width joiner (U+200D) is left out: emoji sequences use it.
_INVISIBLE = re.compile(
    "[\u00ad\u061c\u180e\u200b\u200c\u200e\u200f\u202a-\u202e\u2060-\u2064"
    "\u2066-\u206f\ufeff\ufff9-\ufffb\ue000-\uf8ff\U000e0000-\U000e007f]"
)


@dataclasses.dataclass(frozen=True)
class TemplateIssue:
    """One problem in a template: a rule id and what was seen."""

    rule_id: str
    detail: str


def _invisible(text: str) -> list[str]:
    return sorted({f"U+{ord(ch):04X}" for ch in _INVISIBLE.findall(text)})


def _ast_issues(template: str) -> tuple[list[TemplateIssue], list[str], bool]:
    """Issues from the parsed AST, plus the literal texts (data and string constants)."""
    import jinja2
    from jinja2 import nodes

    issues: list[TemplateIssue] = []
    texts: list[str] = []
    try:
        tree = jinja2.Environment(extensions=["jinja2.ext.loopcontrols", "jinja2.ext.do"]).parse(
            template)
    except (jinja2.TemplateSyntaxError, RecursionError, ValueError) as error:
        message = getattr(error, "message", None) or str(error)
        return [TemplateIssue("KS-TEMPLATE-UNPARSABLE", f"template does not parse: {message}")], \
            [template], False
    escape = "KS-TEMPLATE-SANDBOX-ESCAPE"
    from kastell.scan._template_allowlist import allowlist_issues

    for kind, detail in allowlist_issues(tree):
        rule = escape if kind == "computed" else "KS-TEMPLATE-UNLISTED"
        issues.append(TemplateIssue(rule, detail))
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter, nodes.Name,
                               nodes.Const, nodes.TemplateData, nodes.Import, nodes.Include,
                               nodes.Extends, nodes.FromImport)):
        if isinstance(node, nodes.Getattr):
            if node.attr.startswith("_") or node.attr in _DANGEROUS_ATTRS:
                issues.append(TemplateIssue(escape, f"attribute access .{node.attr}"))
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            key = node.arg.value
            if isinstance(key, str) and (key.startswith("_") or key in _DANGEROUS_ATTRS):
                issues.append(TemplateIssue(escape, f"item access [{key!r}]"))
        elif isinstance(node, nodes.Filter):
            if node.name == "attr":
                arg = node.args[0] if node.args else None
                plain = isinstance(arg, nodes.Const) and isinstance(arg.value, str) and (
                    arg.value.isidentifier() and not arg.value.startswith("_"))
                if not plain:
                    issues.append(TemplateIssue(escape, "attr() filter with a computed or "
                                                "private attribute name"))
            for kwarg in node.kwargs:
                value = kwarg.value
                if isinstance(value, nodes.Const) and str(value.value).startswith("_"):
                    issues.append(TemplateIssue(escape, f"{node.name}({kwarg.key}=...) "
                                                "reaches a private attribute"))
        elif isinstance(node, nodes.Name) and node.name in _GADGET_NAMES:
            issues.append(TemplateIssue(escape, f"global {node.name!r} (a known gadget)"))
        elif isinstance(node, nodes.Const) and isinstance(node.value, str):
            texts.append(node.value)
            if _DUNDER.search(node.value):
                issues.append(TemplateIssue(escape, f"string constant {node.value[:40]!r}"))
        elif isinstance(node, nodes.TemplateData):
            texts.append(node.data)
        elif isinstance(node, nodes.Import | nodes.Include | nodes.Extends | nodes.FromImport):
            issues.append(TemplateIssue(escape, "template loads other templates"))
    return issues, texts, True


_AST_LIMIT = 256 << 10
"""Larger templates are checked by the (stricter, linear-time) text pass only."""


def check_template(template: str) -> list[TemplateIssue]:
    """Every issue in ``template`` (deduplicated, in order of first appearance).

    Templates up to 256 KiB are parsed; larger ones (real chat templates are a few KiB) get
    the text pass over their whole length, which flags any dunder or gadget name anywhere.
    """
    if len(template) <= _AST_LIMIT:
        issues, texts, parsed = _ast_issues(template)
    else:
        issues, texts, parsed = [], [template], False
    if _OBFUSCATED.search(template):
        issues.append(TemplateIssue("KS-TEMPLATE-SANDBOX-ESCAPE",
                                    "escaped underscore characters (obfuscated dunder names)"))
    if not parsed:
        match = _DUNDER.search(template)
        if match:
            issues.append(TemplateIssue("KS-TEMPLATE-SANDBOX-ESCAPE",
                                        f"dunder name {match.group(0)!r} in the template text"))
        for gadget in sorted(_GADGET_NAMES):
            if re.search(rf"\b{re.escape(gadget)}\b", template):
                issues.append(TemplateIssue("KS-TEMPLATE-SANDBOX-ESCAPE", f"gadget {gadget!r}"))
    invisible = _invisible(template)
    if invisible:
        issues.append(TemplateIssue("KS-TEMPLATE-HIDDEN-INSTRUCTION",
                                    f"invisible characters {', '.join(invisible[:8])}"))
    for text in texts:
        match = _INJECTION.search(text)
        if match:
            issues.append(TemplateIssue("KS-TEMPLATE-HIDDEN-INSTRUCTION",
                                        f"instruction-like text {match.group(0)!r}"))
    unique: dict[tuple[str, str], TemplateIssue] = {}
    for issue in issues:
        unique.setdefault((issue.rule_id, issue.detail), issue)
    return list(unique.values())
