"""JSON files beside models (``config.json``, ``tokenizer_config.json``): data, no code.

A JSON file is clean unless it carries a chat template (``chat_template`` keys, as in
Hugging Face tokenizer configs), which is checked like a GGUF template.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, ClassVar

from kastell.scan.chat_template import check_template
from kastell.scan.interface import (
    Blob,
    ScanContext,
    ScannerMeta,
    ScanOutcome,
    UnscannableInputError,
)
from kastell.types import Finding

__all__ = ["JsonScanner"]


def _templates(node: Any, depth: int = 0) -> Iterator[str]:
    if depth > 64:
        return
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "chat_template" and isinstance(value, str):
                yield value
            elif key == "chat_template" and isinstance(value, list):
                for item in value:
                    if isinstance(item, dict) and isinstance(item.get("template"), str):
                        yield item["template"]
            else:
                yield from _templates(value, depth + 1)
    elif isinstance(node, list):
        for value in node:
            yield from _templates(value, depth + 1)


class JsonScanner:
    """JSON configuration files (chat templates inside are checked)."""

    meta: ClassVar[ScannerMeta] = ScannerMeta(
        name="json",
        formats=("json",),
        version="1.0.0",
        rules=("KS-TEMPLATE-SANDBOX-ESCAPE", "KS-TEMPLATE-UNLISTED",
               "KS-TEMPLATE-HIDDEN-INSTRUCTION", "KS-TEMPLATE-UNPARSABLE"),
        description="JSON data files; checks embedded chat templates.",
    )

    def scan(self, blob: Blob, fmt: str, ctx: ScanContext) -> ScanOutcome:
        """Scan a JSON file."""
        if blob.size is not None and blob.size > ctx.limits.max_json_bytes:
            raise UnscannableInputError("JSON file over the size limit")
        with blob.opener() as stream:
            raw = stream.read(ctx.limits.max_json_bytes + 1)
        try:
            document = json.loads(raw)
        except (ValueError, RecursionError):
            raise UnscannableInputError("file starts like JSON but is not valid JSON") from None
        findings: list[Finding] = []
        for template in _templates(document):
            for issue in check_template(template):
                findings.append(ctx.finding(issue.rule_id, f"chat_template: {issue.detail}",
                                            blob))
        return ScanOutcome(tuple(findings), (), "json")
