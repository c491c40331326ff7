"""Rate limits as a client meets them (DESIGN §3 "Rate limits"): real requests to an app with
small budgets, over HTTP (httpx's ASGI transport, which lets a test choose the client's
address) and over WebSocket (real uvicorn).

Each test builds its own app with a fresh `redis_prefix`: with GATEWAY_TEST_REDIS_URL set the
buckets live in Redis, shared by every app on one namespace, and no test may see another's.
Budgets are a handful of points a minute, so a point refills only every several seconds and the
numbers a test reads are the ones its own requests left."""

from __future__ import annotations

import json
import math
import uuid
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from gateway.settings import Settings
from tests import factories as f
from tests.conftest import REDIS_URL
from tests.helpers import error_codes
from tests.live_support import WSClient, uvicorn_serving

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
ADMIN = "Ada Admin"

VIEWER = "{ viewer { user { name } } }"
# count_nodes (gateway/schema/limits.py): `viewer` and `portal` are single objects (no page),
# `connectedApps(first: 50)` is a page of 50 per portal, and its `nodes { id }` are those same
# 50 apps with no page below them: 50 nodes, 1 + ceil(50 / 100) = 2 points.
PAGE_OF_50 = "{ viewer { portal { connectedApps(first: 50) { nodes { id } } } } }"
PAGE_OF_50_COST = 2
# 100 apps and 1 user: 101 nodes, 1 + ceil(101 / 100) = 3 points.
PAGES_OF_101 = """{ viewer { portal {
  connectedApps(first: 100) { nodes { id } }
  users(first: 1) { nodes { id } }
} } }"""
PAGES_OF_101_COST = 3
# 100 + 100·100 + 100·100·10 = 110,100 nodes: over the 50,000 node limit.
OVER_THE_NODE_LIMIT = """{ viewer { portal { connectedApps(first: 100) { nodes {
  log(first: 100) { nodes { app { connections(first: 10) { nodes { id } } } } }
} } } } }"""
RULES = "{ viewer { portal { notificationRules(first: 100) { totalCount } } } }"
CREATE_RULE = """mutation Create($input: CreateNotificationRuleInput!) {
  createNotificationRule(input: $input) { rule { id name } userErrors { code } } }"""
RULE_INPUT = {
    "name": "Weekly installs",
    "type": "APP_INSTALL",
    "frequency": "WEEKLY",
    "allApps": True,
    "audience": "SUPER_ADMINS",
    "channels": ["IN_APP"],
}
SUBSCRIPTION = "subscription { appStatusChanged { status } }"

PERIOD = 60  # seconds in which a whole bucket refills


def http(app: Starlette, host: str = "127.0.0.1") -> httpx.AsyncClient:
    """A client of `app` whose requests come from `host`."""
    transport = httpx.ASGITransport(app=app, client=(host, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def post(
    client: httpx.AsyncClient,
    query: str,
    token: str | None = None,
    variables: dict[str, Any] | None = None,
    *,
    accept: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    sent = {"Content-Type": JSON, **(headers or {})}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    if accept is not None:
        sent["Accept"] = accept
    body = {"query": query, **({"variables": variables} if variables else {})}
    return await client.post("/graphql", content=json.dumps(body), headers=sent)


def budget(response: httpx.Response) -> tuple[int, int, int]:
    """(RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset) of an answer."""
    headers = response.headers
    return (
        int(headers["ratelimit-limit"]),
        int(headers["ratelimit-remaining"]),
        int(headers["ratelimit-reset"]),
    )


def assert_budget(response: httpx.Response, *, limit: int, used: int) -> None:
    """The answer reports a bucket of `limit` points of which `used` are spent: `limit - used`
    whole points remain, and it is full again in `used` points' refill time (a point refills
    every PERIOD / limit seconds; the test's own few seconds may already have refilled a little
    of the current point, never a whole one)."""
    got_limit, remaining, reset = budget(response)
    assert (got_limit, remaining) == (limit, limit - used), response.headers
    refill = used * PERIOD / limit
    assert refill - PERIOD / limit < reset <= math.ceil(refill), (reset, refill)


def assert_rate_limited(response: httpx.Response, media_type: str = JSON) -> None:
    """HTTP 429 with the contract's body: one error coded RATE_LIMITED, nothing else."""
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].split(";")[0] == media_type
    body = response.json()
    assert set(body) == {"errors"}, body
    [error] = body["errors"]
    assert set(error) == {"message", "extensions"}, error
    assert isinstance(error["message"], str) and error["message"]
    assert error["extensions"] == {"code": "RATE_LIMITED"}


async def admin_token(settings: Settings) -> str:
    """A super admin of a portal of their own (a viewer whose budget no other test spends)."""
    tenant = await f.make_tenant(settings)
    return tenant.token(ADMIN)


# ---- the budget in every answer


async def test_every_answer_after_authentication_carries_the_budget(gateway, settings):
    # given a viewer on a gateway with 10 points a minute
    token = await admin_token(settings)
    async with gateway(rate_limit_points=10) as app, http(app) as client:
        # when they send a simple query (no pages: 1 point), in either media type
        first = await post(client, VIEWER, token)
        second = await post(client, VIEWER, token, accept=GRAPHQL_RESPONSE)
        # then each answer carries the bucket, what is left after it, and when it is full again
        assert first.status_code == second.status_code == 200
        assert_budget(first, limit=10, used=1)
        assert_budget(second, limit=10, used=2)
        # and a GET of a query is charged the same way
        response = await client.get(
            "/graphql", params={"query": VIEWER}, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 200
        assert_budget(response, limit=10, used=3)


async def test_a_page_costs_a_point_per_hundred_nodes_on_top_of_its_own(gateway, settings):
    # given a viewer on a gateway with 10 points a minute
    token = await admin_token(settings)
    async with gateway(rate_limit_points=10) as app, http(app) as client:
        # when they ask for a page of 50 apps (50 nodes), twice (the second time the gateway
        # runs the text it already checked without parsing it again)
        responses = [await post(client, PAGE_OF_50, token) for _ in range(2)]
        # then each costs 1 + ceil(50 / 100) = 2 points
        for response in responses:
            assert response.status_code == 200 and "errors" not in response.json()
        assert_budget(responses[0], limit=10, used=PAGE_OF_50_COST)
        assert_budget(responses[1], limit=10, used=2 * PAGE_OF_50_COST)
        # and 101 nodes cost 1 + ceil(101 / 100) = 3
        response = await post(client, PAGES_OF_101, token)
        assert response.status_code == 200 and "errors" not in response.json()
        assert_budget(response, limit=10, used=2 * PAGE_OF_50_COST + PAGES_OF_101_COST)


async def test_variables_are_filled_in_before_the_cost_is_counted(gateway, settings):
    # given a page whose size is a variable
    token = await admin_token(settings)
    query = "query($n: Int) { viewer { portal { connectedApps(first: $n) { nodes { id } } } } }"
    async with gateway(rate_limit_points=10) as app, http(app) as client:
        # when it asks for 100 apps, then for 1
        big = await post(client, query, token, {"n": 100})
        small = await post(client, query, token, {"n": 1})
        # then the first costs 2 points, the second 2 as well (1 + ceil(1 / 100))
        assert big.status_code == small.status_code == 200
        assert_budget(big, limit=10, used=2)
        assert_budget(small, limit=10, used=4)


# ---- over budget


async def test_over_budget_is_429_with_retry_after_and_the_mutation_changes_nothing(
    gateway, settings, client
):
    # given a viewer who has spent their 2 points, and the portal's rules as they are
    tenant = await f.make_tenant(settings)
    token = tenant.token(ADMIN)
    auth = {"Authorization": f"Bearer {token}"}
    rules = (await post(client, RULES, token)).json()
    before = rules["data"]["viewer"]["portal"]["notificationRules"]["totalCount"]
    async with gateway(rate_limit_points=2) as app, http(app) as limited:
        for _ in range(2):
            assert (await post(limited, VIEWER, token)).status_code == 200
        # when they send a mutation that creates a notification rule
        response = await post(limited, CREATE_RULE, token, {"input": RULE_INPUT})
        # then it is refused with 429, the contract's body, no points left and a Retry-After
        # of the whole seconds until one point (its cost) is back: at most 30 s (60 s / 2)
        assert_rate_limited(response)
        assert budget(response)[:2] == (2, 0)
        assert 1 <= int(response.headers["retry-after"]) <= PERIOD // 2
        # and the same under the spec's media type
        again = await post(
            limited, CREATE_RULE, token, {"input": RULE_INPUT}, accept=GRAPHQL_RESPONSE
        )
        assert_rate_limited(again, GRAPHQL_RESPONSE)
        assert "retry-after" in again.headers
    # and nothing ran: the portal has no new rule (read on a gateway without limits)
    after = (await post(client, RULES, token)).json()
    assert after["data"]["viewer"]["portal"]["notificationRules"]["totalCount"] == before
    # (where the budget allows, the very same request does create it)
    created = await client.post(
        "/graphql", json={"query": CREATE_RULE, "variables": {"input": RULE_INPUT}}, headers=auth
    )
    assert created.json()["data"]["createNotificationRule"]["userErrors"] == []
    after = (await post(client, RULES, token)).json()
    assert after["data"]["viewer"]["portal"]["notificationRules"]["totalCount"] == before + 1


async def test_a_request_costing_more_than_the_whole_bucket_gets_retry_after_60(gateway, settings):
    # given a viewer with a full bucket of 2 points
    token = await admin_token(settings)
    async with gateway(rate_limit_points=2) as app, http(app) as client:
        # when they ask for 101 nodes (3 points: more than the bucket ever holds)
        response = await post(client, PAGES_OF_101, token)
        # then it is refused with Retry-After 60, and nothing was taken from the bucket
        assert_rate_limited(response)
        assert response.headers["retry-after"] == "60"
        assert budget(response) == (2, 2, 0)
        # and a request the bucket can pay still runs
        response = await post(client, VIEWER, token)
        assert response.status_code == 200
        assert_budget(response, limit=2, used=1)


async def test_requests_refused_before_their_cost_cost_one_point(gateway, settings):
    # given a viewer with 10 points
    token = await admin_token(settings)
    auth = {"Authorization": f"Bearer {token}"}
    async with gateway(rate_limit_points=10) as app, http(app) as client:
        answers = [
            # a body that isn't JSON: 400
            await client.post(
                "/graphql", content=b"{not json", headers={**auth, "Content-Type": JSON}
            ),
            # an Accept the gateway can't answer in: 406
            await post(client, VIEWER, token, accept="text/csv"),
            # a body that isn't JSON by its content type: 415
            await client.post(
                "/graphql", content=VIEWER, headers={**auth, "Content-Type": "text/plain"}
            ),
            # a document that doesn't parse
            await post(client, "{ viewer { user { name }", token),
            # a page of 100 apps (2 points had it run) that fails validation
            await post(
                client, "{ viewer { portal { connectedApps(first: 100) { nope } } } }", token
            ),
            # a document over the node limit (1,102 points had it run)
            await post(client, OVER_THE_NODE_LIMIT, token),
            # an automatic persisted query's hash the gateway doesn't know
            await client.post(
                "/graphql",
                json={"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}},
                headers=auth,
            ),
        ]
        # then each answer is a refusal that cost exactly one point
        statuses = [a.status_code for a in answers]
        assert statuses == [400, 406, 415, 200, 200, 200, 200], [a.text for a in answers]
        assert [error_codes(a.json()) for a in answers[3:]] == [
            ["GRAPHQL_PARSE_FAILED"],
            ["GRAPHQL_VALIDATION_FAILED"],
            ["GRAPHQL_VALIDATION_FAILED"],
            ["PERSISTED_QUERY_NOT_FOUND"],
        ]
        for used, answer in enumerate(answers, start=1):
            assert_budget(answer, limit=10, used=used)


# ---- anonymous requests: charged to the client's address


async def test_requests_without_a_valid_token_are_401_until_the_address_s_budget_is_spent(
    gateway, settings
):
    # given an address allowed 2 requests without a valid token a minute
    token = await admin_token(settings)
    async with gateway(rate_limit_points=10, rate_limit_anonymous=2) as app, http(app) as client:
        # when it sends a request without a token, then one with a forged token
        first = await post(client, VIEWER)
        second = await post(client, VIEWER, "not.a.token")
        # then both are 401
        assert [first.status_code, second.status_code] == [401, 401]
        assert error_codes(first.json()) == error_codes(second.json()) == ["UNAUTHENTICATED"]
        # and the next one is 429 (not 401) with a Retry-After, coded RATE_LIMITED
        third = await post(client, VIEWER)
        assert_rate_limited(third)
        assert 1 <= int(third.headers["retry-after"]) <= PERIOD // 2
        forged = await post(client, VIEWER, "not.a.token")
        assert_rate_limited(forged)
        # while a valid token from the same address still works, on the viewer's own budget
        response = await post(client, VIEWER, token)
        assert response.status_code == 200
        assert_budget(response, limit=10, used=1)
        # and another address has its own budget
        async with http(app, "192.0.2.50") as elsewhere:
            assert (await post(elsewhere, VIEWER)).status_code == 401


async def test_x_forwarded_for_is_honoured_only_from_trusted_proxies(gateway):
    # given a gateway behind the proxy 10.0.0.1, allowing 1 anonymous request per address
    async with gateway(
        rate_limit_points=10, rate_limit_anonymous=1, trusted_proxies=("10.0.0.1",)
    ) as app:

        async def anonymous(peer: str, forwarded: str | None = None) -> int:
            headers = {"X-Forwarded-For": forwarded} if forwarded else {}
            async with http(app, peer) as client:
                return (await post(client, VIEWER, headers=headers)).status_code

        # when the proxy forwards a client twice: its budget is the client's, spent at once
        assert await anonymous("10.0.0.1", "203.0.113.5") == 401
        assert await anonymous("10.0.0.1", "203.0.113.5") == 429
        # another client behind the same proxy has a budget of its own
        assert await anonymous("10.0.0.1", "203.0.113.6") == 401
        # what a client writes to the left of the address the proxy saw is not believed
        assert await anonymous("10.0.0.1", "198.51.100.1, 203.0.113.5") == 429
        # and the proxy's own address was never charged for its clients
        assert await anonymous("10.0.0.1") == 401
        # when a peer that is not a trusted proxy sends X-Forwarded-For, it is ignored: the
        # peer's budget pays, whatever address it names
        assert await anonymous("192.0.2.9", "203.0.113.7") == 401
        assert await anonymous("192.0.2.9", "203.0.113.8") == 429
        assert await anonymous("192.0.2.9") == 429


async def test_ipv6_clients_share_a_budget_per_64(gateway):
    # given 1 anonymous request a minute per address
    async with gateway(rate_limit_points=10, rate_limit_anonymous=1) as app:

        async def anonymous(peer: str) -> int:
            async with http(app, peer) as client:
                return (await post(client, VIEWER)).status_code

        # when one IPv6 address spends the budget
        assert await anonymous("2001:db8:1:2::1") == 401
        # then every address of its /64 is refused
        assert await anonymous("2001:db8:1:2:ffff:ffff:ffff:fffe") == 429
        # while the next /64 has a budget of its own
        assert await anonymous("2001:db8:1:3::1") == 401


@pytest.mark.one_executor
async def test_zero_turns_limits_off_and_drops_the_headers(gateway, settings):
    # given a gateway with both limits at 0
    token = await admin_token(settings)
    async with gateway(rate_limit_points=0, rate_limit_anonymous=0) as app, http(app) as client:
        # when a viewer sends more than any budget would allow, and an address guesses tokens
        answers = [await post(client, PAGES_OF_101, token) for _ in range(5)]
        guesses = [await post(client, VIEWER, "not.a.token") for _ in range(5)]
        # then every query runs, every guess is 401, and no answer carries a budget
        assert [a.status_code for a in answers] == [200] * 5
        assert [g.status_code for g in guesses] == [401] * 5
        for response in answers + guesses:
            assert not {h for h in response.headers if h.startswith("ratelimit-")}, response.headers
            assert "retry-after" not in response.headers


# ---- over WebSocket


async def test_a_subscribe_over_budget_is_an_error_and_the_socket_stays_open(gateway, settings):
    # given a viewer on a socket, with 1 point a minute, spent by a query
    token = await admin_token(settings)
    async with (
        gateway(rate_limit_points=1, redis_url=None) as app,
        uvicorn_serving(app) as base,
        WSClient.connect(base, token) as ws,
    ):
        assert await ws.execute(VIEWER) == {"data": {"viewer": {"user": {"name": ADMIN}}}}
        # when another query follows: an `error` message coded RATE_LIMITED, nothing ran
        assert [e["extensions"]["code"] for e in await ws.refused(VIEWER)] == ["RATE_LIMITED"]
        # when a subscription follows
        op = await ws.subscribe(SUBSCRIPTION)
        message = await ws.message(op)
        # then it too gets an `error` message for that operation (not a `next` carrying the
        # error, as if it had started), coded RATE_LIMITED
        assert message["type"] == "error", message
        assert [e["extensions"]["code"] for e in message["payload"]] == ["RATE_LIMITED"]
        # and the socket stays open: a ping is still answered
        await ws.send({"type": "ping"})
        assert await ws.receive() == {"type": "pong"}


@pytest.mark.one_executor
async def test_a_failed_connection_init_is_charged_to_the_address(gateway, settings):
    # given an address (the loopback, here) allowed 2 failed connection_init a minute
    token = await admin_token(settings)
    async with (
        gateway(rate_limit_anonymous=2, redis_url=None) as app,
        uvicorn_serving(app) as base,
    ):

        async def init_with(bearer: str) -> int:
            async with WSClient.connect(base, init=False) as ws:
                await ws.send(
                    {"type": "connection_init", "payload": {"authorization": f"Bearer {bearer}"}}
                )
                return await ws.closed_with()

        # when two sockets send a bad token: each is closed with 4403
        assert [await init_with("not.a.token") for _ in range(2)] == [4403, 4403]
        # then the third is closed with 4429: the address's budget is spent
        assert await init_with("not.a.token") == 4429
        # while a valid token from the same address is still acknowledged
        async with WSClient.connect(base, token) as ws:
            assert await ws.execute(VIEWER) == {"data": {"viewer": {"user": {"name": ADMIN}}}}


# ---- several processes


@pytest.mark.redis
async def test_two_processes_with_one_redis_prefix_share_a_viewer_s_budget(gateway, settings):
    # given two gateway processes of one deployment (one Redis namespace), 3 points a minute
    assert REDIS_URL is not None
    token = await admin_token(settings)
    prefix = f"test-limits-{uuid.uuid4().hex}"
    async with (
        gateway(rate_limit_points=3, redis_prefix=prefix) as one,
        gateway(rate_limit_points=3, redis_prefix=prefix) as two,
        http(one) as a,
        http(two) as b,
    ):
        # when the viewer's requests go to either process
        first, second, third = [await post(c, VIEWER, token) for c in (a, b, a)]
        # then each answer counts what was spent on both
        assert [r.status_code for r in (first, second, third)] == [200] * 3
        assert [budget(r)[1] for r in (first, second, third)] == [2, 1, 0]
        # and the bucket both spent is empty for both
        assert_rate_limited(await post(b, VIEWER, token))
        # while a process of another deployment has the viewer's full budget
        async with gateway(rate_limit_points=3) as other, http(other) as c:
            assert budget(await post(c, VIEWER, token))[1] == 2
