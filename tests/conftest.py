"""Test harness: one real database per pytest process (SQLite file, or PostgreSQL when
GATEWAY_TEST_DATABASE_URL is set), migrated from empty, the demo data seeded at a fixed anchor,
and the app served through its real ASGI stack.

The API suite runs once per executor (the test ids say which): ours and graphql-core, the
reference, on SQLite; ours on PostgreSQL. Each executor's session starts from an empty,
freshly migrated database with the demo data seeded again."""

from __future__ import annotations

import gc
import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import pytest_asyncio
from starlette.applications import Starlette
from strawberry import Schema

from gateway import db
from gateway.broker import Broker
from gateway.settings import Settings

# Demo data is deterministic for an anchor; every test that reads it uses this one.
ANCHOR = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)
JWT_SECRET = "test-jwt-secret-0123456789abcdef0123456789"
EVENTS_SECRET = "test-events-secret-0123456789abcdef012345"

PG_URL = os.environ.get("GATEWAY_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("GATEWAY_TEST_REDIS_URL")
# Browser tests drive Debian's chromium through chromium-driver (CONSOLE.md): once per CI run,
# in its PostgreSQL + Redis stage.
BROWSER = shutil.which("chromium") is not None and shutil.which("chromedriver") is not None
EXECUTORS = ["fast"] if PG_URL else ["fast", "reference"]


def _on_another_executor_for_nothing(item: pytest.Item) -> bool:
    """A test that runs no GraphQL gains nothing from a second executor."""
    callspec = getattr(item, "callspec", None)
    executor = callspec.params.get("settings") if callspec is not None else None
    return executor not in (None, EXECUTORS[0]) and bool(item.get_closest_marker("one_executor"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing = {"postgres": not PG_URL, "redis": not REDIS_URL}
    deselected = [
        item
        for item in items
        if any(item.get_closest_marker(m) and gone for m, gone in missing.items())
    ]
    _deselect(config, items, [item for item in items if _on_another_executor_for_nothing(item)])
    browserless = [
        item for item in items if item.get_closest_marker("browser") and not (BROWSER and PG_URL)
    ]
    _deselect(
        config,
        items,
        browserless,
        f"{len(browserless)} browser tests were deselected: they run with Debian's chromium "
        "and chromium-driver installed, on PostgreSQL and Redis (.ci/run does).",
    )
    _deselect(
        config,
        items,
        deselected,
        f"{len(deselected)} tests need PostgreSQL/Redis and were deselected: set "
        "GATEWAY_TEST_DATABASE_URL and GATEWAY_TEST_REDIS_URL to run them (.ci/run does).",
    )


def _deselect(
    config: pytest.Config, items: list[pytest.Item], chosen: list[pytest.Item], why: str = ""
) -> None:
    if not chosen:
        return
    items[:] = [item for item in items if item not in chosen]
    config.hook.pytest_deselected(items=chosen)
    if why:
        print(f"\n{why}")


async def reset_database(url: str) -> None:
    """Start from an empty database, as a fresh install would."""
    if url.startswith(("postgres://", "postgresql://", "asyncpg://")):
        import asyncpg

        dsn = url.replace("asyncpg://", "postgres://", 1)
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        finally:
            await conn.close()
    elif url.startswith("sqlite://"):
        path = url.removeprefix("sqlite://")
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)


@pytest.fixture(scope="module")
def abandoned_coroutines_collected() -> Iterator[None]:
    """For modules that run graphql-core's executor into nulls that propagate: it leaves the
    coroutines of sibling fields unawaited, and the cycle collector finds them. Collected when
    the module's last test ends, so the warnings they raise are the module's, which filters
    them, not a later module's; once per module, because a full collection of the suite's heap
    takes half a second."""
    yield
    gc.collect()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return PG_URL or f"sqlite://{tmp_path_factory.mktemp('db') / 'gateway.sqlite3'}"


@pytest.fixture(scope="session", params=EXECUTORS)
def settings(request: pytest.FixtureRequest, database_url: str) -> Settings:
    return Settings(
        executor=request.param,
        database_url=database_url,
        redis_url=REDIS_URL,  # with Redis, envelopes make the round trip through it
        jwt_secret=JWT_SECRET,
        events_secret=EVENTS_SECRET,
        debug=False,
        run_worker_in_process=False,  # tests run worker passes themselves, with their own clock
        # The suite sends thousands of requests as a handful of viewers and from one address:
        # rate limits have tests of their own (tests/test_rate_limits.py).
        rate_limit_points=0,
        rate_limit_anonymous=0,
    )


@pytest_asyncio.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    """The gateway app with its lifespan entered: the database is open for the whole session."""
    from gateway.app import create_app

    await reset_database(settings.database_url)
    await db.migrate(settings.database_url)
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest_asyncio.fixture(scope="session")
async def demo(app: object) -> object:
    """The demo data, seeded once at ANCHOR. Read-only for tests: writers make their own data."""
    from gateway.demo import seed_demo

    return await seed_demo(anchor=ANCHOR)


@pytest_asyncio.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def make_client(app: object, settings: Settings):
    """A client for an app built with other settings (debug, limits, RS256…). It shares the
    session's open database: ASGITransport does not run the second app's lifespan."""
    from contextlib import asynccontextmanager

    from gateway.app import create_app

    @asynccontextmanager
    async def factory(**changes: object) -> AsyncIterator[httpx.AsyncClient]:
        other = create_app(settings.with_(**changes))
        transport = httpx.ASGITransport(app=other)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c

    return factory


Gateway = Callable[..., AbstractAsyncContextManager[Starlette]]


@pytest.fixture
def gateway(app: Starlette, settings: Settings) -> Gateway:
    """A fresh app with other settings (rate limits on, trusted documents…) and series of its
    own, sharing the session's open database, on a Redis namespace of its own unless the test
    names one (`redis_prefix`)."""
    import uuid

    from gateway.app import create_app

    @asynccontextmanager
    async def build(**changes: Any) -> AsyncIterator[Starlette]:
        changes.setdefault("redis_prefix", f"test-{uuid.uuid4().hex}")
        other = create_app(settings.with_(**changes))
        try:
            yield other
        finally:
            # Its lifespan isn't run (it would close the session's database): what the rate
            # limiter and the persisted queries' store opened in Redis is closed here.
            await other.state.policy.limiter.close()
            await other.state.persisted.automatic.close()
            await other.state.exports.used.close()

    return build


class Envelopes(list):
    """Envelopes the session app's broker delivered, in order."""

    def __init__(self, broker: Broker) -> None:
        super().__init__()
        self.broker = broker

    async def settled(self) -> Envelopes:
        """Wait until everything published so far has been delivered (Redis is asynchronous)."""
        await self.broker.settled()
        return self


@pytest_asyncio.fixture
async def envelopes(app):
    # What earlier tests published is delivered first: over Redis it may still be on its way,
    # and it is not this test's.
    await app.state.publisher.settled()
    recorder = Envelopes(app.state.publisher)
    stop = app.state.publisher.listen(recorder.append)
    yield recorder
    stop()


@pytest.fixture
def executions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The documents handed to the schema for execution while the test runs."""
    seen: list[str] = []
    original = Schema.execute

    async def spy(self: Schema, query: str | None, *args: Any, **kwargs: Any) -> Any:
        seen.append(query or "")
        return await original(self, query, *args, **kwargs)

    monkeypatch.setattr(Schema, "execute", spy)
    return seen
