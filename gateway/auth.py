"""Bearer-token authentication (DESIGN §3): PyJWT, HS256 with a shared secret or RS256 only
when a public key is configured. Every failure looks the same to the caller."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from gateway import rows
from gateway.ids import decode_id, to_global_id
from gateway.models import Portal, User
from gateway.settings import Settings

UNAUTHENTICATED_MESSAGE = "Authentication required: send a valid bearer token"
REQUIRED_CLAIMS = ["exp", "iss", "aud", "sub", "portal"]
# `exp` and `nbf` are checked with this much slack for clocks that drift apart.
CLOCK_LEEWAY_SECONDS = 5


class AuthenticationFailed(Exception):
    """Why is kept for the logs only; clients always get the same answer."""


class TokenExpired(AuthenticationFailed):
    """A token we signed, right in every other way, past its `exp`: the one failure a client
    is told about (in the challenge, not the body), so it knows to get a new token."""


@dataclass(frozen=True)
class Viewer:
    user: User
    portal: Portal


def _decode(token: str, settings: Settings) -> dict[str, Any]:
    key: str | None
    if settings.jwt_public_key:
        key, algorithms = settings.jwt_public_key, ["RS256"]
    else:
        key, algorithms = settings.effective_jwt_secret, ["HS256"]
    if not key:
        raise AuthenticationFailed("no verification key configured")

    def decode(verify_exp: bool) -> dict:
        return jwt.decode(
            token,
            key,
            algorithms=algorithms,  # a fixed list: "alg: none" and key-confusion tokens fail
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": REQUIRED_CLAIMS, "verify_exp": verify_exp},
            leeway=CLOCK_LEEWAY_SECONDS,
        )

    remembered = (token, key, settings.jwt_audience, settings.jwt_issuer)
    claims = _verified.get(remembered)
    if claims is not None:
        # PyJWT's own test: expired once `exp <= now - leeway`.
        if int(claims["exp"]) > time.time() - CLOCK_LEEWAY_SECONDS:
            _verified.move_to_end(remembered)
            return claims
        del _verified[remembered]  # past its expiry: decoded again below, and refused
    try:
        claims = decode(verify_exp=True)
    except jwt.ExpiredSignatureError as expired:
        # PyJWT checks `exp` before `iss` and `aud`: only a token that passes those too is
        # called expired, since a new token is what it needs and all it needs.
        try:
            decode(verify_exp=False)
        except jwt.PyJWTError as exc:
            raise AuthenticationFailed(str(exc)) from exc
        raise TokenExpired(str(expired)) from expired
    except jwt.PyJWTError as exc:
        raise AuthenticationFailed(str(exc)) from exc
    _verified[remembered] = claims
    if len(_verified) > VERIFIED_TOKENS_KEPT:
        _verified.popitem(last=False)
    return claims


# Tokens that passed verification, with their claims, for the requests and socket operations
# that present them again: a token is reused for hours, and verifying its signature and
# claims is a fifth of a small request's CPU. A token passed once stays good until `exp` (its
# `nbf` and `iat` are in the past for good), so only expiry is checked again; failures are
# not kept. Keyed by the verification key, audience and issuer too: settings may change.
VERIFIED_TOKENS_KEPT = 4096
_verified: OrderedDict[tuple[str, str, str, str], dict[str, Any]] = OrderedDict()


def bearer_token(header: str | None) -> str:
    scheme, _, token = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed("missing bearer token")
    return token.strip()


@dataclass(frozen=True)
class Bearer:
    """What a verified token says: whose it is, and until when."""

    user_pk: int
    portal_pk: int
    expires: datetime


def verify(header: str | None, settings: Settings) -> Bearer:
    """The token of an Authorization header, verified (no statement: the viewer is read by
    `viewer_of`), or AuthenticationFailed."""
    claims = _decode(bearer_token(header), settings)
    user_pk = decode_id(str(claims["sub"]), "User")
    portal_pk = decode_id(str(claims["portal"]), "Portal")
    if user_pk is None or portal_pk is None:
        raise AuthenticationFailed("sub or portal is not a global id")
    return Bearer(user_pk, portal_pk, datetime.fromtimestamp(int(claims["exp"]), UTC))


async def viewer_of(bearer: Bearer) -> Viewer:
    """The viewer a verified token names, or AuthenticationFailed once they are gone."""
    viewer = await load_viewer(bearer.user_pk, bearer.portal_pk)
    if viewer is None:
        raise AuthenticationFailed("user not in the token's portal")
    return viewer


async def authenticate(header: str | None, settings: Settings) -> tuple[Viewer, datetime]:
    """The viewer and the token's expiry, or AuthenticationFailed."""
    bearer = verify(header, settings)
    return await viewer_of(bearer), bearer.expires


async def load_viewer(user_pk: int, portal_pk: int) -> Viewer | None:
    """The user as they are now, or None once they are deleted or no longer in the portal.
    Read per request: over a long-lived socket, per operation.

    Every request runs this statement, so its SQL is written once per dialect instead of being
    built by the ORM's query builder each time (a third of a small request's CPU)."""
    client = User._meta.db
    sql = _viewer_sql.get(client.capabilities.dialect)
    if sql is None:
        user, portal = rows.parameters(client, 2)
        sql = _viewer_sql[client.capabilities.dialect] = (
            f"SELECT {rows.columns(User, 'u')}, {rows.columns(Portal, 'p', 'portal.')} "
            f'FROM "{User._meta.db_table}" u JOIN "{Portal._meta.db_table}" p '
            f'ON p."id" = u."portal_id" WHERE u."id" = {user} AND u."portal_id" = {portal}'
        )
    _count, found = await client.execute_query(sql, [user_pk, portal_pk])
    if not found:
        return None
    viewer = Viewer(
        user=rows.builder(User, found)(found[0]),
        portal=rows.builder(Portal, found, "portal.")(found[0]),
    )
    # What select_related would have set: `user.portal` is the portal read here.
    object.__setattr__(viewer.user, "_portal", viewer.portal)
    return viewer


_viewer_sql: dict[str, str] = {}


async def users_by_id(user_pks: Collection[int]) -> dict[int, User]:
    """Many users as they are now, by id, in one statement per 10,000 (deleted users are
    absent)."""
    found: dict[int, User] = {}
    ids = sorted(user_pks)
    for start in range(0, len(ids), _IDS_PER_STATEMENT):
        chunk = ids[start : start + _IDS_PER_STATEMENT]
        found.update((user.id, user) for user in await User.filter(id__in=chunk))
    return found


# Below the bound-parameter limits of SQLite (32,766) and asyncpg (32,767).
_IDS_PER_STATEMENT = 10_000


def mint_token(
    user: User,
    settings: Settings,
    *,
    ttl: timedelta = timedelta(hours=12),
    now: datetime | None = None,
    private_key: str | None = None,
) -> str:
    """A token for local use (`gateway token`, tests). RS256 needs the private key."""
    issued = now or datetime.now(UTC)
    claims = {
        "sub": to_global_id("User", user.id),
        "portal": to_global_id("Portal", user.portal_id),
        "iat": int(issued.timestamp()),
        "exp": int((issued + ttl).timestamp()),
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
    }
    if private_key:
        return jwt.encode(claims, private_key, algorithm="RS256")
    secret = settings.effective_jwt_secret
    if not secret:
        raise AuthenticationFailed("GATEWAY_JWT_SECRET is not set")
    return jwt.encode(claims, secret, algorithm="HS256")
