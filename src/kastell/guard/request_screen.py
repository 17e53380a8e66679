"""Input screening of a whole checked request: its messages, then every other text it carries.

The messages are screened one by one by the pipeline (``Screener.screen_messages``). The texts
outside the messages (``ChatRequest.extra_texts``: tool and function definitions and their JSON
schemas, ``response_format``'s schema, ``stop``, ``user``, ``metadata``, ``prediction``, unknown
fields under the ``screen`` policy) are screened together as one more input text, so rules see
across them. A redaction is written back to the string it was found in, in a copy of the body;
a redaction needed in a JSON key or in an unknown field (frozen) blocks the request instead.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from kastell.guard.interface import Action, Detection, Direction, ScanContext
from kastell.guard.pipeline import Screener
from kastell.guard.request_body import ChatRequest

__all__ = ["EXTRA_FIELDS", "EXTRA_ROLE", "RequestVerdict", "screen_request"]

EXTRA_FIELDS = -1
"""The message index given to detections in the texts outside the messages."""
EXTRA_ROLE = "user"
"""The role the texts outside the messages are screened as: the client wrote them."""


@dataclasses.dataclass(frozen=True)
class RequestVerdict:
    """The outcome of screening a request."""

    action: Action
    body: dict[str, Any]
    """The body to forward (redacted where the policy says so)."""
    detections: tuple[tuple[int, Detection], ...]
    """(message index, or ``EXTRA_FIELDS``, detection) for every rule that fired."""

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The messages to forward."""
        messages: list[dict[str, Any]] = self.body["messages"]
        return messages

    @property
    def blocking_rule(self) -> str | None:
        """The first rule id behind a block, if blocked."""
        return self.detections[0][1].rule_id if self.action is Action.BLOCK else None


def _place(body: dict[str, Any], path: tuple[str | int, ...], text: str) -> None:
    target: Any = body
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = text


def screen_request(screener: Screener, request: ChatRequest) -> RequestVerdict:
    """Screen every text of ``request`` as input under the screener's policy."""
    messages = screener.screen_messages(request.body["messages"])
    body = {**request.body, "messages": list(messages.messages)}
    found = list(messages.detections)
    action = messages.action
    if request.extra_texts:
        texts = [value for _, value, _ in request.extra_texts]
        context = ScanContext(role=EXTRA_ROLE)
        joined = screener.screen_joined(texts, Direction.INPUT, context)
        detections = list(joined.detections)
        extra_action = joined.action
        changed = [
            (path, new, frozen)
            for (path, old, frozen), new in zip(request.extra_texts, joined.texts, strict=True)
            if new != old
        ]
        if extra_action is Action.REDACT and any(frozen for _, _, frozen in changed):
            reason = Detection(detections[0].rule_id, "redaction needed in a key or unknown field")
            detections.insert(0, reason)
            extra_action = Action.BLOCK
        elif extra_action is Action.REDACT:
            rest = copy.deepcopy({k: v for k, v in body.items() if k != "messages"})
            body = {**rest, "messages": body["messages"]}
            for path, new, _ in changed:
                _place(body, path, new)
        found += [(EXTRA_FIELDS, d) for d in detections]
        action = max(action, extra_action)
    found.sort(key=lambda item: -screener.policy.action_for(item[1].rule_id))
    return RequestVerdict(action, body, tuple(found))
