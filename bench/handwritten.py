"""The yardstick: the bench's two pages served by hand, without GraphQL or an ORM.

Starlette + an asyncpg pool + orjson, answering POST /graphql with exactly the JSON the gateway
returns for shared/queries/my-apps-page.graphql and shared/queries/app-log-page.graphql
({"data": {...}}), so bench/page.py can load both the same way and compare them. It does the
same per-request work the gateway must do and nothing more: read and parse the body, verify the
bearer JWT and load its user and portal (one statement). A body whose query mentions `appLog`
is the App log page: one more statement, the page's entries joined to their app and user,
honouring `first`, `after` and the filter's `activities`, `since` and `until`. Any other body is
the My Apps page: 4 batched statements:

  1. the portal's installed apps by name, with their installer's name and connection count;
  2. every requested scope of those apps with whether it is granted;
  3. their open alerts, newest first;
  4. the 5 newest log entries of each app on the page (a window function), with user names.

Only `first` is honoured from the variables: the bench never sends `after`, and nothing else of
the query is interpreted (the shape is fixed). Derived values follow gateway/services/apps.py.

Run by bench/page.py: python bench/handwritten.py --port N --dsn postgres://... --jwt-secret S
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg
import jwt
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

# The gateway's defaults (gateway/settings.py), so one token works for both servers.
JWT_ISSUER = "connected-apps-gateway"
JWT_AUDIENCE = "connected-apps-gateway"
TIER_RANK = {"FREE": 0, "STARTER": 1, "PROFESSIONAL": 2, "ENTERPRISE": 3}
DEFAULT_FIRST = 50  # the query's own default for $first
LOG_ENTRIES = 5  # log(first: 5) in the query
# Tortoise's asyncpg pool defaults to at most 5 connections: the same here, so neither side
# gets more database parallelism than the other.
POOL_MAX_SIZE = 5

UNAUTHENTICATED = orjson.dumps(
    {
        "errors": [
            {
                "message": "Authentication required: send a valid bearer token",
                "extensions": {"code": "UNAUTHENTICATED"},
            }
        ]
    }
)

AUTH_SQL = """
SELECT u.id, u.portal_id, p.tier
FROM app_user u JOIN portal p ON p.id = u.portal_id
WHERE u.id = $1 AND u.portal_id = $2
"""

APPS_SQL = """
SELECT a.id, a.name, a.sort_name, a.install_level, a.installed_at, a.disconnected,
       a.installed_by_id, u.name AS installer_name,
       (SELECT count(*) FROM app_connection c WHERE c.app_id = a.id) AS connection_count
FROM connected_app a
LEFT JOIN app_user u ON u.id = a.installed_by_id
WHERE a.portal_id = $1 AND a.uninstalled_at IS NULL
ORDER BY a.sort_name, a.id
"""

# All installed apps, not only the page's: the summary needs every app's scope states.
SCOPES_SQL = """
SELECT a.id AS app_id, s.name, s.required_tier, (g.id IS NOT NULL) AS granted
FROM connected_app a
JOIN listing_scope s ON s.listing_id = a.listing_id
LEFT JOIN granted_scope g ON g.app_id = a.id AND g.name = s.name
WHERE a.portal_id = $1 AND a.uninstalled_at IS NULL
ORDER BY s.position, s.id
"""

# All installed apps too: an open alert makes an app ERROR in the summary.
ALERTS_SQL = """
SELECT al.id, al.app_id, al.severity, al.code, al.message, al.raised_at
FROM app_alert al JOIN connected_app a ON a.id = al.app_id
WHERE a.portal_id = $1 AND a.uninstalled_at IS NULL AND al.resolved_at IS NULL
ORDER BY al.raised_at DESC, al.id DESC
"""

LOG_SQL = """
SELECT r.id, r.app_id, r.activity, r.occurred_at, r.user_id, u.name AS user_name
FROM (
    SELECT e.id, e.app_id, e.activity, e.occurred_at, e.user_id,
           row_number() OVER (PARTITION BY e.app_id ORDER BY e.occurred_at DESC, e.id DESC) AS rn
    FROM app_log_entry e
    WHERE e.app_id = ANY($1::int[])
) r
LEFT JOIN app_user u ON u.id = r.user_id
WHERE r.rn <= $2
ORDER BY r.app_id, r.occurred_at DESC, r.id DESC
"""


# One statement per combination of the filter's parts, so each gets its own plan: a single
# statement with "$n IS NULL OR ..." would get a generic plan fit for none of them. The cursor is
# a row comparison, which PostgreSQL uses as a bound of the (portal, occurred_at, id) index.
LOG_PAGE_SELECT = """
SELECT e.id, e.activity, e.occurred_at, e.app_id, a.name AS app_name, a.install_level,
       e.user_id, u.name AS user_name, u.email AS user_email
FROM app_log_entry e
JOIN connected_app a ON a.id = e.app_id
LEFT JOIN app_user u ON u.id = e.user_id
WHERE e.portal_id = $1
"""
ACTIVITIES = frozenset(
    ["INSTALLED", "UNINSTALLED", "REINSTALLED", "DISCONNECTED", "RECONNECTED", "REAUTHORIZED"]
)
MAX_PAGE_SIZE = 100  # the gateway's default max_page_size


class Unauthenticated(Exception):
    pass


class BadRequest(Exception):
    pass


def global_id(type_name: str, pk: int) -> str:
    """gateway/ids.py to_global_id."""
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


def decode_global_id(value: Any, type_name: str) -> int:
    """The primary key of a well-formed `type_name` id, else Unauthenticated (as the gateway)."""
    try:
        raw = base64.b64decode(str(value).encode(), validate=True).decode()
    except (binascii.Error, UnicodeError, ValueError):
        raise Unauthenticated from None
    name, _, pk = raw.partition(":")
    if name != type_name or not pk.isascii() or not pk.isdigit() or pk != str(int(pk)):
        raise Unauthenticated
    return int(pk)


def name_cursor(sort_name: str, pk: int) -> str:
    """gateway/pagination.py Order.encode for BY_NAME (stdlib json, as the gateway does)."""
    raw = json.dumps([sort_name, pk], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode()


def verify_token(header: str | None, secret: str) -> tuple[int, int]:
    """(user pk, portal pk) from a valid bearer token: the checks of gateway/auth.py, which
    also remembers a verified token until it expires."""
    scheme, _, token = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated
    token = token.strip()
    remembered = _verified.get((token, secret))
    if remembered is not None and remembered[0] > time.time() - 5:
        return remembered[1]
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=JWT_AUDIENCE,
            issuer=JWT_ISSUER,
            options={"require": ["exp", "iss", "aud", "sub", "portal"]},
            leeway=5,
        )
    except jwt.PyJWTError:
        raise Unauthenticated from None
    keys = decode_global_id(claims["sub"], "User"), decode_global_id(claims["portal"], "Portal")
    _verified[(token, secret)] = (int(claims["exp"]), keys)
    return keys


_verified: dict[tuple[str, str], tuple[int, tuple[int, int]]] = {}


def page_size(body: bytes) -> int:
    """`first` from the request's variables (the body must be a GraphQL JSON request)."""
    try:
        source = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadRequest("The request body is not valid JSON") from None
    if not isinstance(source, dict) or not isinstance(source.get("query"), str):
        raise BadRequest("`query` must be a non-empty string")
    first = (source.get("variables") or {}).get("first", DEFAULT_FIRST)
    if not isinstance(first, int) or not 0 <= first <= 100:
        raise BadRequest("`first` must be between 0 and 100")
    return first


def scope_views(rows: list[asyncpg.Record], tier_rank: int) -> dict[int, list[dict[str, Any]]]:
    """Scopes per app with their state (services/apps.py scope_state)."""
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if TIER_RANK[row["required_tier"]] > tier_rank:
            state = "NEEDS_UPGRADE"  # even when granted (after a downgrade)
        else:
            state = "GRANTED" if row["granted"] else "NEEDS_REAUTHORIZATION"
        out[row["app_id"]].append(
            {"name": row["name"], "state": state, "requiredTier": row["required_tier"]}
        )
    return out


def alert_views(rows: list[asyncpg.Record]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        out[row["app_id"]].append(
            {
                "id": global_id("AppAlert", row["id"]),
                "severity": row["severity"],
                "code": row["code"],
                "message": row["message"],
                "raisedAt": row["raised_at"],  # orjson writes RFC 3339 like isoformat()
            }
        )
    return out


def log_views(rows: list[asyncpg.Record]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        user = None
        if row["user_id"] is not None:
            user = {"id": global_id("User", row["user_id"]), "name": row["user_name"]}
        out[row["app_id"]].append(
            {
                "id": global_id("AppLogEntry", row["id"]),
                "activity": row["activity"],
                "occurredAt": row["occurred_at"],
                "user": user,
            }
        )
    return out


def status_of(app: asyncpg.Record, has_open_alert: bool) -> str | None:
    """services/apps.py derive_status (every app here is installed)."""
    if app["install_level"] == "MULTI_ACCOUNT":
        return None
    if app["disconnected"]:
        return "DISCONNECTED"
    return "ERROR" if has_open_alert else "CONNECTED"


def app_node(
    app: asyncpg.Record,
    status: str | None,
    scopes: list[dict[str, Any]],
    alerts: list[dict[str, Any]],
    log: list[dict[str, Any]],
) -> dict[str, Any]:
    states = {s["state"] for s in scopes}
    installed_by = None
    if app["installed_by_id"] is not None:
        installed_by = {
            "id": global_id("User", app["installed_by_id"]),
            "name": app["installer_name"],
        }
    return {
        "id": global_id("ConnectedApp", app["id"]),
        "name": app["name"],
        "installLevel": app["install_level"],
        "status": status,
        "installedAt": app["installed_at"],
        "installedBy": installed_by,
        "updateAvailable": "NEEDS_REAUTHORIZATION" in states,
        "upgradeAvailable": "NEEDS_UPGRADE" in states,
        "alerts": alerts,
        "scopes": scopes,
        "connections": {"totalCount": app["connection_count"]},
        "log": {"nodes": log},
    }


async def page_json(conn: Any, authorization: str | None, body: bytes, secret: str) -> bytes:
    """The whole response body: auth, 1 + 4 statements on `conn`, JSON assembly."""
    user_pk, portal_pk = verify_token(authorization, secret)
    first = page_size(body)
    viewer = await conn.fetchrow(AUTH_SQL, user_pk, portal_pk)
    if viewer is None:
        raise Unauthenticated
    portal_id, tier_rank = viewer["portal_id"], TIER_RANK[viewer["tier"]]

    apps = await conn.fetch(APPS_SQL, portal_id)
    scopes = scope_views(await conn.fetch(SCOPES_SQL, portal_id), tier_rank)
    alerts = alert_views(await conn.fetch(ALERTS_SQL, portal_id))
    page = apps[:first]
    logs = log_views(await conn.fetch(LOG_SQL, [a["id"] for a in page], LOG_ENTRIES))

    statuses = {a["id"]: status_of(a, bool(alerts.get(a["id"]))) for a in apps}
    with_status = [a for a in apps if statuses[a["id"]] is not None]
    flags = {a["id"]: {s["state"] for s in scopes.get(a["id"], [])} for a in with_status}
    summary = {
        "total": len(with_status),
        "connected": sum(statuses[a["id"]] == "CONNECTED" for a in with_status),
        "disconnected": sum(statuses[a["id"]] == "DISCONNECTED" for a in with_status),
        "errored": sum(statuses[a["id"]] == "ERROR" for a in with_status),
        "updateAvailable": sum("NEEDS_REAUTHORIZATION" in flags[a["id"]] for a in with_status),
        "upgradeAvailable": sum("NEEDS_UPGRADE" in flags[a["id"]] for a in with_status),
    }
    edges = [
        {
            "cursor": name_cursor(a["sort_name"], a["id"]),
            "node": app_node(
                a,
                statuses[a["id"]],
                scopes.get(a["id"], []),
                alerts.get(a["id"], []),
                logs.get(a["id"], []),
            ),
        }
        for a in page
    ]
    connected_apps = {
        "totalCount": len(apps),
        "pageInfo": {
            "hasNextPage": len(apps) > first,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
        "edges": edges,
    }
    data = {"viewer": {"portal": {"appSummary": summary, "connectedApps": connected_apps}}}
    return orjson.dumps({"data": data})


def log_cursor(occurred_at: datetime, pk: int) -> str:
    """gateway/pagination.py Order.encode for NEWEST_LOG_FIRST: the same bytes as its
    json.dumps([isoformat, id], separators=(",", ":")), as an ISO timestamp needs no escaping."""
    return base64.urlsafe_b64encode(f'["{occurred_at.isoformat()}",{pk}]'.encode()).decode()


def decode_log_cursor(cursor: Any) -> tuple[datetime, int]:
    try:
        value, pk = json.loads(base64.urlsafe_b64decode(str(cursor).encode()))
        at = datetime.fromisoformat(value)
        if not isinstance(pk, int) or isinstance(pk, bool) or not 0 < pk < 2**31 or not at.tzinfo:
            raise ValueError
    except (ValueError, TypeError, binascii.Error, UnicodeError):
        raise BadRequest("`after` is not a cursor of this list") from None
    return at, pk


def _instant(flt: dict[str, Any], name: str) -> datetime | None:
    value = flt.get(name)
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise BadRequest(f"`filter.{name}` is not a DateTime") from None
    if at.tzinfo is None:
        raise BadRequest(f"`filter.{name}` needs a timezone (ISO 8601 with Z or an offset)")
    return at


def log_page_query(variables: dict[str, Any]) -> tuple[str, list[Any], int]:
    """(SQL after the portal's $1, its further arguments, page size) from the variables."""
    first = variables.get("first", DEFAULT_FIRST)
    if first is None:
        first = 20  # the gateway's page size when `first` is null
    if not isinstance(first, int) or not 0 <= first <= MAX_PAGE_SIZE:
        raise BadRequest(f"`first` must be between 0 and {MAX_PAGE_SIZE}")
    flt = variables.get("filter") or {}
    sql, args = LOG_PAGE_SELECT, list[Any]()
    activities = flt.get("activities")
    if activities is not None:
        if not isinstance(activities, list) or not set(activities) <= ACTIVITIES:
            raise BadRequest("`filter.activities` must list AppActivity values")
        args.append(sorted(set(activities)))
        sql += f"AND e.activity = ANY(${len(args) + 1}::text[])\n"
    for name, op in (("since", ">="), ("until", "<")):
        at = _instant(flt, name)
        if at is not None:
            args.append(at)
            sql += f"AND e.occurred_at {op} ${len(args) + 1}\n"
    after = variables.get("after")
    if after is not None:
        args.extend(decode_log_cursor(after))
        sql += f"AND (e.occurred_at, e.id) < (${len(args)}, ${len(args) + 1})\n"
    args.append(first + 1)  # one more row only says whether there is a next page
    sql += f"ORDER BY e.occurred_at DESC, e.id DESC LIMIT ${len(args) + 1}"
    return sql, args, first


async def log_page_json(conn: Any, authorization: str | None, body: bytes, secret: str) -> bytes:
    """The App log page's response body: auth, then 1 statement, JSON assembly."""
    user_pk, portal_pk = verify_token(authorization, secret)
    try:
        source = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadRequest("The request body is not valid JSON") from None
    if not isinstance(source, dict) or not isinstance(source.get("variables") or {}, dict):
        raise BadRequest("`variables` must be an object")
    sql, args, first = log_page_query(source.get("variables") or {})
    viewer = await conn.fetchrow(AUTH_SQL, user_pk, portal_pk)
    if viewer is None:
        raise Unauthenticated
    rows = await conn.fetch(sql, viewer["portal_id"], *args)
    edges = []
    for row in rows[:first]:
        user = None
        if row["user_id"] is not None:
            user = {
                "id": global_id("User", row["user_id"]),
                "name": row["user_name"],
                "email": row["user_email"],
            }
        edges.append(
            {
                "cursor": log_cursor(row["occurred_at"], row["id"]),
                "node": {
                    "id": global_id("AppLogEntry", row["id"]),
                    "activity": row["activity"],
                    "occurredAt": row["occurred_at"],
                    "app": {
                        "id": global_id("ConnectedApp", row["app_id"]),
                        "name": row["app_name"],
                        "installLevel": row["install_level"],
                    },
                    "user": user,
                },
            }
        )
    page_info = {
        "hasNextPage": len(rows) > first,
        "endCursor": edges[-1]["cursor"] if edges else None,
    }
    data = {"viewer": {"portal": {"appLog": {"pageInfo": page_info, "edges": edges}}}}
    return orjson.dumps({"data": data})


async def _keep_session(_connection: Any) -> None:
    """The pool's reset: nothing beyond asyncpg's own."""


def create_app(dsn: str, secret: str) -> Starlette:
    pool: asyncpg.Pool | None = None

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        nonlocal pool
        # As the gateway's pool (gateway/db.py): no reset statement when a connection goes
        # back, since nothing here leaves session state behind.
        pool = await asyncpg.create_pool(
            dsn, min_size=1, max_size=POOL_MAX_SIZE, reset=_keep_session
        )
        try:
            yield
        finally:
            await pool.close()

    async def graphql(request: Request) -> Response:
        body = await request.body()
        assert pool is not None
        try:
            # Which page: a substring test, as the body is parsed by the page's own code.
            handler = log_page_json if b"appLog" in body else page_json
            async with pool.acquire() as conn:
                payload = await handler(conn, request.headers.get("authorization"), body, secret)
        except Unauthenticated:
            return Response(UNAUTHENTICATED, status_code=401, media_type="application/json")
        except BadRequest as exc:
            error = {"errors": [{"message": str(exc), "extensions": {"code": "BAD_REQUEST"}}]}
            return Response(orjson.dumps(error), status_code=400, media_type="application/json")
        return Response(payload, media_type="application/json")

    async def healthz(_request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    routes = [Route("/graphql", graphql, methods=["POST"]), Route("/healthz", healthz)]
    return Starlette(routes=routes, lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dsn", required=True, help="postgres://user@host:port/database")
    parser.add_argument("--jwt-secret", required=True)
    args = parser.parse_args()
    # The gateway's own serving setup in bench/page.py: one worker, no access log.
    uvicorn.run(
        create_app(args.dsn, args.jwt_secret),
        host="127.0.0.1",
        port=args.port,
        workers=1,
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
