"""GET /metrics as an operator meets it (DESIGN §3 "Metrics"): who may read it, and what the
series say after a known sequence of requests on a fresh app (its registry starts empty).

Expositions are parsed with prometheus-client's own parser, so the tests read what Prometheus
would. The app of each test is built here (not the session's): its counters are the test's
own, and httpx's ASGI transport lets a test choose the client's address."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette

from gateway.ids import to_global_id
from gateway.metrics import MAX_OPERATION_NAMES
from tests import factories as f
from tests.conftest import EVENTS_SECRET, REDIS_URL
from tests.helpers import error_codes, until
from tests.live_support import WSClient, post_event, signed, uvicorn_serving
from tests.test_worker_processes import GATEWAY, SECRETS, Database, free_port

JSON = "application/json"
ADMIN = "Ada Admin"
REQUESTS = "gateway_graphql_requests_total"
ERRORS = "gateway_graphql_errors_total"
DURATION_COUNT = "gateway_graphql_request_duration_seconds_count"

ME = "query Me { viewer { user { name } } }"
UNNAMED = "{ viewer { user { name } } }"
# Checked when the field runs (DESIGN §2): executed, with a top-level BAD_USER_INPUT error.
TOO_BIG_A_PAGE = "query TooBig { viewer { portal { connectedApps(first: 1000) { totalCount } } } }"
# A business-rule failure: a userError, HTTP 200, and an `ok` operation.
DELETE_NOTHING = """mutation DeleteNothing {
  deleteNotificationRule(input: {id: "bm9wZQ=="}) { deletedRuleId userErrors { code } } }"""
BROKEN = "query Broken { viewer { nope } }"
STATUS = "subscription AppStatus { appStatusChanged { status app { name } } }"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of an exposition, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """A sample's value; 0 when the series has no such child (nothing counted yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def labelled(samples: Samples, name: str, label: str) -> set[str]:
    """The values a label takes in a series."""
    return {dict(labels)[label] for sample, labels in samples if sample == name}


def http(app: Starlette, host: str = "127.0.0.1") -> httpx.AsyncClient:
    """A client of `app` whose requests come from `host`."""
    transport = httpx.ASGITransport(app=app, client=(host, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    return parse(response.text)


async def post(
    client: httpx.AsyncClient, query: str, token: str | None = None, **extra: Any
) -> httpx.Response:
    headers = {"Content-Type": JSON}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return await client.post(
        "/graphql", content=json.dumps({"query": query, **extra}), headers=headers
    )


# ---- who may read them


@pytest.mark.one_executor
async def test_without_a_token_metrics_answer_loopback_clients_only(gateway):
    # given a gateway without GATEWAY_METRICS_TOKEN
    async with gateway() as app:
        # when a client on another machine asks for /metrics
        for host in ("10.0.0.1", "203.0.113.9", "2001:db8::1"):
            async with http(app, host) as client:
                response = await client.get("/metrics")
            # then it is refused with 403
            assert response.status_code == 403, host
            assert "gateway_" not in response.text
        # while loopback clients, IPv4 and IPv6, get the Prometheus text format
        for host in ("127.0.0.1", "::1"):
            async with http(app, host) as client:
                response = await client.get("/metrics")
            assert response.status_code == 200, host
            assert response.headers["content-type"].startswith("text/plain")
            assert "# TYPE gateway_graphql_requests_total counter" in response.text


@pytest.mark.one_executor
async def test_a_public_client_behind_a_trusted_local_proxy_is_not_a_loopback_client(gateway):
    # given a gateway behind a reverse proxy on the same machine (so every request's peer is
    # the loopback), configured as a trusted proxy, without GATEWAY_METRICS_TOKEN
    async with gateway(trusted_proxies=("127.0.0.1",)) as app, http(app) as client:
        # when a client on the internet asks for /metrics through that proxy
        response = await client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
        # then it is refused like any other public client: the client is the forwarded address
        assert response.status_code == 403, response.text
        # while the proxy's own requests (or a local scraper's) are still answered
        assert (await client.get("/metrics")).status_code == 200


@pytest.mark.one_executor
async def test_with_a_token_metrics_want_it_as_a_bearer(gateway):
    # given a gateway with GATEWAY_METRICS_TOKEN
    token = "metrics-" + uuid.uuid4().hex
    async with gateway(metrics_token=token) as app:
        async with http(app) as client:
            # when a loopback client sends no token, a wrong one, or it in another scheme
            for headers in (
                {},
                {"Authorization": "Bearer wrong"},
                {"Authorization": f"Basic {token}"},
                {"Authorization": token},
            ):
                response = await client.get("/metrics", headers=headers)
                # then it is 401, and nothing leaks
                assert response.status_code == 401, headers
                assert "gateway_" not in response.text
                assert response.headers["www-authenticate"].lower().startswith("bearer")
        # when any client, from anywhere, sends the token
        for host in ("127.0.0.1", "203.0.113.9"):
            async with http(app, host) as client:
                response = await client.get(
                    "/metrics", headers={"Authorization": f"Bearer {token}"}
                )
            # then it gets the series
            assert response.status_code == 200, host
            assert "gateway_graphql_requests_total" in response.text


# ---- GraphQL operations


async def test_operations_are_counted_by_type_name_and_outcome(gateway, settings):
    # given a fresh gateway (limits off) and a viewer
    tenant = await f.make_tenant(settings)
    token = tenant.token(ADMIN)
    async with gateway() as app, http(app) as client:
        # when the viewer runs a named query twice, an unnamed one, a mutation answered with a
        # userError, and a query whose field refuses its argument
        for _ in range(2):
            assert (await post(client, ME, token)).json() == {
                "data": {"viewer": {"user": {"name": ADMIN}}}
            }
        assert (await post(client, UNNAMED, token)).status_code == 200
        deleted = (await post(client, DELETE_NOTHING, token)).json()
        assert deleted["data"]["deleteNotificationRule"]["userErrors"] != []
        too_big = await post(client, TOO_BIG_A_PAGE, token)
        assert error_codes(too_big.json()) == ["BAD_USER_INPUT"]
        # and requests are refused before their document is parsed: no token, a body that
        # isn't JSON, a document that doesn't parse
        assert (await post(client, ME)).status_code == 401
        bad_json = await client.post(
            "/graphql",
            content=b"{nope",
            headers={"Authorization": f"Bearer {token}", "Content-Type": JSON},
        )
        assert bad_json.status_code == 400
        unparsed = await post(client, "query Half { viewer {", token)
        assert error_codes(unparsed.json()) == ["GRAPHQL_PARSE_FAILED"]
        unknown_hash = {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}
        not_found = await post(client, "", token, extensions=unknown_hash)
        assert error_codes(not_found.json()) == ["PERSISTED_QUERY_NOT_FOUND"]
        samples = await scrape(client)

    # then each operation is counted once under its type, name and outcome
    def requests(type_: str, name: str, outcome: str) -> float:
        return value(samples, REQUESTS, operation_type=type_, operation_name=name, outcome=outcome)

    assert requests("query", "Me", "ok") == 2
    assert requests("query", "anonymous", "ok") == 1
    assert requests("mutation", "DeleteNothing", "ok") == 1  # userErrors are ok
    assert requests("query", "TooBig", "error") == 1
    assert requests("unknown", "anonymous", "refused") == 4
    assert sum(v for (name, _), v in samples.items() if name == REQUESTS) == 9
    # and a name that was never parsed is no label
    assert "Half" not in labelled(samples, REQUESTS, "operation_name")
    # and every top-level error by its code
    assert value(samples, ERRORS, code="BAD_USER_INPUT") == 1
    assert value(samples, ERRORS, code="UNAUTHENTICATED") == 1
    assert value(samples, ERRORS, code="BAD_REQUEST") == 1
    assert value(samples, ERRORS, code="GRAPHQL_PARSE_FAILED") == 1
    assert value(samples, ERRORS, code="PERSISTED_QUERY_NOT_FOUND") == 1
    # and each operation's duration is observed once, by type and name
    duration = {"operation_type": "query", "operation_name": "Me"}
    assert value(samples, DURATION_COUNT, **duration) == 2
    assert value(samples, DURATION_COUNT, operation_type="unknown", operation_name="anonymous") == 4
    assert (
        value(samples, DURATION_COUNT, operation_type="mutation", operation_name="DeleteNothing")
        == 1
    )


async def test_a_validation_failure_is_refused_under_its_type_without_its_name(gateway, settings):
    # given a fresh gateway and a viewer
    tenant = await f.make_tenant(settings)
    async with gateway() as app, http(app) as client:
        # when a named query that fails validation is sent
        response = await post(client, BROKEN, tenant.token(ADMIN))
        assert error_codes(response.json()) == ["GRAPHQL_VALIDATION_FAILED"]
        samples = await scrape(client)
    # then it is counted as refused, with its error's code
    assert value(samples, ERRORS, code="GRAPHQL_VALIDATION_FAILED") == 1
    [(labels, count)] = [(dict(lb), v) for (name, lb), v in samples.items() if name == REQUESTS]
    assert (labels["outcome"], count) == ("refused", 1)
    # and its name, which never passed validation, is no label
    assert labels["operation_name"] != "Broken"
    assert "Broken" not in labelled(samples, DURATION_COUNT, "operation_name")
    # while its type is known: it was refused after parsing, not before
    assert labels["operation_type"] == "query", labels


async def test_rate_limited_requests_are_counted_by_kind(gateway, settings):
    # given a gateway with 1 point per viewer and 1 anonymous request per address a minute
    tenant = await f.make_tenant(settings)
    token = tenant.token(ADMIN)
    async with gateway(rate_limit_points=1, rate_limit_anonymous=1) as app, http(app) as client:
        # when a viewer sends a query twice, and an address without a token twice
        assert (await post(client, ME, token)).status_code == 200
        assert (await post(client, ME, token)).status_code == 429
        assert (await post(client, ME)).status_code == 401
        assert (await post(client, ME)).status_code == 429
        samples = await scrape(client)
    # then each refusal is counted by the budget that refused it
    assert value(samples, "gateway_rate_limited_total", kind="user") == 1
    assert value(samples, "gateway_rate_limited_total", kind="anonymous") == 1
    # and as a refused operation: the viewer's under its name (it passed validation), the
    # address's before anything was parsed
    assert (
        value(samples, REQUESTS, operation_type="query", operation_name="Me", outcome="refused")
        == 1
    )
    assert value(samples, REQUESTS, operation_type="query", operation_name="Me", outcome="ok") == 1
    assert (
        value(
            samples,
            REQUESTS,
            operation_type="unknown",
            operation_name="anonymous",
            outcome="refused",
        )
        == 2
    )
    # and by their codes
    assert value(samples, ERRORS, code="RATE_LIMITED") == 2
    assert value(samples, ERRORS, code="UNAUTHENTICATED") == 1
    # and where the budgets are kept is reported
    used, unused = ("redis", "local") if REDIS_URL else ("local", "redis")
    assert value(samples, "gateway_rate_limit_backend", backend=used) == 1
    assert value(samples, "gateway_rate_limit_backend", backend=unused) == 0


async def test_operation_names_are_bounded_and_taken_only_after_validation(gateway, settings):
    # given a fresh gateway and a viewer
    tenant = await f.make_tenant(settings)
    token = tenant.token(ADMIN)
    async with gateway() as app, http(app) as client:
        # when a named operation fails validation first
        assert error_codes((await post(client, BROKEN, token)).json()) == [
            "GRAPHQL_VALIDATION_FAILED"
        ]
        # and then as many distinct valid names as labels may take
        for i in range(MAX_OPERATION_NAMES):
            response = await post(client, f"query Op{i} {{ __typename }}", token)
            assert response.json() == {"data": {"__typename": "Query"}}
        # and then one more, and an old one again
        await post(client, "query OneTooMany { __typename }", token)
        await post(client, "query Op7 { __typename }", token)
        samples = await scrape(client)
    names = labelled(samples, REQUESTS, "operation_name")
    # then every one of the first 200 valid names is a label (the invalid one took no room)
    assert {f"Op{i}" for i in range(MAX_OPERATION_NAMES)} <= names
    assert value(samples, REQUESTS, operation_type="query", operation_name="Op7", outcome="ok") == 2
    # and the one too many is counted as `other`
    assert "OneTooMany" not in names
    assert (
        value(samples, REQUESTS, operation_type="query", operation_name="other", outcome="ok") == 1
    )
    # and the name that failed validation never became a label
    assert "Broken" not in names
    assert len(names - {"other", "anonymous"}) == MAX_OPERATION_NAMES


# ---- POST /events


@pytest.mark.one_executor
async def test_signed_events_are_counted_by_type_and_outcome(gateway, settings):
    # given a portal with an app, and a fresh gateway
    tenant = await f.make_tenant(settings, apps=[f.unique("App")])
    event = {
        "id": uuid.uuid4().hex,
        "type": "app.disconnected",
        "occurredAt": "2026-06-01T10:00:00+00:00",
        "portalId": tenant.gid,
        "appId": tenant.app_gid(),
    }
    async with gateway() as app, http(app) as client:

        async def send(body: dict[str, Any], secret: str = EVENTS_SECRET) -> int:
            raw, headers = signed(body, secret)
            return (await client.post("/events", content=raw, headers=headers)).status_code

        # when an event is applied, then sent again, then sent with a bad signature, and an
        # event names an app that doesn't exist
        assert await send(event) == 202
        assert await send(event) == 200
        assert await send({**event, "id": uuid.uuid4().hex}, "not-the-secret" * 4) == 401
        missing = {**event, "id": uuid.uuid4().hex, "appId": to_global_id("ConnectedApp", 10**9)}
        assert await send(missing) == 404
        samples = await scrape(client)
    # then each is counted by its type and outcome (a request refused before its body was
    # read as an event has no type yet)
    ingested = "gateway_events_ingested_total"
    assert value(samples, ingested, type="app.disconnected", outcome="applied") == 1
    assert value(samples, ingested, type="app.disconnected", outcome="duplicate") == 1
    assert value(samples, ingested, type="app.disconnected", outcome="refused") == 1
    assert value(samples, ingested, type="unknown", outcome="refused") == 1
    # and no event is a GraphQL operation
    assert not any(name == REQUESTS for name, _ in samples)


# ---- WebSocket


async def test_socket_and_subscription_series_follow_the_sockets_and_events(gateway, settings):
    # given a portal with an app, served by a fresh gateway (in-process broker)
    tenant = await f.make_tenant(settings, apps=["Alpha"])
    token = tenant.token(ADMIN)
    async with gateway(redis_url=None) as app, uvicorn_serving(app) as base:
        hub = app.state.hub
        async with httpx.AsyncClient(base_url=base) as client:
            async with (
                WSClient.connect(base, token) as first,
                WSClient.connect(base, token) as second,
            ):
                # when both sockets subscribe to the same subscription
                ops = [await ws.subscribe(STATUS) for ws in (first, second)]
                await until(lambda: hub.subscription_count(tenant.portal.id) == 2)
                open_ = await scrape(client)
                # and one event reaches both
                response = await post_event(
                    base, EVENTS_SECRET, "app.disconnected", tenant.gid, tenant.app_gid("Alpha")
                )
                assert response.status_code == 202, response.text
                for ws, op in zip((first, second), ops, strict=True):
                    payload = await ws.next(op)
                    assert payload["data"]["appStatusChanged"]["status"] == "DISCONNECTED"
                after_event = await scrape(client)
            # and both sockets close (the client's doing), and a third one sends a bad token
            async with WSClient.connect(base, init=False) as ws:
                await ws.send(
                    {"type": "connection_init", "payload": {"authorization": "Bearer nope"}}
                )
                assert await ws.closed_with() == 4403

            async def all_closed() -> bool:
                samples = await scrape(client)
                return value(samples, "gateway_websocket_connections") == 0

            await until(all_closed, what="the sockets' gauge back to 0")
            closed = await scrape(client)
    # then while they were open: two sockets, two subscriptions of the field
    assert value(open_, "gateway_websocket_connections") == 2
    assert value(open_, "gateway_subscriptions", field="appStatusChanged") == 2
    assert value(open_, "gateway_subscription_messages_total", field="appStatusChanged") == 0
    # and the event added the group's size, 2 `next` messages, once
    messages = value(after_event, "gateway_subscription_messages_total", field="appStatusChanged")
    assert messages == 2
    # and each subscribe was an operation answered ok, under its type and name
    assert (
        value(
            after_event,
            REQUESTS,
            operation_type="subscription",
            operation_name="AppStatus",
            outcome="ok",
        )
        == 2
    )
    # and once closed: no sockets, no subscriptions, one close by the server (4403); the
    # sockets the clients closed are not the server's closes
    assert value(closed, "gateway_websocket_connections") == 0
    assert value(closed, "gateway_subscriptions", field="appStatusChanged") == 0
    assert value(closed, "gateway_websocket_closes_total", code="4403") == 1
    assert labelled(closed, "gateway_websocket_closes_total", "code") == {"4403"}
    assert value(closed, "gateway_subscription_messages_total", field="appStatusChanged") == 2


# ---- a separate worker


@pytest.mark.one_executor
async def test_a_separate_worker_serves_its_own_metrics(tmp_path: Path) -> None:
    # given a database with a daily rule whose first day (with two entries) ended long ago
    database = Database(f"sqlite://{tmp_path / 'worker.sqlite3'}", False, tmp_path)
    database.migrate()
    await database.scenario()
    # when `gateway worker` runs with GATEWAY_WORKER_METRICS_PORT (and a metrics token)
    port, token = free_port(), "worker-metrics-" + uuid.uuid4().hex
    env = database.env(
        GATEWAY_WORKER_INTERVAL="0.2",
        GATEWAY_WORKER_METRICS_PORT=str(port),
        GATEWAY_METRICS_TOKEN=token,
        **SECRETS,
    )
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115 - closed below
    proc = await asyncio.create_subprocess_exec(
        GATEWAY, "worker", env=env, cwd=tmp_path, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}/metrics"
    seen: Samples = {}
    try:
        async with httpx.AsyncClient() as client:

            async def emails_sent() -> bool:
                nonlocal seen
                assert proc.returncode is None, (tmp_path / "worker.log").read_text()
                try:
                    response = await client.get(url, headers={"Authorization": f"Bearer {token}"})
                except httpx.TransportError:
                    return False  # not listening yet
                assert response.status_code == 200, response.text
                seen = parse(response.text)
                return value(seen, "gateway_emails_total", status="sent") == 2

            # then its own /metrics, over real HTTP, counts the digest made and its two emails
            await until(emails_sent, timeout=60, what="the worker's emails in its /metrics")
            assert value(seen, "gateway_digests_total", outcome="made") == 1
            assert value(seen, "gateway_digests_total", outcome="failed") == 0
            # and it wants the token like the server's does
            assert (await client.get(url)).status_code == 401
            # and it serves no GraphQL series' values: it answers no operations
            assert not any(name == REQUESTS for name, _ in seen)
    finally:
        if proc.returncode is None:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), timeout=20)
        log.close()
