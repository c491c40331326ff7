"""X-Request-ID: one rule for every endpoint (gateway/request_ids.py): a usable client id is
echoed, anything else is replaced by a fresh id of the gateway's own."""

from __future__ import annotations

import re

import httpx
import pytest

from gateway.request_ids import accepted_request_id

FRESH = re.compile(r"[0-9a-f]{32}")
VIEWER = "{ viewer { user { email } } }"


@pytest.mark.parametrize("header", ["req-123.abc", "x" * 128, "!~"])
def test_a_usable_client_id_is_kept(header: str) -> None:
    assert accepted_request_id(header) == header


@pytest.mark.parametrize("header", [None, "", "x" * 129, "two words", "tab\there", "é"])
def test_anything_else_gets_a_fresh_id(header: str | None) -> None:
    first, second = accepted_request_id(header), accepted_request_id(header)
    assert FRESH.fullmatch(first) and FRESH.fullmatch(second)
    assert first != second


@pytest.mark.parametrize("path", ["/graphql", "/events"])
async def test_every_endpoint_answers_under_the_same_rule(
    client: httpx.AsyncClient, demo: object, path: str
) -> None:
    # given requests to /graphql and /events, refused either way (no token, no signature)
    body = {"query": VIEWER}
    # when one carries a usable X-Request-ID and one an unusable one
    kept = await client.post(path, json=body, headers={"X-Request-ID": "req-789"})
    replaced = await client.post(path, json=body, headers={"X-Request-ID": "two words"})
    # then both are refused as unauthenticated, the first under the client's id, the second
    # under a fresh one
    assert (kept.status_code, replaced.status_code) == (401, 401)
    assert kept.headers["x-request-id"] == "req-789"
    assert FRESH.fullmatch(replaced.headers["x-request-id"])
