"""`GET /debug/demo-users` (GATEWAY_DEBUG only): the demo portals' users, each with a token,
for the console's sign-in screen (../shared/CONSOLE.md "Signing in").

The route exists only in debug mode, whose secrets are public anyway, and answers loopback
clients only (judged as /metrics judges them: the client behind a trusted proxy), and only for
the users of the demo portals: a debug gateway on a real database hands out nobody else's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.auth import mint_token
from gateway.demo import ACME_NAME, GLOBEX_NAME
from gateway.ids import to_global_id
from gateway.models import User
from gateway.policy import Refusal, client_ip, trusted_networks
from gateway.settings import Settings

PATH = "/debug/demo-users"
DEMO_PORTALS = (ACME_NAME, GLOBEX_NAME)
TOKEN_TTL = timedelta(hours=12)


def demo_users_endpoint(settings: Settings) -> Callable[[Request], Awaitable[Response]]:
    proxies = trusted_networks(settings)

    async def endpoint(request: Request) -> Response:
        client = client_ip(request.scope, proxies)
        if client is None or not client.is_loopback:
            return Refusal(
                403, "The demo users are offered to loopback clients only", "FORBIDDEN"
            ).response()
        users = (
            await User.filter(portal__name__in=DEMO_PORTALS)
            .select_related("portal")
            .order_by("portal__name", "sort_name", "id")
        )
        body = {
            "users": [
                {
                    "id": to_global_id("User", user.id),
                    "name": user.name,
                    "email": user.email,
                    "portal": user.portal.name,
                    "isSuperAdmin": user.is_super_admin,
                    "canManageApps": user.can_manage,
                    "permissions": [p.value for p in user.permissions],
                    "token": mint_token(user, settings, ttl=TOKEN_TTL),
                }
                for user in users
            ]
        }
        # Tokens: no cache may keep them.
        return Response(
            orjson.dumps(body), media_type="application/json", headers={"Cache-Control": "no-store"}
        )

    return endpoint
