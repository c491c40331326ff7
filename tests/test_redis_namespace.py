"""Deployments that share one Redis server keep their live updates apart: every channel is
namespaced by `GATEWAY_REDIS_PREFIX`, by default a hash of the database the deployment uses."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import pytest

from gateway.app import create_app
from gateway.services.envelopes import Envelope
from gateway.settings import Settings, SettingsError, database_identity, default_redis_prefix
from tests.conftest import EVENTS_SECRET, JWT_SECRET, REDIS_URL

# Database names of this run's own, so concurrent runs on the shared Redis stay apart too.
RUN = uuid.uuid4().hex[:8]
ONE = f"postgres://gateway:s3cret@db.example.com:5432/one_{RUN}"
TWO = f"postgres://gateway:s3cret@db.example.com:5432/two_{RUN}"
# The same database as ONE, spelled differently: another scheme alias, other credentials (a
# rotated password), the host's case, the default port left out, and connection options.
ONE_AGAIN = {
    "postgresql-rotated-password": f"postgresql://gateway:rotated@db.example.com:5432/one_{RUN}",
    "asyncpg-no-credentials-default-port": f"asyncpg://db.example.com/one_{RUN}",
    "upper-case-host-with-options": f"postgres://o:pw@DB.EXAMPLE.COM/one_{RUN}?ssl=require&minsize=2",
}


class Received(list[Envelope]):
    """Envelopes one app's broker delivered to its listeners."""


@asynccontextmanager
async def deployment(database_url: str, **changes: Any) -> AsyncIterator[tuple[Any, Received]]:
    """One gateway app's broker on the shared Redis, started and listened to."""
    settings = Settings(
        database_url=database_url,
        redis_url=REDIS_URL,
        jwt_secret=JWT_SECRET,
        events_secret=EVENTS_SECRET,
        run_worker_in_process=False,
    ).with_(**changes)
    app = create_app(settings)
    broker = app.state.publisher
    received = Received()
    broker.listen(received.append)
    await broker.start()
    try:
        assert broker.healthy
        yield broker, received
    finally:
        await broker.stop()


async def published_and_seen(sender: Any, *others: Any) -> None:
    """`sender`'s envelopes so far went through Redis, and every other broker has read all
    that Redis gave it up to now: Redis wrote the sender's messages to every subscriber before
    it took the others' later markers, and one connection delivers in order."""
    await sender.settled()
    for other in others:
        await other.settled()


@pytest.mark.redis
async def test_deployments_with_different_databases_do_not_see_each_others_envelopes():
    # Given two deployments on different databases sharing one Redis server (and database index)
    async with AsyncExitStack() as stack:
        one, seen_by_one = await stack.enter_async_context(deployment(ONE))
        two, seen_by_two = await stack.enter_async_context(deployment(TWO))
        # When each publishes a change to its portal 1
        await one.publish(Envelope(portal_id=1, log_entries=(101,)))
        await two.publish(Envelope(portal_id=1, log_entries=(202,)))
        await published_and_seen(one, two)
        await published_and_seen(two, one)
        # Then each hears only its own
        assert seen_by_one == [Envelope(portal_id=1, log_entries=(101,))]
        assert seen_by_two == [Envelope(portal_id=1, log_entries=(202,))]


@pytest.mark.redis
@pytest.mark.parametrize("spelling", list(ONE_AGAIN.values()), ids=list(ONE_AGAIN))
async def test_processes_of_one_deployment_share_envelopes_however_the_url_is_spelled(spelling):
    # Given two processes of one deployment whose database URLs differ only in spelling
    async with deployment(ONE) as (one, _), deployment(spelling) as (again, seen):
        # When one of them publishes
        await one.publish(Envelope(portal_id=7, log_entries=(303,)))
        await published_and_seen(one, again)
        # Then the other hears it
        assert seen == [Envelope(portal_id=7, log_entries=(303,))]


@pytest.mark.redis
async def test_an_explicit_prefix_decides_who_shares(caplog):
    # Given two apps on different databases that an operator put in one namespace, and a third
    # on the first one's database in a namespace of its own
    caplog.set_level(logging.INFO, logger="gateway.broker")
    async with AsyncExitStack() as stack:
        one, _ = await stack.enter_async_context(deployment(ONE, redis_prefix="acme-live"))
        two, seen_by_two = await stack.enter_async_context(
            deployment(TWO, redis_prefix="acme-live")
        )
        apart, seen_apart = await stack.enter_async_context(deployment(ONE))
        # When the first publishes
        await one.publish(Envelope(portal_id=3, log_entries=(404,)))
        await published_and_seen(one, two, apart)
        # Then the prefix, not the database, decides who hears it
        assert seen_by_two == [Envelope(portal_id=3, log_entries=(404,))]
        assert seen_apart == []
    # and each broker logged its prefix once, at INFO
    prefixes = [r.getMessage() for r in caplog.records if "Redis prefix" in r.getMessage()]
    assert sorted(prefixes) == sorted(
        [
            "Redis prefix acme-live (from GATEWAY_REDIS_PREFIX)",
            "Redis prefix acme-live (from GATEWAY_REDIS_PREFIX)",
            f"Redis prefix {default_redis_prefix(ONE)} (from the database URL; "
            "set GATEWAY_REDIS_PREFIX to choose one)",
        ]
    )
    assert {r.levelno for r in caplog.records if "Redis prefix" in r.getMessage()} == {logging.INFO}


# --- the database URL, normalised ----------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "identity"),
    [
        ("postgres://gateway:s3cret@db.example.com:5432/one", "postgres://db.example.com:5432/one"),
        ("postgresql://u:p@DB.Example.com/one", "postgres://db.example.com:5432/one"),
        ("asyncpg://db.example.com:5432/one?ssl=require", "postgres://db.example.com:5432/one"),
        ("postgres://u@10.0.0.7:6432/one", "postgres://10.0.0.7:6432/one"),
        ("postgres://u@[::1]/one", "postgres://[::1]:5432/one"),
        ("postgres://u@/one?host=/var/run/postgresql", "postgres:///var/run/postgresql:5432/one"),
        ("postgres://u@db/My%20Data", "postgres://db:5432/My Data"),
    ],
)
def test_postgres_urls_normalise_to_family_host_port_and_database(url, identity):
    assert database_identity(url) == identity


def test_sqlite_urls_normalise_to_the_absolute_file(tmp_path, monkeypatch):
    # Given a working directory with a database file in it
    monkeypatch.chdir(tmp_path)
    absolute = f"sqlite://{tmp_path / 'gateway.sqlite3'}"
    # Then relative and absolute spellings of that file, with or without options, are one
    assert database_identity("sqlite://gateway.sqlite3") == f"sqlite://{tmp_path}/gateway.sqlite3"
    assert database_identity(absolute) == f"sqlite://{tmp_path}/gateway.sqlite3"
    assert database_identity("sqlite://./gateway.sqlite3?journal_mode=wal") == (
        f"sqlite://{tmp_path}/gateway.sqlite3"
    )
    # and another file is another deployment
    assert database_identity("sqlite://other.sqlite3") != database_identity(absolute)


def test_the_default_prefix_is_a_short_hash_of_the_identity():
    import hashlib

    identity = f"postgres://db.example.com:5432/one_{RUN}"
    digest = hashlib.sha256(identity.encode()).hexdigest()[:12]
    assert default_redis_prefix(ONE) == f"gateway:{digest}"
    assert {default_redis_prefix(url) for url in ONE_AGAIN.values()} == {f"gateway:{digest}"}
    assert default_redis_prefix(TWO) != default_redis_prefix(ONE)


def test_settings_take_the_prefix_from_the_environment_or_derive_it():
    derived = Settings.from_env({"GATEWAY_DATABASE_URL": ONE})
    chosen = Settings.from_env({"GATEWAY_DATABASE_URL": ONE, "GATEWAY_REDIS_PREFIX": "acme-live"})
    assert (derived.redis_prefix, derived.redis_namespace) == (None, default_redis_prefix(ONE))
    assert (chosen.redis_prefix, chosen.redis_namespace) == ("acme-live", "acme-live")


@pytest.mark.parametrize("bad", [" acme", "acme live", "acme*"])
def test_a_prefix_with_spaces_or_patterns_is_refused(bad):
    with pytest.raises(SettingsError, match="GATEWAY_REDIS_PREFIX"):
        Settings.from_env({"GATEWAY_REDIS_PREFIX": bad})


@pytest.mark.redis
async def test_readyz_shows_the_prefix_the_process_listens_under(client, settings):
    # Given the session's gateway on Redis, under the prefix derived from its database
    # When an operator asks whether it is ready
    ready = await client.get("/readyz")
    # Then the answer names the namespace, so deployments on one Redis can be told apart
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ok",
        "database": "ok",
        "broker": "ok",
        "redisPrefix": default_redis_prefix(settings.database_url),
    }
