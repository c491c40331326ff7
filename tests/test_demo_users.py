"""The console's demo sign-in (CONSOLE.md): under GATEWAY_DEBUG only, loopback clients only,
the demo portals' users only, each with a token that signs in as that user."""

from __future__ import annotations

import httpx
import pytest

from gateway.app import create_app
from gateway.demo import ACME_NAME, GLOBEX_NAME
from gateway.ids import to_global_id
from gateway.models import User
from tests import factories as f

PATH = "/debug/demo-users"
WHO = "{ viewer { user { id email } portal { name } } }"


def client_at(settings, address: str, **changes: object) -> httpx.AsyncClient:
    app = create_app(settings.with_(**changes))
    transport = httpx.ASGITransport(app=app, client=(address, 4321))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_debug_offers_each_demo_user_with_a_token_that_signs_in_as_them(
    demo, settings
) -> None:
    # given another portal beside the demo ones
    other = await f.make_tenant(settings)
    async with client_at(settings, "127.0.0.1", debug=True) as client:
        # when a loopback client asks under debug
        response = await client.get(PATH)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        users = response.json()["users"]
        # then it gets exactly the demo portals' users
        expected = await User.filter(portal__name__in=(ACME_NAME, GLOBEX_NAME)).values_list(
            "id", "email"
        )
        assert sorted((u["id"], u["email"]) for u in users) == sorted(
            (to_global_id("User", pk), email) for pk, email in expected
        )
        assert not {u["email"] for u in users} & {p.email for p in other.people.values()}
        # and each token signs in as its user, in their portal
        for user in users:
            answer = await client.post(
                "/graphql",
                json={"query": WHO},
                headers={"Authorization": f"Bearer {user['token']}"},
            )
            viewer = answer.json()["data"]["viewer"]
            assert (viewer["user"]["id"], viewer["user"]["email"]) == (user["id"], user["email"])
            assert viewer["portal"]["name"] == user["portal"]


@pytest.mark.parametrize("address", ["203.0.113.9", "10.1.2.3", "2001:db8::1"])
async def test_other_clients_are_refused_without_a_token(demo, settings, address) -> None:
    async with client_at(settings, address, debug=True) as client:
        response = await client.get(PATH)
    assert response.status_code == 403
    assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "token" not in response.text


async def test_a_public_client_behind_a_local_proxy_is_refused(demo, settings) -> None:
    async with client_at(settings, "127.0.0.1", debug=True, trusted_proxies=("127.0.0.1",)) as c:
        response = await c.get(PATH, headers={"X-Forwarded-For": "203.0.113.9"})
    assert response.status_code == 403


async def test_without_debug_there_is_no_such_route(demo, settings) -> None:
    async with client_at(settings, "127.0.0.1", debug=False) as client:
        response = await client.get(PATH)
    assert response.status_code == 404
    assert "token" not in response.text
