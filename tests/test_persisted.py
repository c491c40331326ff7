"""Persisted documents (gateway/persisted.py): the lookup rule both transports call, the APQ
store with and without Redis, and the trusted-document manifests checked against the schema."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import graphql
import pytest
import pytest_asyncio
import redis.asyncio as redis

from gateway import persisted
from gateway.persisted import (
    AutomaticStore,
    Lookup,
    PersistedDocuments,
    PersistedProblem,
    TrustedDocuments,
    document_hash,
    parse_document_id,
)
from gateway.schema.schema import build_schema
from gateway.settings import Settings, SettingsError
from tests.conftest import REDIS_URL
from tests.helpers import load_query

pytestmark = pytest.mark.one_executor

MY_APPS = load_query("my-apps-page.graphql")
APP_LOG = load_query("app-log-page.graphql")
SMALL = "query Viewer { viewer { user { id } } }"
OTHER = "query Other { viewer { portal { id } } }"
# Generous: the tests that go through Redis must not depend on the machine's load.
PATIENT = 2.0


def apq(sha256_hex: str, version: object = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": sha256_hex}}


async def refused(call: Any, code: str) -> str:
    with pytest.raises(PersistedProblem) as caught:
        await call
    assert caught.value.code == code
    return caught.value.message


@pytest.fixture(scope="module")
def check() -> Callable[[str], str | None]:
    """Parse and validate against the real schema (the gateway adds its document limits)."""
    schema = build_schema(Settings(debug=True))

    def problem(text: str) -> str | None:
        try:
            document = graphql.parse(text)
        except graphql.GraphQLError as exc:
            return exc.message
        errors = graphql.validate(schema._schema, document)
        return errors[0].message if errors else None

    return problem


def manifest(folder: Path, name: str, content: Any) -> str:
    path = folder / name
    path.write_text(content if isinstance(content, str) else json.dumps(content), "utf-8")
    return str(path)


def by_hash(*documents: str) -> dict[str, str]:
    return {document_hash(text): text for text in documents}


@pytest_asyncio.fixture
async def store() -> AsyncIterator[AutomaticStore]:
    automatic = AutomaticStore(None, "test")
    yield automatic
    await automatic.close()


@pytest.fixture
def prefix() -> str:
    return f"test-persisted-{uuid.uuid4().hex[:12]}"


@pytest_asyncio.fixture
async def raw_redis(prefix: str) -> AsyncIterator[redis.Redis]:
    assert REDIS_URL is not None
    client = redis.from_url(REDIS_URL)
    yield client
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- hashes and document ids -----------------------------------------------------------------


def test_document_hash_is_the_lower_case_sha256_hex_of_the_utf8_text():
    assert document_hash("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert document_hash("query { é }") == document_hash("query { \u00e9 }")
    assert len(document_hash(MY_APPS)) == 64 and document_hash(MY_APPS).islower()


def test_document_ids_are_sha256_prefixed_or_bare_hex():
    hex_ = document_hash(SMALL)
    assert parse_document_id(f"sha256:{hex_}") == hex_
    assert parse_document_id(hex_) == hex_
    assert parse_document_id(f"sha256:{hex_.upper()}") == hex_


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("md5:" + "a" * 32, "'md5' is not supported"),
        ("x:" + "a" * 64, "'x' is not supported"),
        ("sha256:" + "a" * 63, "64 hex digits"),
        ("sha256:" + "g" * 64, "64 hex digits"),
        ("a" * 65, "64 hex digits"),
        ("", "64 hex digits"),
        (42, "must be a string"),
        (["sha256:" + "a" * 64], "must be a string"),
    ],
)
def test_other_document_ids_are_bad_requests(raw, words):
    with pytest.raises(PersistedProblem) as caught:
        parse_document_id(raw)
    assert caught.value.code == "BAD_REQUEST"
    assert words in caught.value.message


# --- lookup without trusted documents (APQ) --------------------------------------------------


async def test_a_free_form_query_passes_through(store):
    documents = PersistedDocuments(store, None)
    assert await documents.lookup(SMALL, None, None) == Lookup(SMALL, None, None)
    assert await documents.lookup(SMALL, {"other": 1}, None) == Lookup(SMALL, None, None)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (None, "`query` is missing"),
        ("", "`query` must be a non-empty string"),
        ("  \n", "`query` must be a non-empty string"),
        (5, "`query` must be a non-empty string"),
    ],
)
async def test_a_missing_or_empty_free_form_query_is_a_bad_request(store, query, message):
    documents = PersistedDocuments(store, None)
    assert await refused(documents.lookup(query, None, None), "BAD_REQUEST") == message


@pytest.mark.parametrize(
    ("extensions", "words"),
    [
        ("{}", "`extensions` must be an object"),
        ({"persistedQuery": "abc"}, "must be an object {version, sha256Hash}"),
        (apq("a" * 64, version=2), "version` 2 is not supported (supported: 1)"),
        (apq("a" * 64, version=None), "version` null is not supported (supported: 1)"),
        (apq("a" * 64, version=True), "version` true is not supported"),
        (apq("a" * 63), "sha256Hash` must be 64 hex digits"),
        ({"persistedQuery": {"version": 1}}, "sha256Hash` must be 64 hex digits"),
    ],
)
async def test_a_malformed_persisted_query_extension_is_a_bad_request(store, extensions, words):
    documents = PersistedDocuments(store, None)
    assert words in await refused(documents.lookup(None, extensions, None), "BAD_REQUEST")


@pytest.mark.parametrize("query", [None, ""])
async def test_an_unknown_hash_alone_is_persisted_query_not_found(store, query):
    documents = PersistedDocuments(store, None)
    message = await refused(
        documents.lookup(query, apq(document_hash(SMALL)), None), "PERSISTED_QUERY_NOT_FOUND"
    )
    assert message == "PersistedQueryNotFound"


async def test_a_hash_that_does_not_match_its_query_is_bad_user_input(store):
    documents = PersistedDocuments(store, None)
    message = await refused(
        documents.lookup(SMALL, apq(document_hash(OTHER)), None), "BAD_USER_INPUT"
    )
    assert "does not match the query" in message


async def test_a_registered_document_runs_by_its_hash_alone(store):
    documents = PersistedDocuments(store, None)
    hex_ = document_hash(MY_APPS)
    # Given a client that sends hash and document (Apollo's retry after a miss)
    first = await documents.lookup(MY_APPS, apq(hex_.upper()), None)
    assert first == Lookup(query=MY_APPS, register=hex_, document_id=None)
    # Then nothing is stored until the caller has validated it
    await refused(documents.lookup(None, apq(hex_), None), "PERSISTED_QUERY_NOT_FOUND")
    # When it registers, the hash alone runs the document, by APQ hash and by documentId
    await documents.register(first)
    assert await documents.lookup("", apq(hex_), None) == Lookup(MY_APPS, None, hex_)
    assert await documents.lookup(None, None, f"sha256:{hex_}") == Lookup(MY_APPS, None, hex_)
    assert await documents.lookup(None, None, hex_) == Lookup(MY_APPS, None, hex_)


async def test_registering_a_lookup_without_a_hash_stores_nothing(store):
    documents = PersistedDocuments(store, None)
    await documents.register(await documents.lookup(SMALL, None, None))
    assert len(store) == 0


async def test_an_unknown_document_id_is_persisted_query_not_found(store):
    documents = PersistedDocuments(store, None)
    message = await refused(
        documents.lookup(None, None, f"sha256:{document_hash(SMALL)}"), "PERSISTED_QUERY_NOT_FOUND"
    )
    assert message == "PersistedQueryNotFound"


@pytest.mark.parametrize("trusted", [False, True])
async def test_a_document_id_with_a_query_or_a_hash_is_a_bad_request(store, trusted):
    documents = PersistedDocuments(store, TrustedDocuments({}, []) if trusted else None)
    hex_ = document_hash(SMALL)
    message = await refused(documents.lookup(SMALL, None, hex_), "BAD_REQUEST")
    assert message == "Send either `documentId` or `query`, not both"
    message = await refused(documents.lookup(None, apq(hex_), hex_), "BAD_REQUEST")
    assert message == "Send either `documentId` or `extensions.persistedQuery`, not both"
    assert "'md5' is not supported" in await refused(
        documents.lookup(None, None, "md5:" + "0" * 32), "BAD_REQUEST"
    )


async def test_a_query_of_another_type_beside_a_hash_is_a_bad_request(store):
    documents = PersistedDocuments(store, None)
    message = await refused(documents.lookup(7, apq(document_hash(SMALL)), None), "BAD_REQUEST")
    assert message == "`query` must be a string"


# --- lookup with trusted documents -----------------------------------------------------------


@pytest_asyncio.fixture
async def trusted_documents(store, tmp_path, check) -> PersistedDocuments:
    path = manifest(tmp_path, "client.json", by_hash(MY_APPS, APP_LOG))
    return PersistedDocuments(store, TrustedDocuments.load([path], check))


async def test_trusted_documents_run_by_document_id(trusted_documents):
    hex_ = document_hash(MY_APPS)
    expected = Lookup(query=MY_APPS, register=None, document_id=hex_)
    assert await trusted_documents.lookup(None, None, f"sha256:{hex_}") == expected
    assert await trusted_documents.lookup("", None, hex_.upper()) == expected


async def test_trusted_documents_run_by_apq_hash_and_register_nothing(trusted_documents):
    hex_ = document_hash(APP_LOG)
    expected = Lookup(query=APP_LOG, register=None, document_id=hex_)
    assert await trusted_documents.lookup(None, apq(hex_), None) == expected
    assert await trusted_documents.lookup(APP_LOG, apq(hex_), None) == expected


async def test_an_untrusted_hash_or_id_is_not_found_in_trusted_mode(trusted_documents, store):
    # Even a document registered through APQ is not trusted
    hex_ = document_hash(SMALL)
    await store.put(hex_, SMALL)
    for call in (
        trusted_documents.lookup(None, None, f"sha256:{hex_}"),
        trusted_documents.lookup(None, apq(hex_), None),
    ):
        assert await refused(call, "PERSISTED_QUERY_NOT_FOUND") == "PersistedQueryNotFound"


async def test_an_untrusted_document_sent_with_its_hash_is_refused_in_trusted_mode(
    trusted_documents, store
):
    hex_ = document_hash(SMALL)
    message = await refused(
        trusted_documents.lookup(SMALL, apq(hex_), None), "PERSISTED_QUERY_REQUIRED"
    )
    assert "documentId" in message
    assert len(store) == 0


async def test_a_trusted_hash_with_another_query_is_bad_user_input(trusted_documents):
    message = await refused(
        trusted_documents.lookup(SMALL, apq(document_hash(MY_APPS)), None), "BAD_USER_INPUT"
    )
    assert "does not match the query" in message


@pytest.mark.parametrize(
    "query", [MY_APPS, SMALL, None, ""], ids=["trusted", "untrusted", "none", "empty"]
)
async def test_free_form_documents_are_refused_in_trusted_mode(trusted_documents, query):
    message = await refused(trusted_documents.lookup(query, None, None), "PERSISTED_QUERY_REQUIRED")
    assert message.startswith("Only persisted documents run on this gateway")


@pytest.mark.parametrize("mode", ["automatic", "trusted"])
async def test_shipped_documents_run_by_hash_in_either_mode(store, tmp_path, check, mode):
    # The console's documents ship with the package: trusted whatever the manifests say
    trusted = None
    if mode == "trusted":
        trusted = TrustedDocuments.load([manifest(tmp_path, "m.json", by_hash(MY_APPS))], check)
    documents = PersistedDocuments(store, trusted, by_hash(OTHER))
    hex_ = document_hash(OTHER)
    expected = Lookup(query=OTHER, register=None, document_id=hex_)
    assert await documents.lookup(None, None, f"sha256:{hex_}") == expected
    assert await documents.lookup(None, apq(hex_), None) == expected
    assert await documents.lookup(OTHER, apq(hex_), None) == Lookup(
        query=OTHER,
        register=hex_ if trusted is None else None,
        document_id=None if trusted is None else hex_,
    )
    # and they trust nothing else: another hash is still unknown
    unknown = document_hash(SMALL)
    await refused(documents.lookup(None, None, unknown), "PERSISTED_QUERY_NOT_FOUND")


# --- the per-process store -------------------------------------------------------------------


async def test_the_local_store_keeps_the_most_recently_used_documents():
    automatic = AutomaticStore(None, "test", maxsize=2)
    one, two, three = SMALL, OTHER, MY_APPS
    await automatic.put(document_hash(one), one)
    await automatic.put(document_hash(two), two)
    # Given `one` used after `two`
    assert await automatic.get(document_hash(one)) == one
    # When a third comes
    await automatic.put(document_hash(three), three)
    # Then the least recently used one is gone
    assert len(automatic) == 2
    assert await automatic.get(document_hash(two)) is None
    assert await automatic.get(document_hash(one)) == one
    assert await automatic.get(document_hash(three)) == three
    await automatic.close()


def test_the_local_store_must_hold_something():
    with pytest.raises(ValueError, match="maxsize"):
        AutomaticStore(None, "test", maxsize=0)


# --- Redis -----------------------------------------------------------------------------------


@pytest.mark.redis
async def test_two_processes_share_a_registered_document_through_redis(prefix, raw_redis):
    one = AutomaticStore(REDIS_URL, prefix, redis_timeout=PATIENT)
    two = AutomaticStore(REDIS_URL, prefix, redis_timeout=PATIENT)
    try:
        hex_ = document_hash(MY_APPS)
        # Given a document registered in one process
        first = PersistedDocuments(one, None)
        await first.register(await first.lookup(MY_APPS, apq(hex_), None))
        assert await raw_redis.get(f"{prefix}:apq:{hex_}") == MY_APPS.encode()
        # Then the other runs it by hash alone
        second = PersistedDocuments(two, None)
        assert await second.lookup(None, apq(hex_), None) == Lookup(MY_APPS, None, hex_)
        # And keeps it: Redis losing it later does not matter to that process
        await raw_redis.delete(f"{prefix}:apq:{hex_}")
        assert await two.get(hex_) == MY_APPS
    finally:
        await one.close()
        await two.close()


@pytest.mark.redis
async def test_redis_keys_expire_after_the_last_use(prefix, raw_redis):
    key = f"{prefix}:apq:{document_hash(APP_LOG)}"
    writer = AutomaticStore(REDIS_URL, prefix, ttl_seconds=3600, redis_timeout=PATIENT)
    reader = AutomaticStore(REDIS_URL, prefix, ttl_seconds=3600, redis_timeout=PATIENT)
    try:
        # Given a document stored with a one-hour expiry
        await writer.put(document_hash(APP_LOG), APP_LOG)
        assert 3_590_000 < await raw_redis.pttl(key) <= 3_600_000
        # and nearly expired
        await raw_redis.pexpire(key, 5_000)
        # When another process reads it from Redis
        assert await reader.get(document_hash(APP_LOG)) == APP_LOG
        # Then its expiry starts again
        assert 3_590_000 < await raw_redis.pttl(key) <= 3_600_000
    finally:
        await writer.close()
        await reader.close()


@pytest.mark.redis
async def test_a_document_served_from_memory_is_refreshed_in_redis_now_and_then(
    prefix, raw_redis, monkeypatch
):
    # One refresh per ttl/24: every 2 s with a 48 s expiry.
    automatic = AutomaticStore(REDIS_URL, prefix, ttl_seconds=48, redis_timeout=PATIENT)
    hex_ = document_hash(SMALL)
    key = f"{prefix}:apq:{hex_}"
    try:
        await automatic.put(hex_, SMALL)
        await raw_redis.delete(key)
        # A hit soon after leaves Redis alone
        assert await automatic.get(hex_) == SMALL
        assert await raw_redis.exists(key) == 0
        # A hit later writes it back with a fresh expiry
        later = persisted.monotonic() + 3
        monkeypatch.setattr(persisted, "monotonic", lambda: later)
        assert await automatic.get(hex_) == SMALL
        assert 47_000 < await raw_redis.pttl(key) <= 48_000
    finally:
        await automatic.close()


@pytest.mark.redis
async def test_a_redis_entry_that_is_not_the_document_of_its_key_is_ignored(prefix, raw_redis):
    hex_ = document_hash(SMALL)
    await raw_redis.set(f"{prefix}:apq:{hex_}", OTHER.encode())
    automatic = AutomaticStore(REDIS_URL, prefix, redis_timeout=PATIENT)
    try:
        assert await automatic.get(hex_) is None
        assert len(automatic) == 0
    finally:
        await automatic.close()


async def test_without_redis_lookups_miss_and_registration_stays_local(caplog):
    automatic = AutomaticStore(f"redis://127.0.0.1:{unused_port()}/0", "test", retry_seconds=0)
    documents = PersistedDocuments(automatic, None)
    hex_ = document_hash(SMALL)
    try:
        with caplog.at_level(logging.WARNING, logger="gateway.persisted"):
            # A hash alone is not found, as if Redis had no entry
            await refused(documents.lookup(None, apq(hex_), None), "PERSISTED_QUERY_NOT_FOUND")
            # Registration does not fail, and the document runs in this process
            await documents.register(await documents.lookup(SMALL, apq(hex_), None))
            assert await documents.lookup(None, apq(hex_), None) == Lookup(SMALL, None, hex_)
            await refused(
                documents.lookup(None, apq(document_hash(OTHER)), None), "PERSISTED_QUERY_NOT_FOUND"
            )
        # Three failed Redis calls, one warning
        warnings = [r for r in caplog.records if r.name == "gateway.persisted"]
        assert len(warnings) == 1
        assert "Redis unavailable" in warnings[0].getMessage()
    finally:
        await automatic.close()


async def test_a_redis_that_does_not_answer_costs_at_most_the_timeout():
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    automatic = AutomaticStore(f"redis://127.0.0.1:{port}/0", "test", redis_timeout=0.1)
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await automatic.get(document_hash(SMALL)) is None
        # Redis is left alone for a while after the timeout: the put pays nothing
        await automatic.put(document_hash(SMALL), SMALL)
        assert loop.time() - started < 1.0
        assert await automatic.get(document_hash(SMALL)) == SMALL
    finally:
        await automatic.close()
        server.close()
        await server.wait_closed()


# --- trusted-document manifests --------------------------------------------------------------


def test_the_manifests_union_is_trusted(tmp_path, check):
    # Two client releases' manifests overlap during a rollout
    old = manifest(tmp_path, "old.json", by_hash(MY_APPS, SMALL))
    new = manifest(
        tmp_path, "new.json", {document_hash(APP_LOG).upper(): APP_LOG, **by_hash(MY_APPS)}
    )
    trusted = TrustedDocuments.load([old, new], check)
    assert len(trusted) == 3
    for text in (MY_APPS, SMALL, APP_LOG):
        assert trusted.get(document_hash(text)) == text
    assert trusted.get(document_hash(OTHER)) is None


def test_operation_names_follow_the_manifests_without_repeats(tmp_path, check):
    twice = "query Viewer { viewer { user { name } } }\nquery Anything { __typename }"
    anonymous = "{ viewer { user { email } } }"
    first = manifest(tmp_path, "a.json", by_hash(APP_LOG, anonymous, SMALL))
    second = manifest(tmp_path, "b.json", by_hash(twice, MY_APPS))
    names = TrustedDocuments.load([first, second], check).operation_names()
    assert names == ["AppLogPage", "Viewer", "Anything", "MyAppsPage"]
    assert TrustedDocuments.load([], check).operation_names() == []


@pytest.mark.parametrize(
    ("content", "key", "words"),
    [
        ([SMALL], None, "must be a JSON object"),
        ('{"abc": ', None, "not valid JSON"),
        ({"abc": SMALL}, "abc", "the key must be 64 hex digits"),
        ({"sha256:" + document_hash(SMALL): SMALL}, "sha256:", "the key must be 64 hex digits"),
        ({document_hash(SMALL): {"query": SMALL}}, document_hash(SMALL), "must be a string"),
        ({document_hash(OTHER): SMALL}, document_hash(OTHER), "is not the sha256 of its document"),
        (
            by_hash("query Broken { viewer {"),
            document_hash("query Broken { viewer {"),
            "Syntax Error",
        ),
        (
            by_hash("query Nope { viewer { nope } }"),
            document_hash("query Nope { viewer { nope } }"),
            "Cannot query field 'nope' on type 'Viewer'.",
        ),
    ],
    ids=[
        "array",
        "not-json",
        "short-key",
        "prefixed-key",
        "object-value",
        "wrong-key",
        "syntax-error",
        "invalid-field",
    ],
)
def test_a_bad_manifest_stops_the_start_naming_file_and_key(tmp_path, check, content, key, words):
    good = manifest(tmp_path, "good.json", by_hash(MY_APPS))
    bad = manifest(tmp_path, "bad.json", content)
    with pytest.raises(SettingsError) as caught:
        TrustedDocuments.load([good, bad], check)
    message = str(caught.value)
    assert bad in message
    assert words in message
    if key is not None:
        assert key in message


def test_an_unreadable_manifest_stops_the_start(tmp_path, check):
    missing = str(tmp_path / "missing.json")
    with pytest.raises(SettingsError, match="cannot read the file") as caught:
        TrustedDocuments.load([missing], check)
    assert missing in str(caught.value)
    binary = tmp_path / "binary.json"
    binary.write_bytes(b'{"\xff": 1}')
    with pytest.raises(SettingsError, match="cannot read the file"):
        TrustedDocuments.load([str(binary)], check)
