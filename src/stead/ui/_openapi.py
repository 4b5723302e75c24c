"""The OpenAPI description of the HTTP API, served at ``/api/openapi.json``."""

from __future__ import annotations

from typing import Any

__all__ = ["openapi_spec"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_RUN_ID = {"name": "run_id", "in": "path", "required": True, "schema": {"type": "string"}}
_ERRORS = {
    "400": _json(_ref("Error"), "Bad input: the message says what was wrong"),
    "401": _json(_ref("Error"), "The server has a token and the request did not carry it"),
    "404": _json(_ref("Error"), "No such run"),
    "409": _json(_ref("Error"), "The run has finished and cannot take this"),
}


def _post(summary: str, body: dict[str, Any] | None, response: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "parameters": [_RUN_ID],
        "responses": {"200": response, **_ERRORS},
    }
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return {"post": op}


def openapi_spec() -> dict[str, Any]:
    from .. import __version__

    ok = _json(_ref("Done"))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "stead",
            "version": __version__,
            "description": (
                "Durable runs of AI agents: list, inspect, start and control them, and stream their events. "
                "Requests that change something need the server's token when it has one "
                "(header 'Authorization: Bearer TOKEN'). Runs started here are executed by a worker "
                "(`stead worker FILE.py`)."
            ),
        },
        "paths": {
            "/api/runs": {
                "get": {
                    "summary": "List runs, newest first",
                    "parameters": [
                        {
                            "name": "status",
                            "in": "query",
                            "description": "Comma-separated: pending, running, waiting, completed, failed, cancelled",
                            "schema": {"type": "string"},
                        },
                        {"name": "workflow", "in": "query", "schema": {"type": "string"}},
                        {
                            "name": "q",
                            "in": "query",
                            "description": "Search run ids, arguments, waits",
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "default": 50, "maximum": 500},
                        },
                        {
                            "name": "cursor",
                            "in": "query",
                            "description": "next_cursor of the previous page",
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "usage",
                            "in": "query",
                            "description": "Include tokens and cost",
                            "schema": {"type": "boolean", "default": True},
                        },
                    ],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "runs": {"type": "array", "items": _ref("Run")},
                                    "next_cursor": {"type": ["string", "null"]},
                                },
                            }
                        ),
                        **_ERRORS,
                    },
                },
                "post": {
                    "summary": "Start a run of a workflow loaded from a file or module",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["source"],
                                    "properties": {
                                        "source": {
                                            "type": "string",
                                            "description": "FILE.py:WORKFLOW or package.module:WORKFLOW",
                                        },
                                        "workflow": {
                                            "type": "string",
                                            "description": "The workflow, when source names only the file",
                                        },
                                        "args": {"type": "array"},
                                        "kwargs": {"type": "object"},
                                        "run_id": {"type": "string"},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": _json(_ref("Run"), "Started (or found: same run id, same arguments)"),
                        **_ERRORS,
                    },
                },
            },
            "/api/runs/{run_id}": {
                "get": {
                    "summary": "A run with its usage, pending approvals and CLI commands",
                    "parameters": [
                        _RUN_ID,
                        {
                            "name": "include",
                            "in": "query",
                            "description": "steps,conversation",
                            "schema": {"type": "string"},
                        },
                    ],
                    "responses": {"200": _json(_ref("Run")), **_ERRORS},
                }
            },
            "/api/runs/{run_id}/steps": {
                "get": {
                    "summary": "The run's journal, with its lanes (agent runs and task branches)",
                    "parameters": [_RUN_ID],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "steps": {"type": "array", "items": _ref("Step")},
                                    "lanes": {"type": "array", "items": {"type": "object"}},
                                },
                            }
                        ),
                        **_ERRORS,
                    },
                }
            },
            "/api/runs/{run_id}/steps/{position}": {
                "get": {
                    "summary": "One step with what it was asked (the model request, the tool's input; secrets "
                    "redacted) and what it recorded",
                    "parameters": [
                        _RUN_ID,
                        {"name": "position", "in": "path", "required": True, "schema": {"type": "string"}},
                    ],
                    "responses": {
                        "200": _json(
                            {
                                "allOf": [
                                    _ref("Step"),
                                    {
                                        "type": "object",
                                        "properties": {"request": {}, "cli": {"type": "object"}},
                                    },
                                ]
                            }
                        ),
                        **_ERRORS,
                    },
                }
            },
            "/api/runs/{run_id}/conversation": {
                "get": {
                    "summary": "Input, messages, tool calls and results, handoffs and approvals, from the journal",
                    "parameters": [_RUN_ID],
                    "responses": {
                        "200": _json({"type": "object", "properties": {"items": {"type": "array"}}}),
                        **_ERRORS,
                    },
                }
            },
            "/api/runs/{run_id}/events": {
                "get": {
                    "summary": "Server-Sent Events of the run (tokens, attempts), resuming after Last-Event-ID",
                    "parameters": [
                        _RUN_ID,
                        {"name": "Last-Event-ID", "in": "header", "schema": {"type": "integer"}},
                        {"name": "after", "in": "query", "schema": {"type": "integer"}},
                    ],
                    "responses": {
                        "200": {
                            "description": "Each message is an event (id, position, attempt, kind, data); an "
                            "'end' event closes the stream when the run finished. Drop the text of an attempt "
                            "when its 'attempt_failed' event arrives.",
                            "content": {"text/event-stream": {"schema": {"type": "string"}}},
                        },
                        **_ERRORS,
                    },
                }
            },
            "/api/runs/{run_id}/messages": _post(
                "Send a message the run waits for (stead send)",
                {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": {"type": "string"}, "payload": {}},
                },
                ok,
            ),
            "/api/runs/{run_id}/approve": _post(
                "Approve a tool call the run waits on (stead approve)",
                {
                    "type": "object",
                    "required": ["call_id"],
                    "properties": {"call_id": {"type": "string"}, "always": {"type": "boolean"}},
                },
                ok,
            ),
            "/api/runs/{run_id}/reject": _post(
                "Reject a tool call the run waits on (stead reject)",
                {
                    "type": "object",
                    "required": ["call_id"],
                    "properties": {
                        "call_id": {"type": "string"},
                        "message": {"type": "string"},
                        "always": {"type": "boolean"},
                    },
                },
                ok,
            ),
            "/api/runs/{run_id}/cancel": _post("Cancel the run (stead cancel)", None, ok),
            "/api/runs/{run_id}/resume": _post(
                "Make a failed run runnable again (stead resume)", None, _json(_ref("Run"))
            ),
            "/api/runs/{run_id}/fork": {
                "post": {
                    "summary": "Start a new run that takes over the results recorded before step 'at' and runs "
                    "the rest with the current code (stead fork RUN --at STEP); a worker executes it",
                    "parameters": [_RUN_ID],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["at"],
                                    "properties": {
                                        "at": {
                                            "type": ["string", "integer"],
                                            "description": "The step's position (e.g. '0:2') or its number",
                                        },
                                        "set_result": {
                                            "description": "Use this (JSON, not null) as the step's result, or "
                                            "the message it received, instead of running it (--set-result)"
                                        },
                                        "run_id": {"type": "string", "description": "The new run's id"},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {"201": _json(_ref("Run"), "The new run, pending"), **_ERRORS},
                }
            },
            "/api/approvals": {
                "get": {
                    "summary": "Tool calls waiting for a person, across runs",
                    "responses": {
                        "200": _json({"type": "object", "properties": {"approvals": {"type": "array"}}})
                    },
                }
            },
            "/api/info": {
                "get": {
                    "summary": "The server and its engine",
                    "responses": {"200": _json({"type": "object"})},
                }
            },
        },
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {
                            "type": "object",
                            "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
                        }
                    },
                },
                "Done": {
                    "type": "object",
                    "properties": {"ok": {"type": "boolean"}, "cli": {"type": "string"}},
                },
                "Run": {
                    "type": "object",
                    "properties": {
                        "run_id": {"type": "string"},
                        "workflow": {"type": "string"},
                        "status": {
                            "type": "string",
                            "enum": ["pending", "running", "completed", "failed", "cancelled"],
                        },
                        "display_status": {
                            "type": "string",
                            "description": "status, or 'waiting' for a running run that waits",
                        },
                        "created_at": {"type": "string", "format": "date-time"},
                        "updated_at": {"type": "string", "format": "date-time"},
                        "finished_at": {"type": ["string", "null"], "format": "date-time"},
                        "duration": {"type": ["number", "null"]},
                        "args": {},
                        "steps": {"type": "integer"},
                        "waiting_for": {"type": "array", "items": {"type": "string"}},
                        "state": {"type": "object"},
                        "result": {},
                        "error": {"type": ["object", "null"]},
                        "usage": {"type": "object"},
                        "budget": {
                            "type": ["object", "null"],
                            "description": "The run's stead.budget: 'tokens' and/or 'cost_usd', each with limit, "
                            "used and left",
                        },
                    },
                },
                "Step": {
                    "type": "object",
                    "properties": {
                        "position": {"type": "string"},
                        "lane": {"type": "string"},
                        "kind": {"type": "string"},
                        "name": {"type": "string"},
                        "label": {"type": "string"},
                        "status": {"type": "string"},
                        "attempts": {"type": "integer"},
                        "started_at": {"type": "string", "format": "date-time"},
                        "finished_at": {"type": ["string", "null"], "format": "date-time"},
                        "result": {},
                        "error": {"type": ["object", "null"]},
                        "attempt_errors": {"type": "array", "items": {"type": "object"}},
                    },
                },
            }
        },
    }
