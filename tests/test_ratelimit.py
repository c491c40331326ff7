"""The rate limiter library (gateway/ratelimit.py) as a client of it sees it: GCRA buckets in
this process, shared through a real Redis, and the fall-back to local buckets while Redis is
unreachable, silent, or back again."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
import redis.asyncio as redis

from gateway.ratelimit import Decision, RateLimiter
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.one_executor


class Clock:
    """An injected monotonic clock that moves only when the test says so."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _prefix() -> str:
    return f"test-rl-{uuid.uuid4().hex}"


def _free_port() -> int:
    """A port where nothing listens (it was free a moment ago and is not ours any more)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answer(allowed: bool, remaining: int, reset: int, retry_after: int, limit: int = 10):
    return Decision(
        allowed=allowed, limit=limit, remaining=remaining, reset=reset, retry_after=retry_after
    )


async def _charges(limiter: RateLimiter, key: str, n: int, limit: int = 10) -> list[Decision]:
    return [await limiter.charge(key, 1, limit) for _ in range(n)]


class SilentServer:
    """Accepts TCP connections and never answers: a hung Redis."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while await reader.read(65536):
                pass
        except OSError:
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()


class Proxy:
    """A TCP proxy in front of the real Redis that can be stopped (dropping every connection)
    and started again on the same port: Redis going away and coming back."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            self._writers.discard(writer)
            self._handlers.discard(task)
            return
        self._writers.add(upstream_writer)
        try:
            await asyncio.gather(
                self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)
            )
        finally:
            for w in (writer, upstream_writer):
                w.close()
                self._writers.discard(w)
            self._handlers.discard(task)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            # One side gone: end the other, as a dropped connection would.
            writer.close()

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None


@pytest_asyncio.fixture
async def raw_redis() -> AsyncIterator[redis.Redis]:
    """A plain client to look at what the limiter stored."""
    assert REDIS_URL is not None
    client = redis.from_url(REDIS_URL)
    try:
        yield client
    finally:
        await client.aclose()


# Local buckets


async def test_local_bucket_allows_its_size_then_refuses_until_a_point_refills() -> None:
    clock = Clock()
    limiter = RateLimiter(None, _prefix(), clock=clock)
    assert limiter.backend == "local"

    # 10 points over 60 s: one point every 6 s, so each charge pushes "full again" 6 s later.
    assert await _charges(limiter, "viewer", 10) == [
        _answer(True, remaining=10 - n, reset=6 * n, retry_after=0) for n in range(1, 11)
    ]
    assert await limiter.charge("viewer", 1, 10) == _answer(False, 0, reset=60, retry_after=6)

    clock.advance(5.5)
    assert await limiter.charge("viewer", 1, 10) == _answer(False, 0, reset=55, retry_after=1)

    clock.advance(0.5)
    assert await limiter.charge("viewer", 1, 10) == _answer(True, 0, reset=60, retry_after=0)
    assert await limiter.charge("viewer", 1, 10) == _answer(False, 0, reset=60, retry_after=6)

    # Once the whole period has passed the bucket is full again.
    clock.advance(60)
    assert await limiter.charge("viewer", 1, 10) == _answer(True, 9, reset=6, retry_after=0)
    await limiter.close()


async def test_local_refused_charge_takes_nothing() -> None:
    clock = Clock()
    limiter = RateLimiter(None, _prefix(), clock=clock)
    await _charges(limiter, "viewer", 8)

    # 2 points left, 3 asked: refused, 6 s until the third point, and the 2 are still there.
    assert await limiter.charge("viewer", 3, 10) == _answer(False, 2, reset=48, retry_after=6)
    assert await limiter.charge("viewer", 3, 10) == _answer(False, 2, reset=48, retry_after=6)
    assert await _charges(limiter, "viewer", 3) == [
        _answer(True, 1, reset=54, retry_after=0),
        _answer(True, 0, reset=60, retry_after=0),
        _answer(False, 0, reset=60, retry_after=6),
    ]


async def test_local_cost_above_the_bucket_is_refused_with_retry_after_a_period() -> None:
    limiter = RateLimiter(None, _prefix(), clock=Clock())

    assert await limiter.charge("viewer", 11, 10) == _answer(False, 10, reset=0, retry_after=60)
    await limiter.charge("viewer", 1, 10)
    assert await limiter.charge("viewer", 500, 10) == _answer(False, 9, reset=6, retry_after=60)
    assert await limiter.charge("viewer", 11, 10, period=90.5) == _answer(
        False, 9, reset=6, retry_after=91
    )
    # Nothing was taken by the refusals: the other 9 points are all there.
    assert [d.allowed for d in await _charges(limiter, "viewer", 10)] == [True] * 9 + [False]


async def test_local_keys_are_independent() -> None:
    limiter = RateLimiter(None, _prefix(), clock=Clock())
    await _charges(limiter, "alice", 10)
    assert not (await limiter.charge("alice", 1, 10)).allowed

    assert await limiter.charge("bob", 1, 10) == _answer(True, 9, reset=6, retry_after=0)
    # A bucket is named by its key alone; its size comes with each charge.
    assert await limiter.charge("carol", 4, 2000) == _answer(
        True, 1996, reset=1, retry_after=0, limit=2000
    )


async def test_local_bucket_whose_size_does_not_divide_the_period() -> None:
    """7 points a minute: the emission interval (8.571… s) is not a whole number of
    microseconds, and still exactly 7 charges fit."""
    clock = Clock()
    limiter = RateLimiter(None, _prefix(), clock=clock)
    decisions = await _charges(limiter, "viewer", 8, limit=7)
    assert [d.remaining for d in decisions] == [6, 5, 4, 3, 2, 1, 0, 0]
    assert [d.allowed for d in decisions] == [True] * 7 + [False]
    assert decisions[0].reset == 9  # ceil(60 / 7)
    assert decisions[-1].retry_after == 9

    clock.advance(60 / 7)
    assert (await limiter.charge("viewer", 1, 7)).allowed


async def test_local_buckets_stay_within_local_max_keys() -> None:
    limiter = RateLimiter(None, _prefix(), clock=Clock(), local_max_keys=2)
    await _charges(limiter, "a", 10)
    await _charges(limiter, "b", 10)
    await limiter.charge("c", 1, 10)

    # "b" and "c", charged last, are kept; "a", charged longest ago, was forgotten and reads
    # as full: generous, never stricter.
    assert not (await limiter.charge("b", 1, 10)).allowed
    assert await limiter.charge("a", 1, 10) == _answer(True, 9, reset=6, retry_after=0)
    assert len(limiter._local) <= 2

    for n in range(1000):
        await limiter.charge(f"key-{n}", 1, 10)
    assert len(limiter._local) == 2


async def test_cost_or_limit_below_one_is_a_programming_error() -> None:
    limiter = RateLimiter(None, _prefix())
    with pytest.raises(ValueError):
        await limiter.charge("viewer", 0, 10)
    with pytest.raises(ValueError):
        await limiter.charge("viewer", 1, 0)
    with pytest.raises(ValueError):
        await limiter.charge("viewer", 1, 10, period=0)


# Redis


@pytest.mark.redis
async def test_redis_two_processes_share_one_bucket(raw_redis: redis.Redis) -> None:
    prefix = _prefix()
    assert REDIS_URL is not None
    # Each "process" has its own clock, far apart: Redis's TIME is the one that counts.
    one = RateLimiter(REDIS_URL, prefix, redis_timeout=2.0, clock=Clock(0.0))
    two = RateLimiter(REDIS_URL, prefix, redis_timeout=2.0, clock=Clock(1e6))
    try:
        decisions = [await (one, two)[n % 2].charge("viewer", 1, 10) for n in range(10)]
        # Points refill every 6 s, so the remaining counts hold unless the test stalls for 6 s.
        assert [d.remaining for d in decisions] == list(range(9, -1, -1))
        assert all(d.allowed and d.retry_after == 0 for d in decisions)
        assert all(6 * (n - 1) < d.reset <= 6 * n for n, d in enumerate(decisions, start=1))

        for limiter in (one, two):
            refused = await limiter.charge("viewer", 1, 10)
            assert not refused.allowed
            assert refused.remaining == 0
            assert 0 < refused.retry_after <= 6
            assert 54 < refused.reset <= 60
        assert one.backend == two.backend == "redis"

        # Another key of the same deployment is its own bucket.
        assert (await two.charge("other", 1, 10)).remaining == 9
    finally:
        await one.close()
        await two.close()


@pytest.mark.redis
async def test_redis_refused_charges_change_nothing(raw_redis: redis.Redis) -> None:
    prefix = _prefix()
    assert REDIS_URL is not None
    limiter = RateLimiter(REDIS_URL, prefix, redis_timeout=2.0)
    key = f"{prefix}:rl:viewer"
    try:
        await _charges(limiter, "viewer", 8)
        stored = await raw_redis.get(key)
        pttl = await raw_redis.pttl(key)

        refused = await limiter.charge("viewer", 3, 10)
        assert not refused.allowed
        assert refused.remaining == 2
        assert 0 < refused.retry_after <= 6
        over = await limiter.charge("viewer", 11, 10)
        assert (over.allowed, over.remaining, over.retry_after) == (False, 2, 60)

        assert await raw_redis.get(key) == stored
        assert 0 < await raw_redis.pttl(key) <= pttl
        decisions = await _charges(limiter, "viewer", 3)
        assert [(d.allowed, d.remaining) for d in decisions] == [(True, 1), (True, 0), (False, 0)]
        assert limiter.backend == "redis"
    finally:
        await limiter.close()


@pytest.mark.redis
async def test_redis_cost_above_the_bucket_charges_nothing(raw_redis: redis.Redis) -> None:
    prefix = _prefix()
    assert REDIS_URL is not None
    limiter = RateLimiter(REDIS_URL, prefix, redis_timeout=2.0)
    try:
        assert await limiter.charge("viewer", 11, 10) == _answer(False, 10, 0, retry_after=60)
        assert await raw_redis.exists(f"{prefix}:rl:viewer") == 0
    finally:
        await limiter.close()


@pytest.mark.redis
async def test_redis_bucket_expires_when_full_again(raw_redis: redis.Redis) -> None:
    prefix = _prefix()
    assert REDIS_URL is not None
    limiter = RateLimiter(REDIS_URL, prefix, redis_timeout=2.0)
    key = f"{prefix}:rl:viewer"
    try:
        await limiter.charge("viewer", 1, 10)
        # One point of 10 a minute is back in 6 s, and then the bucket is full: nothing to keep.
        assert 0 < await raw_redis.pttl(key) <= 6_000
        await _charges(limiter, "viewer", 9)
        assert 54_000 < await raw_redis.pttl(key) <= 60_000
    finally:
        await limiter.close()


# Falling back to local buckets


async def test_unreachable_redis_answers_from_local_buckets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    changes: list[str] = []
    limiter = RateLimiter(
        f"redis://127.0.0.1:{_free_port()}/0",
        _prefix(),
        clock=clock,
        on_backend_change=changes.append,
    )
    try:
        with caplog.at_level(logging.INFO, logger="gateway.ratelimit"):
            decisions = await _charges(limiter, "viewer", 3, limit=3)
            assert limiter.backend == "local"
            assert [d.remaining for d in decisions] == [2, 1, 0]
            assert await limiter.charge("viewer", 1, 3) == _answer(
                False, 0, reset=60, retry_after=20, limit=3
            )
            # Retrying Redis (after each interval) and failing again is not another switch.
            for _ in range(3):
                clock.advance(5.1)
                await limiter.charge("viewer", 1, 3)
                assert limiter.backend == "local"
        assert changes == ["local"]
        records = [r for r in caplog.records if r.name == "gateway.ratelimit"]
        assert [r.levelno for r in records] == [logging.WARNING]
    finally:
        await limiter.close()


async def test_silent_redis_is_given_up_on_within_the_timeout() -> None:
    server = SilentServer()
    port = await server.start()
    changes: list[str] = []
    limiter = RateLimiter(
        f"redis://127.0.0.1:{port}/0",
        _prefix(),
        redis_timeout=0.1,
        clock=Clock(),
        on_backend_change=changes.append,
    )
    try:
        started = time.monotonic()
        decision = await limiter.charge("viewer", 1, 10)
        assert time.monotonic() - started < 1.0
        assert decision == _answer(True, 9, reset=6, retry_after=0)
        assert limiter.backend == "local"
        assert changes == ["local"]
    finally:
        await limiter.close()
        await server.stop()


@pytest.mark.redis
async def test_redis_back_again_is_used_again_after_the_retry_interval() -> None:
    assert REDIS_URL is not None
    target = urlsplit(REDIS_URL)
    proxy = Proxy(target.hostname or "127.0.0.1", target.port or 6379)
    await proxy.start()
    clock = Clock()
    changes: list[str] = []
    limiter = RateLimiter(
        f"redis://127.0.0.1:{proxy.port}{target.path}",
        _prefix(),
        redis_timeout=1.0,
        retry_interval=5.0,
        clock=clock,
        on_backend_change=changes.append,
    )
    try:
        assert (await limiter.charge("viewer", 1, 10)).remaining == 9
        assert limiter.backend == "redis"

        await proxy.stop()
        # Answered from a fresh local bucket: the shared one is out of reach.
        assert (await limiter.charge("viewer", 1, 10)).remaining == 9
        assert limiter.backend == "local"
        assert changes == ["local"]

        await proxy.start()
        clock.advance(4.9)
        await limiter.charge("viewer", 1, 10)
        assert limiter.backend == "local"  # not tried again yet

        clock.advance(0.2)
        # Back on the shared bucket, which kept the first charge (and not the local ones).
        assert (await limiter.charge("viewer", 1, 10)).remaining == 8
        assert limiter.backend == "redis"
        assert changes == ["local", "redis"]
    finally:
        await limiter.close()
        await proxy.stop()
