"""One-time signed URLs for the App log export (DESIGN §6 "Log export"): what
`createAppLogExport` gives the console, since a browser download cannot send a bearer header.

A link names its export in plain query parameters (what `GET /export/app-log` reads anyway)
and carries `token=<payload>.<signature>`: the payload binds the viewer, the portal, a digest
of the export's canonical form (format, filter and byte order mark), an expiry 60 s ahead and a
random nonce; the signature is HMAC-SHA256 under a key derived from the gateway's own secret.
So a link works only as issued (another format or filter, or a token moved to other
parameters, is refused), only until it expires (by `clock.utc_now`, which tests move), and only
once: the nonce is claimed on use, in Redis when the processes share one (SET NX, kept as long
as the link could be valid), else in this process.

The token is a credential for a minute: it is never logged (the gateway writes no access log,
and the export endpoint logs the request without its query string).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from gateway import clock
from gateway.settings import Settings

log = logging.getLogger("gateway.export_links")

VALIDITY = timedelta(seconds=60)
TOKEN_PARAMETER = "token"
_KEY_LABEL = b"gateway app log export links v1\x00"
_REDIS_TIMEOUT = 0.5


class LinkRefused(Exception):
    """Why a link is refused, for the log only: the client is told the same for every reason."""


@dataclass(frozen=True)
class Redeemed:
    """Whose export a valid link is, and its nonce (claimed separately: see `UsedLinks`)."""

    user_id: int
    portal_id: int
    nonce: str
    expires: int


def _key(settings: Settings) -> bytes:
    """The signing key: derived from the JWT secret (or, for RS256-only deployments, the
    events secret), so that no new setting is needed and the key is no other key."""
    secret = settings.effective_jwt_secret or settings.effective_events_secret
    if not secret:
        raise RuntimeError("no secret to sign export links with")
    return hashlib.sha256(_KEY_LABEL + secret.encode()).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def digest(canonical: str) -> str:
    return _b64(hashlib.sha256(canonical.encode()).digest())


def sign(
    settings: Settings, user_id: int, portal_id: int, canonical: str, now: datetime | None = None
) -> tuple[str, datetime]:
    """A token for this viewer's export of `canonical`, and when it expires."""
    expires_at = (now or clock.utc_now()) + VALIDITY
    payload = orjson.dumps(
        {
            "u": user_id,
            "p": portal_id,
            "d": digest(canonical),
            "e": int(expires_at.timestamp()),
            "n": secrets.token_urlsafe(16),
        }
    )
    body = _b64(payload)
    signature = hmac.new(_key(settings), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(signature)}", datetime.fromtimestamp(int(expires_at.timestamp()), UTC)


def verify(settings: Settings, token: str, canonical: str) -> Redeemed:
    """The link's viewer, if `token` was signed here for `canonical` and has not expired; else
    LinkRefused. Whether it was used already is `UsedLinks.claim`'s."""
    body, dot, sent = token.partition(".")
    if not dot or len(token) > 1000:
        raise LinkRefused("malformed token")
    expected = hmac.new(_key(settings), body.encode(), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(expected, _unb64(sent)):
            raise LinkRefused("bad signature")
        claims = orjson.loads(_unb64(body))
        user_id, portal_id, bound = int(claims["u"]), int(claims["p"]), str(claims["d"])
        expires, nonce = int(claims["e"]), str(claims["n"])
    except (ValueError, TypeError, KeyError, binascii.Error, orjson.JSONDecodeError):
        raise LinkRefused("malformed token") from None
    if not hmac.compare_digest(bound, digest(canonical)):
        raise LinkRefused("the parameters are not the ones the link was made for")
    if clock.utc_now().timestamp() >= expires:
        raise LinkRefused("expired")
    return Redeemed(user_id, portal_id, nonce, expires)


class UsedLinks:
    """Nonces of links used already, for as long as those links could still be valid: in
    Redis when configured (shared by every process), else in this process. While Redis is
    unreachable each process remembers its own (a link could then be used once per process
    within its minute), and Redis is tried again after `retry_seconds`."""

    def __init__(self, redis_url: str | None, prefix: str, retry_seconds: float = 5.0) -> None:
        self._prefix = f"{prefix}export-link:"
        self._local: dict[str, float] = {}
        self._retry_seconds = retry_seconds
        self._down_until = 0.0
        self._redis_url = redis_url
        self._redis: redis.Redis | None = None  # made on first use

    def _client(self) -> redis.Redis | None:
        if self._redis is None and self._redis_url is not None:
            self._redis = redis.from_url(
                self._redis_url,
                socket_connect_timeout=_REDIS_TIMEOUT,
                socket_timeout=_REDIS_TIMEOUT,
                retry=Retry(NoBackoff(), 0),
            )
        return self._redis

    async def claim(self, link: Redeemed) -> bool:
        """True the first time a link's nonce is claimed, False ever after (within its life)."""
        now = clock.utc_now().timestamp()
        ttl_ms = max(1, int((link.expires - now) * 1000) + 1000)
        client = self._client()
        if client is not None and time.monotonic() >= self._down_until:
            try:
                async with asyncio.timeout(_REDIS_TIMEOUT * 2):
                    claimed = await client.set(self._prefix + link.nonce, b"1", nx=True, px=ttl_ms)
                return bool(claimed)
            except (redis.RedisError, OSError, TimeoutError) as exc:
                log.warning("Redis unreachable for export links, remembering locally: %s", exc)
                self._down_until = time.monotonic() + self._retry_seconds
        for nonce, until in list(self._local.items()):
            if until <= now:
                del self._local[nonce]
        if link.nonce in self._local:
            return False
        self._local[link.nonce] = link.expires + 1.0
        return True

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None
