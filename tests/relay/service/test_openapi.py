"""The OpenAPI document is valid, lists every route, and the app keeps to it: schemathesis
fuzzes every operation (valid and invalid requests) on the app with the real renderer and
the SQLite outbox, and no request gets a 5xx or an answer the document does not describe."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.applications import Starlette
from starlette.routing import Route

from dingwire.relay.app import create_app
from dingwire.relay.metrics import RelayMetrics
from dingwire.relay.openapi import openapi_document
from dingwire.relay.outbox import MemoryOutbox, Outbox, SqliteOutbox
from dingwire.relay.render import Renderer
from dingwire.relay.settings import RelaySettings

from .conftest import AUTH, StubDispatcher, make_config

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _app(
    tmp_path: Path, relay: str, *, broken: bool = True, outbox: Outbox | None = None
) -> Starlette:
    config = make_config(tmp_path, relay, broken=broken)
    settings = RelaySettings.from_config(config)
    return create_app(
        settings,
        config,
        outbox=outbox if outbox is not None else MemoryOutbox(),
        renderer=Renderer.load(settings, config),
        dispatcher=StubDispatcher(),
        metrics=RelayMetrics(),
    )


def test_the_document_lists_every_route(tmp_path: Path) -> None:
    app = _app(tmp_path, "")
    document = openapi_document()
    routes = {
        (route.path, method.lower())
        for route in app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert documented == routes


def test_the_document_names_the_configured_robots_and_the_token(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    app = _app(tmp_path, f'auth_token = "{AUTH}"')
    with TestClient(app) as client:
        document = client.get("/openapi.json").json()
    robot = document["components"]["parameters"]["Robot"]["schema"]
    assert robot["enum"] == ["broken", "dev", "ops"]
    assert document["security"] == [{"bearer": []}]
    assert "401" in document["paths"]["/dingtalk/{robot}/send"]["post"]["responses"]
    assert AUTH not in str(document)


# Every operation with valid requests; those that take a body with invalid ones too (the
# others have no input that could be invalid: hypothesis would find none to draw).
CASES = [
    pytest.param(path, method.upper(), mode, id=f"{method.upper()} {path} {mode.value}")
    for path, operations in openapi_document()["paths"].items()
    for method, operation in operations.items()
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode == GenerationMode.POSITIVE or "requestBody" in operation
]


@pytest.mark.parametrize(("path", "method", "mode"), CASES)
def test_no_request_gets_a_5xx_or_an_undocumented_answer(
    tmp_path: Path, path: str, method: str, mode: GenerationMode
) -> None:
    outbox = SqliteOutbox(tmp_path / "outbox.sqlite3")
    app = _app(tmp_path, 'max_body = "64KiB"', broken=False, outbox=outbox)
    operation = schemathesis.openapi.from_asgi("/openapi.json", app)[path][method]

    @given(operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def fuzz(case: Any) -> None:
        case.call_and_validate(checks=CHECKS)

    try:
        fuzz()
    finally:
        outbox.close()
