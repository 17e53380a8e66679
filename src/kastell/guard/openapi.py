"""The gateway's OpenAPI 3.1 description (served on ``/openapi.json``)."""

from __future__ import annotations

from typing import Any

__all__ = ["openapi_document"]

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}
_MESSAGE = {
    "type": "object",
    "required": ["role"],
    "properties": {
        "role": {"type": "string", "enum": ["system", "developer", "user", "assistant", "tool"]},
        "content": {"type": ["string", "null"]},
    },
}
_CHAT_REQUEST = {
    "type": "object",
    "required": ["model", "messages"],
    "properties": {
        "model": {"type": "string"},
        "messages": {"type": "array", "minItems": 1, "items": _MESSAGE},
        "stream": {"type": "boolean"},
        "max_tokens": {"type": "integer", "minimum": 1, "maximum": 4096},
        "temperature": {"type": "number", "minimum": 0, "maximum": 2},
    },
}


def _errors(*codes: str) -> dict[str, Any]:
    return {
        code: {
            "description": "OpenAI-style error",
            "content": {"application/json": {"schema": _ERROR}},
        }
        for code in codes
    }


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of the gateway's public routes."""
    json_ok = {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Kastell guard gateway", "version": "1"},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "paths": {
            "/healthz": {"get": {"responses": {"200": json_ok}}},
            "/metrics": {
                "get": {
                    "responses": {
                        "200": {
                            "description": "Prometheus text",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    }
                }
            },
            "/v1/models": {
                "get": {
                    "security": [{"bearer": []}],
                    "responses": {"200": json_ok, **_errors("401", "429", "502", "504")},
                }
            },
            "/v1/chat/completions": {
                "post": {
                    "security": [{"bearer": []}],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _CHAT_REQUEST}},
                    },
                    "responses": {
                        "200": {
                            "description": "A chat completion (JSON) or a stream (SSE)",
                            "content": {
                                "application/json": {"schema": {"type": "object"}},
                                "text/event-stream": {"schema": {"type": "string"}},
                            },
                        },
                        **_errors("400", "401", "413", "429", "502", "503", "504"),
                    },
                }
            },
        },
    }
