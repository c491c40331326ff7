"""Prepared texts (gateway/schema/prepared.py): a text sent again skips Strawberry's pipeline
on our executor, and every answer is the one the full way gives: what depends on the request
(operation type, node count, variables, directive conditions) is still checked each time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import strawberry

from gateway.executor.plan import MAX_CACHED_TEXT
from tests.helpers import error_codes, token_for

ADMIN = "admin@demo.example"

APPS = """query Apps($apps: Int = 3, $after: String) {
  viewer { portal { connectedApps(first: $apps, after: $after) {
    totalCount pageInfo { endCursor } nodes { name log(first: 100) { nodes { activity } } }
  } } }
}"""  # $apps + $apps·100 nodes


@pytest.fixture
async def token(settings, demo) -> str:
    return await token_for(settings, ADMIN)


@pytest.fixture
async def fresh(make_client) -> AsyncIterator[httpx.AsyncClient]:
    """An app of its own, so no text is prepared yet."""
    async with make_client() as client:
        yield client


@pytest.fixture
def full_way(monkeypatch) -> list[str | None]:
    """The texts that went Strawberry's whole way (its `execute`), in order."""
    texts: list[str | None] = []
    execute = strawberry.Schema.execute

    async def counted(self: Any, query: str | None, *args: Any, **kwargs: Any) -> Any:
        texts.append(query)
        return await execute(self, query, *args, **kwargs)

    monkeypatch.setattr(strawberry.Schema, "execute", counted)
    return texts


async def post(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str,
    operation_name: str | None = None,
) -> tuple[int, dict[str, Any]]:
    payload: dict[str, Any] = {"query": query, "variables": variables or {}}
    if operation_name is not None:
        payload["operationName"] = operation_name
    response = await client.post(
        "/graphql", json=payload, headers={"Authorization": f"Bearer {token}"}
    )
    return response.status_code, response.json()


async def test_a_text_sent_again_skips_the_pipeline_and_gets_the_same_answer(
    settings, fresh, token, full_way
) -> None:
    first = await post(fresh, APPS, {"apps": 2}, token=token)
    again = await post(fresh, APPS, {"apps": 2}, token=token)
    # Other values of the variables run the prepared text too.
    _, page = first
    cursor = page["data"]["viewer"]["portal"]["connectedApps"]["pageInfo"]["endCursor"]
    second_page = await post(fresh, APPS, {"apps": 2, "after": cursor}, token=token)

    assert first == again
    assert first[0] == 200 and "errors" not in first[1], first
    assert second_page[0] == 200 and "errors" not in second_page[1], second_page
    names = [n["name"] for n in page["data"]["viewer"]["portal"]["connectedApps"]["nodes"]]
    later = second_page[1]["data"]["viewer"]["portal"]["connectedApps"]["nodes"]
    assert not set(names) & {n["name"] for n in later}
    # Our executor runs prepared texts itself; graphql-core's (the reference) goes the full way.
    assert len(full_way) == (1 if settings.executor == "fast" else 3)


async def test_the_node_limit_is_checked_on_every_request(make_client, token) -> None:
    async with make_client(max_nodes=1_000) as client:
        under = await post(client, APPS, {"apps": 3}, token=token)
        over = await post(client, APPS, {"apps": 20}, token=token)
        # The default page of the variable counts too.
        default = await post(client, APPS, token=token)
        under_again = await post(client, APPS, {"apps": 3}, token=token)

    assert under == under_again and "errors" not in under[1], under
    status, body = over
    assert status == 200 and error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"], body
    assert "2,020 nodes" in body["errors"][0]["message"] and "data" not in body
    assert "errors" not in default[1], default  # 3 + 300


async def test_invalid_variables_get_the_answer_a_new_text_gets(fresh, make_client, token) -> None:
    await post(fresh, APPS, {"apps": 2}, token=token)
    prepared = await post(fresh, APPS, {"apps": "many", "after": 7}, token=token)
    async with make_client() as other:
        new = await post(other, APPS, {"apps": "many", "after": 7}, token=token)

    assert prepared == new
    assert error_codes(prepared[1]) == ["BAD_USER_INPUT", "BAD_USER_INPUT"], prepared


async def test_a_prepared_mutation_still_needs_post(fresh, token) -> None:
    mutation = "mutation { markNotificationsRead(input: {ids: []}) { notifications { id } } }"
    await post(fresh, mutation, token=token)
    response = await fresh.get(
        "/graphql", params={"query": mutation}, headers={"Authorization": f"Bearer {token}"}
    )
    query_by_get = await fresh.get(
        "/graphql", params={"query": APPS}, headers={"Authorization": f"Bearer {token}"}
    )

    assert response.status_code == 405, response.text
    assert error_codes(response.json()) == ["METHOD_NOT_ALLOWED"]
    assert query_by_get.status_code == 200 and "errors" not in query_by_get.json()


async def test_directive_conditions_are_checked_on_every_request(fresh, token) -> None:
    query = """query Q($show: Boolean = true) {
      viewer { user { name @include(if: $show) } }
    }"""
    shown = await post(fresh, query, {"show": True}, token=token)
    null = await post(fresh, query, {"show": None}, token=token)
    hidden = await post(fresh, query, {"show": False}, token=token)

    assert shown[1]["data"]["viewer"]["user"] == {"name": "Avery Admin"}, shown
    assert error_codes(null[1]) == ["BAD_USER_INPUT"] and "data" not in null[1], null
    assert hidden[1]["data"]["viewer"]["user"] == {}, hidden


async def test_each_operation_of_a_document_by_its_name(fresh, token) -> None:
    document = """
      query Name { viewer { user { name } } }
      query Email { viewer { user { email } } }
    """
    answers = []
    for name in ("Name", "Email", "Name", "Email", None, None):
        answers.append(await post(fresh, document, token=token, operation_name=name))

    assert answers[0] == answers[2] and answers[1] == answers[3]
    assert answers[0][1]["data"]["viewer"]["user"] == {"name": "Avery Admin"}
    assert answers[1][1]["data"]["viewer"]["user"] == {"email": ADMIN}
    for _status, body in answers[4:]:
        assert error_codes(body) == ["BAD_REQUEST"] and "data" not in body, body


async def test_long_texts_always_go_the_full_way(settings, fresh, token, full_way) -> None:
    padded = "{ viewer { user { name } } }" + " " * MAX_CACHED_TEXT
    answers = [await post(fresh, padded, token=token) for _ in range(2)]

    assert answers[0] == answers[1]
    assert answers[0][1]["data"]["viewer"]["user"] == {"name": "Avery Admin"}
    assert full_way == [padded, padded]
