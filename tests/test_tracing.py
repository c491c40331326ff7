"""Tracing (DESIGN §3 "Tracing"): spans exported over OTLP/HTTP to a real receiver of our own,
decoded with OpenTelemetry's protobuf messages, as a collector would see them."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import pytest_asyncio
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.logs import JSONFormatter
from gateway.models import ConnectedApp
from gateway.settings import Settings
from gateway.worker import run_forever
from tests.helpers import token_for
from tests.test_events import app_event, headers_for

ADMIN = "admin@demo.example"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
QUERY = "query TracedApps { viewer { portal { connectedApps(first: 5) { nodes { id name } } } } }"


class Receiver:
    """An OTLP/HTTP trace receiver: every span posted to /v1/traces, decoded."""

    def __init__(self) -> None:
        self.spans: list[Any] = []
        self.paths: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                receiver.paths.append(self.path)
                for resource_spans in request.resource_spans:
                    service = {
                        a.key: a.value.string_value for a in resource_spans.resource.attributes
                    }.get("service.name")
                    for scope_spans in resource_spans.scope_spans:
                        receiver.spans.extend((service, s) for s in scope_spans.spans)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def of_trace(self, trace_id: str) -> list[Any]:
        return [s for _service, s in self.spans if s.trace_id.hex() == trace_id]


def attributes(span: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for a in span.attributes:
        kind = a.value.WhichOneof("value")
        out[a.key] = getattr(a.value, kind) if kind else None
    return out


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest_asyncio.fixture
async def traced(
    app: Starlette, settings: Settings, receiver: Receiver
) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    """An app with tracing on (it shares the session's open database)."""
    other = create_app(settings.with_(otlp_endpoint=receiver.url, otel_service_name="gw-test"))
    transport = httpx.ASGITransport(app=other)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield other, client
    other.state.policy.tracing.shutdown()


def flush(app: Starlette) -> None:
    assert app.state.policy.tracing.provider.force_flush(10_000)


async def test_an_operation_is_one_span_with_its_statements_as_children(
    demo: object,
    settings: Settings,
    traced: tuple[Starlette, httpx.AsyncClient],
    receiver: Receiver,
) -> None:
    app, client = traced
    token = await token_for(settings, ADMIN)
    # when a query is sent with a W3C traceparent
    response = await client.post(
        "/graphql",
        json={"query": QUERY},
        headers={"Authorization": f"Bearer {token}", "traceparent": TRACEPARENT},
    )
    assert response.status_code == 200 and "errors" not in response.json()
    flush(app)
    # then the collector got the caller's trace: one operation span under the caller's span
    spans = receiver.of_trace(TRACE_ID)
    assert receiver.paths and set(receiver.paths) == {"/v1/traces"}
    operations = [s for s in spans if s.name == "query TracedApps"]
    assert len(operations) == 1
    operation = operations[0]
    assert operation.parent_span_id.hex() == PARENT_ID
    assert attributes(operation) == {
        "graphql.operation.type": "query",
        "graphql.operation.name": "TracedApps",
        "graphql.document.hash": hashlib.sha256(QUERY.encode()).hexdigest(),
        "graphql.outcome": "ok",
    }
    assert {service for service, s in receiver.spans if s in spans} == {"gw-test"}
    # and every other span of the trace is one of its SQL statements: none per field
    statements = [s for s in spans if s is not operation]
    assert statements
    for statement in statements:
        attrs = attributes(statement)
        assert statement.parent_span_id == operation.span_id
        assert attrs["db.system"] == (
            "postgresql" if "postgres" in settings.database_url else "sqlite"
        )
        assert attrs["db.statement"].lstrip().upper().startswith(statement.name)
    assert {s.name for s in statements} == {"SELECT"}


async def test_a_refused_request_is_a_failed_span_and_its_logs_carry_the_trace_id(
    traced: tuple[Starlette, httpx.AsyncClient], receiver: Receiver
) -> None:
    app, client = traced
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JSONFormatter())
    logger = logging.getLogger("gateway.policy")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        # when a request with a forged token is sent, in the caller's trace
        response = await client.post(
            "/graphql",
            json={"query": QUERY},
            headers={"Authorization": "Bearer forged", "traceparent": TRACEPARENT},
        )
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert response.status_code == 401
    flush(app)
    # then its span is in the trace, failed, and named before any operation was known
    (span,) = receiver.of_trace(TRACE_ID)
    assert span.name == "graphql"
    assert span.status.code == 2  # STATUS_CODE_ERROR
    assert attributes(span)["graphql.outcome"] == "refused"
    # and the log line about it names the trace
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["trace_id"] for line in lines if "authentication failed" in line["message"]] == [
        TRACE_ID
    ]


async def test_event_ingestion_and_digest_passes_have_spans(
    demo: object,
    settings: Settings,
    traced: tuple[Starlette, httpx.AsyncClient],
    receiver: Receiver,
) -> None:
    app, client = traced
    installed = await ConnectedApp.filter(uninstalled_at=None).order_by("id").first()
    assert installed is not None
    # when a signed event arrives (with a traceparent: the platform's trace continues)
    event = app_event("app.reconnected", installed, datetime(2020, 1, 1, tzinfo=UTC))
    body = json.dumps(event).encode()
    response = await client.post(
        "/events", content=body, headers={**headers_for(body), "traceparent": TRACEPARENT}
    )
    assert response.status_code in (200, 202), response.text
    # and a digest worker pass runs with the app's tracing
    stop = asyncio.Event()
    tracing = app.state.policy.tracing
    worker = asyncio.create_task(
        run_forever(settings, app.state.publisher, stop, interval=3600, tracing=tracing)
    )
    await asyncio.sleep(0)
    stop.set()
    await asyncio.wait_for(worker, 60)
    flush(app)
    # then the ingestion is a span in the platform's trace, with its statements under it
    spans = receiver.of_trace(TRACE_ID)
    (ingestion,) = [s for s in spans if s.name == "event ingestion"]
    assert attributes(ingestion)["event.type"] == "app.reconnected"
    assert any(s.parent_span_id == ingestion.span_id for s in spans)
    # and the pass is a span of its own, its statements under it
    passes = [s for _service, s in receiver.spans if s.name == "digest pass"]
    assert len(passes) == 1
    pass_statements = [s for _service, s in receiver.spans if s.parent_span_id == passes[0].span_id]
    assert pass_statements and all(attributes(s)["db.system"] for s in pass_statements)


BLOCK_OPENTELEMETRY = """
import importlib.abc, sys

class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
"""


def test_without_the_tracing_packages_the_gateway_serves_and_tracing_says_what_is_missing(
    tmp_path: Any,
) -> None:
    # given a Python where the optional tracing packages are not installed
    script = (
        BLOCK_OPENTELEMETRY
        + """
import asyncio
import httpx
from gateway.app import create_app
from gateway.settings import Settings, SettingsError

settings = Settings(debug=True, database_url="sqlite://%s/x.sqlite3")
app = create_app(settings)

async def main():
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        response = await c.get("/healthz")
        print(response.status_code)

asyncio.run(main())
try:
    create_app(settings.with_(otlp_endpoint="http://127.0.0.1:4318"))
except SettingsError as exc:
    print(exc)
"""
        % tmp_path
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    # then the gateway without an endpoint builds and answers
    lines = out.stdout.strip().splitlines()
    assert out.returncode == 0, out.stderr
    assert lines[0] == "200"
    # and with an endpoint it refuses to start, naming the extra to install
    assert "pip install 'connected-apps-gateway[tracing]'" in lines[1]
