"""Rate limits: GCRA token buckets of `limit` points, refilled at `limit` points per `period`
seconds (DESIGN.md §3 "Rate limits").

A charge of `cost` points is allowed when the bucket holds them; a refused charge takes nothing,
and a cost larger than the whole bucket is always refused with `retry_after = ceil(period)`.
With a Redis URL every process shares the buckets through one atomic Lua script timed by Redis
itself. While Redis is unreachable (each call is bounded by `redis_timeout`) each process answers
from its own buckets of the full size, and tries Redis again at most every `retry_interval`
seconds; each switch is logged once and reported to `on_backend_change`. Redis trouble never
raises out of `charge`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript

logger = logging.getLogger("gateway.ratelimit")

_US = 1_000_000

# KEYS[1]: the bucket. ARGV[1]: the charge in microseconds. ARGV[2]: the whole bucket in
# microseconds. Returns {allowed (0/1), backlog}: the backlog is the bucket's TAT minus now
# before this charge, in microseconds (0 for a full bucket); Python derives the Decision from it
# so that both backends answer alike.
#
# Time comes from Redis so that every process agrees on "now" whatever its own clock says (Redis
# 7 replicates a script's effects, not the script, so TIME is allowed before a write). Times are
# integer microseconds: about 1.8e15 today, exact in Lua's doubles, which `tostring` would print
# with 14 significant digits only, hence `%.0f`. The key expires when the bucket is full again,
# since a missing key reads as a full bucket.
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local increment = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '')
local backlog = 0
if tat and tat > now then
  backlog = tat - now
end
if backlog + increment > burst then
  return {0, backlog}
end
local after = backlog + increment
redis.call('SET', KEYS[1], string.format('%.0f', now + after),
  'PX', math.max(1, math.ceil(after / 1000)))
return {1, backlog}
"""


@dataclass(frozen=True, slots=True)
class Decision:
    """What a client is told about one charge (the `RateLimit-*` and `Retry-After` headers)."""

    allowed: bool
    # The bucket's size in points.
    limit: int
    # Whole points available after this request: after an allowed charge, what is left; after a
    # refused one (which takes nothing), what was there, so a client refused for a cost of 3
    # with 2 points left sees 2. 0 when the bucket is empty.
    remaining: int
    # Whole seconds (rounded up) until the bucket is full again; 0 when it is full.
    reset: int
    # 0 when allowed; else whole seconds (rounded up, at least 1) until `cost` points are
    # available, or `ceil(period)` for a cost larger than the whole bucket, which never fits.
    retry_after: int


def _decide(
    *, allowed: bool, backlog: int, increment: int, burst: int, cost: int, limit: int
) -> Decision:
    """The Decision for a charge, from the bucket's backlog before it (both in microseconds)."""
    after = backlog + increment if allowed else backlog
    # (burst - after) / T with T = burst / limit, kept in integers so no point is lost to
    # floating-point error.
    remaining = max(0, (burst - after) * limit // burst)
    reset = -(-after // _US)
    if allowed:
        retry_after = 0
    elif cost > limit:
        retry_after = -(-burst // _US)
    else:
        retry_after = max(1, -(-(backlog + increment - burst) // _US))
    return Decision(
        allowed=allowed, limit=limit, remaining=remaining, reset=reset, retry_after=retry_after
    )


class RateLimiter:
    """Token buckets named by key, in Redis when it answers, else in this process."""

    def __init__(
        self,
        redis_url: str | None,
        prefix: str,
        *,
        redis_timeout: float = 0.1,
        retry_interval: float = 5.0,
        local_max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
        on_backend_change: Callable[[str], None] | None = None,
    ) -> None:
        self._url = redis_url
        self._prefix = prefix
        self._timeout = redis_timeout
        self._retry_interval = retry_interval
        self._local_max_keys = local_max_keys
        self._clock = clock
        self._on_backend_change = on_backend_change
        self._backend = "local" if redis_url is None else "redis"
        # While local: the `clock()` time from which Redis may be tried again.
        self._retry_at = 0.0
        self._client: redis.Redis | None = None
        self._script: AsyncScript | None = None
        # Key → TAT in microseconds of `clock()`, least recently charged first.
        self._local: dict[str, int] = {}

    @property
    def backend(self) -> str:
        """Where the buckets live: `redis` (shared) or `local` (this process's own)."""
        return self._backend

    async def charge(self, key: str, cost: int, limit: int, period: float = 60.0) -> Decision:
        """Take `cost` points from `key`'s bucket of `limit` points if it holds them."""
        if cost < 1 or limit < 1:
            raise ValueError(f"cost and limit must be at least 1 (got {cost} and {limit})")
        if period <= 0:
            raise ValueError(f"period must be positive (got {period})")
        burst = max(1, round(period * _US))
        # Rounding each charge down errs by under a microsecond per charge in the client's
        # favour, where rounding up could refuse the last of `limit` one-point charges.
        # A cost beyond the bucket is sent as one that can never fit, so the backend refuses it
        # (taking nothing) and still reports the bucket's state.
        increment = burst + 1 if cost > limit else cost * burst // limit

        if self._url is not None and (self._backend == "redis" or self._clock() >= self._retry_at):
            if self._backend == "local":
                # Concurrent requests must not all probe a Redis that is likely still down.
                self._retry_at = self._clock() + self._retry_interval
            try:
                async with asyncio.timeout(self._timeout):
                    allowed, backlog = await self._redis_charge(key, increment, burst)
            # Whatever goes wrong on the way to Redis (refused or reset connections, timeouts,
            # a bad URL, a script error) must not fail the request: local buckets answer.
            except Exception as error:
                self._switch_to_local(error)
                allowed, backlog = self._local_charge(key, increment, burst)
            else:
                self._switch_to_redis()
        else:
            allowed, backlog = self._local_charge(key, increment, burst)
        return _decide(
            allowed=allowed,
            backlog=backlog,
            increment=increment,
            burst=burst,
            cost=cost,
            limit=limit,
        )

    async def close(self) -> None:
        client, self._client, self._script = self._client, None, None
        if client is not None:
            await client.aclose()

    async def _redis_charge(self, key: str, increment: int, burst: int) -> tuple[bool, int]:
        script = self._script
        if script is None:
            assert self._url is not None
            self._client = redis.from_url(
                self._url,
                socket_timeout=self._timeout,
                socket_connect_timeout=self._timeout,
                # One fresh attempt for a connection the server dropped; the whole call stays
                # within `redis_timeout` anyway.
                retry=Retry(NoBackoff(), 1),
            )
            # EVALSHA, falling back to loading the script when the server lacks it (a restart).
            script = self._script = self._client.register_script(_SCRIPT)
        allowed, backlog = await script(keys=[f"{self._prefix}:rl:{key}"], args=[increment, burst])
        return bool(allowed), int(backlog)

    def _local_charge(self, key: str, increment: int, burst: int) -> tuple[bool, int]:
        now = int(self._clock() * _US)
        tat = self._local.get(key, now)
        backlog = max(0, tat - now)
        if backlog + increment > burst:
            return False, backlog
        # Re-inserting keeps the dict ordered by last charge, so eviction drops the buckets
        # charged longest ago, most of which are full again anyway.
        self._local.pop(key, None)
        self._local[key] = now + backlog + increment
        while len(self._local) > self._local_max_keys:
            # A forgotten bucket reads as full: eviction only ever errs in the client's favour.
            del self._local[next(iter(self._local))]
        return True, backlog

    def _switch_to_local(self, error: BaseException) -> None:
        self._retry_at = self._clock() + self._retry_interval
        if self._backend == "local":
            return
        self._backend = "local"
        logger.warning(
            "Rate limits: Redis unreachable (%s); using this process's buckets, "
            "retrying Redis at most every %g s",
            f"{type(error).__name__}: {error}" if str(error) else type(error).__name__,
            self._retry_interval,
        )
        if self._on_backend_change is not None:
            self._on_backend_change("local")

    def _switch_to_redis(self) -> None:
        if self._backend == "redis":
            return
        self._backend = "redis"
        # Redis holds the shared state again; these buckets would only be stale by the next
        # outage.
        self._local.clear()
        logger.info("Rate limits: Redis reachable again; buckets are shared")
        if self._on_backend_change is not None:
            self._on_backend_change("redis")
