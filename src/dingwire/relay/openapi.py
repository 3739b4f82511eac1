"""The relay's OpenAPI 3.0 document (``GET /openapi.json``), written by hand.

Written rather than generated so that it says what the relay really answers — every status
of DESIGN.md's "Relay", with its reason and headers — and so that no framework's model layer
sits in the intake's way. The payload schemas describe what the senders send
(Alertmanager's webhook, version 4; Grafana's webhook contact point; a DingTalk message or
its shorthand) without repeating every rule the renderer checks: the renderer's 400 names
the field to fix. ``tests/relay/service`` fuzzes the app against this document.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["openapi_document"]

_VERSION = "1"

_STRING_MAP: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "string"}}

_ALERT: dict[str, Any] = {
    "type": "object",
    "description": "One alert of the group.",
    "properties": {
        "status": {"type": "string", "enum": ["firing", "resolved"]},
        "labels": _STRING_MAP,
        "annotations": _STRING_MAP,
        "startsAt": {"type": "string", "format": "date-time"},
        "endsAt": {
            "type": "string",
            "description": 'Not ended yet: "0001-01-01T00:00:00Z".',
        },
        "generatorURL": {"type": "string", "description": "May be empty."},
        "fingerprint": {"type": "string"},
    },
    "required": ["status", "labels"],
}

_ALERTMANAGER: dict[str, Any] = {
    "type": "object",
    "description": "Alertmanager's webhook payload (version 4).",
    "properties": {
        "version": {"type": "string", "example": "4"},
        "groupKey": {"type": "string"},
        "truncatedAlerts": {"type": "integer", "minimum": 0},
        "status": {"type": "string", "enum": ["firing", "resolved"]},
        "receiver": {"type": "string"},
        "groupLabels": _STRING_MAP,
        "commonLabels": _STRING_MAP,
        "commonAnnotations": _STRING_MAP,
        "externalURL": {"type": "string"},
        "alerts": {"type": "array", "items": {"$ref": "#/components/schemas/Alert"}},
    },
    "required": ["status", "alerts"],
}

_GRAFANA_ALERT: dict[str, Any] = {
    "allOf": [
        {"$ref": "#/components/schemas/Alert"},
        {
            "type": "object",
            "properties": {
                "silenceURL": {"type": "string"},
                "dashboardURL": {"type": "string"},
                "panelURL": {"type": "string"},
                "values": {
                    "type": "object",
                    "nullable": True,
                    "additionalProperties": {"type": "number"},
                },
                "valueString": {"type": "string"},
            },
        },
    ]
}

_GRAFANA: dict[str, Any] = {
    "allOf": [
        {"$ref": "#/components/schemas/AlertmanagerPayload"},
        {
            "type": "object",
            "description": "Grafana's webhook contact point payload: Alertmanager's, and more.",
            "properties": {
                "orgId": {"type": "integer"},
                "title": {"type": "string"},
                "state": {"type": "string"},
                "message": {"type": "string"},
                "alerts": {"type": "array", "items": {"$ref": "#/components/schemas/GrafanaAlert"}},
            },
        },
    ]
}

_AT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "atMobiles": {"type": "array", "items": {"type": "string"}},
        "atUserIds": {"type": "array", "items": {"type": "string"}},
        "isAtAll": {"type": "boolean"},
    },
}

_MESSAGE: dict[str, Any] = {
    "description": (
        "A complete DingTalk robot message (msgtype text, markdown, link, actionCard or "
        "feedCard, checked as DingTalk checks it), or the shorthand "
        '{"text": "..."} or {"title": "...", "markdown": "..."}.'
    ),
    "anyOf": [
        {
            "type": "object",
            "title": "DingTalk message",
            "properties": {
                "msgtype": {
                    "type": "string",
                    "enum": ["text", "markdown", "link", "actionCard", "feedCard"],
                },
                "text": {"type": "object", "properties": {"content": {"type": "string"}}},
                "markdown": {
                    "type": "object",
                    "properties": {"title": {"type": "string"}, "text": {"type": "string"}},
                },
                "at": {"$ref": "#/components/schemas/At"},
            },
            "required": ["msgtype"],
        },
        {
            "type": "object",
            "title": "Text shorthand",
            "properties": {"text": {"type": "string"}},
            "required": ["text"],
        },
        {
            "type": "object",
            "title": "Markdown shorthand",
            "properties": {"title": {"type": "string"}, "markdown": {"type": "string"}},
            "required": ["title", "markdown"],
        },
    ],
}

_ERROR: dict[str, Any] = {
    "type": "object",
    "properties": {"error": {"type": "string", "description": "What is wrong, and what to do."}},
    "required": ["error"],
}

_ACCEPTED: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "description": "The message's id: GET /v1/messages/{id}."},
        "duplicate": {
            "type": "boolean",
            "description": "The same notification was stored within dedupe_window: its id.",
        },
    },
    "required": ["id"],
}

_RECORD: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "robot": {"type": "string"},
        "state": {"type": "string", "enum": ["queued", "sending", "sent", "retrying", "dead"]},
        "source": {"type": "string", "enum": ["alertmanager", "grafana", "messages"]},
        "kind": {"type": "string", "enum": ["text", "markdown", "card"]},
        "priority": {"type": "integer"},
        "attempts": {"type": "integer"},
        "reply": {
            "type": "object",
            "nullable": True,
            "description": "DingTalk's last answer ({errcode, errmsg}), or {error}.",
        },
        "error": {"type": "string", "nullable": True},
        "digest": {
            "type": "string",
            "nullable": True,
            "description": "The id of the message that carried it.",
        },
        "digest_size": {"type": "integer", "description": "How many records that message merged."},
        "received": {"type": "number", "nullable": True, "description": "Epoch seconds."},
        "updated": {"type": "number", "nullable": True},
        "not_before": {"type": "number", "nullable": True},
        "failing_since": {"type": "number", "nullable": True},
        "sent_at": {"type": "number", "nullable": True},
        "history": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["id", "robot", "state", "attempts"],
}

_JSON_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before sending it again.",
        "schema": {"type": "integer", "minimum": 1},
    }
}


def _error(description: str, *, retry: bool = False) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description, "content": _JSON_ERROR}
    if retry:
        answer["headers"] = _RETRY_AFTER
    return answer


_UNAUTHORISED = {
    "description": "The request lacks the relay's auth_token.",
    "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
    "content": _JSON_ERROR,
}


def _intake(summary: str, schema: str, description: str, auth: bool) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "202": {
            "description": "Stored durably; it will be delivered within the robot's budget.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}}},
        },
        "400": _error("Not JSON, or not a payload this endpoint understands: the reason says why."),
        "404": _error("No robot of this name in the relay's config."),
        "413": _error("The body is over [relay] max_body."),
        "503": _error(
            "Not stored: the outbox cannot store right now, the relay is shutting down, or the "
            "robot's config is broken. Send it again after Retry-After.",
            retry=True,
        ),
    }
    if auth:
        responses["401"] = _UNAUTHORISED
    return {
        "summary": summary,
        "description": description,
        "parameters": [{"$ref": "#/components/parameters/Robot"}],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
        },
        "responses": responses,
    }


def openapi_document(*, robots: Sequence[str] = (), auth: bool = False) -> dict[str, Any]:
    """The document for a relay serving ``robots`` (listed as the robot parameter's values),
    with bearer authentication when ``auth`` (``[relay] auth_token`` is set)."""
    alertmanager = (
        "An Alertmanager webhook payload. Point a webhook_configs url here; every notification "
        "becomes one message (or a line of a digest when the robot is busy)."
    )
    robot: dict[str, Any] = {"type": "string", "minLength": 1}
    if robots:
        robot["enum"] = list(robots)
    paths: dict[str, Any] = {
        "/dingtalk/{robot}/send": {
            "post": _intake(
                "Alertmanager webhook (prometheus-webhook-dingtalk's path)",
                "AlertmanagerPayload",
                alertmanager,
                auth,
            )
        },
        "/v1/robots/{robot}/alertmanager": {
            "post": _intake("Alertmanager webhook", "AlertmanagerPayload", alertmanager, auth)
        },
        "/v1/robots/{robot}/grafana": {
            "post": _intake(
                "Grafana webhook contact point",
                "GrafanaPayload",
                "A Grafana webhook contact point payload; the message links the dashboard, "
                "panel and silence pages.",
                auth,
            )
        },
        "/v1/robots/{robot}/messages": {
            "post": _intake(
                "A DingTalk message",
                "Message",
                "A complete DingTalk message, or the text / markdown shorthand, delivered "
                "durably within the robot's budget.",
                auth,
            )
        },
        "/v1/messages/{id}": {
            "get": {
                "summary": "Where a message is: queued, sending, sent, retrying or dead",
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": {
                        "description": "Its delivery record, with DingTalk's reply.",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Record"}}
                        },
                    },
                    "404": _error("No message with this id."),
                    "503": _error("The outbox cannot be read right now.", retry=True),
                    **({"401": _UNAUTHORISED} if auth else {}),
                },
            }
        },
        "/healthz": {
            "get": {
                "summary": "The process answers",
                "security": [],
                "responses": {"200": {"description": "Alive."}},
            }
        },
        "/readyz": {
            "get": {
                "summary": "Storage writable and dispatcher alive",
                "security": [],
                "responses": {
                    "200": {"description": "Ready to take work."},
                    "503": {
                        "description": "Not ready: the problems are listed.",
                        "headers": _RETRY_AFTER,
                    },
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "security": [],
                "responses": {
                    "200": {
                        "description": "The text exposition format.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/-/reload": {
            "post": {
                "summary": "Reload the config file and templates",
                "description": "As SIGHUP does; a broken config or template is refused with "
                "its file, line and reason, and the previous one stays in use.",
                "responses": {
                    "200": {"description": "Reloaded."},
                    "400": _error("The new config or a template is broken; nothing changed."),
                    "404": _error("Started without a config file to reload."),
                    **({"401": _UNAUTHORISED} if auth else {}),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "security": [],
                "responses": {"200": {"description": "OpenAPI 3.0."}},
            }
        },
    }
    document: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {
            "title": "dingwire relay",
            "version": _VERSION,
            "description": (
                "Alertmanager and Grafana alerts (and plain messages) in; DingTalk robot "
                "messages out, durably queued and sent within every robot's budget. 202 only "
                "once stored; 503 with Retry-After when it cannot store (retry then); never a "
                "4xx for a temporary failure."
            ),
        },
        "paths": paths,
        "components": {
            "parameters": {
                "Robot": {
                    "name": "robot",
                    "in": "path",
                    "required": True,
                    "description": "A robot of the relay's config ([robots.NAME]).",
                    "schema": robot,
                }
            },
            "schemas": {
                "Alert": _ALERT,
                "AlertmanagerPayload": _ALERTMANAGER,
                "GrafanaAlert": _GRAFANA_ALERT,
                "GrafanaPayload": _GRAFANA,
                "At": _AT,
                "Message": _MESSAGE,
                "Accepted": _ACCEPTED,
                "Error": _ERROR,
                "Record": _RECORD,
            },
        },
    }
    if auth:
        document["components"]["securitySchemes"] = {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "[relay] auth_token (HTTP Basic with it as the password works too).",
            }
        }
        document["security"] = [{"bearer": []}]
    return document
