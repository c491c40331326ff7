"""`POST /events` through HTTP: the order of the checks, every transition with its exact log
entries and read-side state, ordering by occurredAt, idempotency (also under concurrency), the
envelopes published after commit, and `gateway emit` against a real server."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import subprocess
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from gateway.events_http import MAX_BODY_BYTES
from gateway.models import (
    AppAlert,
    AppLogEntry,
    ConnectedApp,
    ListingScope,
    MarketplaceListing,
    Portal,
    ProcessedEvent,
)
from gateway.models.enums import InstallLevel, SubscriptionTier
from gateway.services import faults
from gateway.services.envelopes import Envelope
from gateway.services.ingestion import Purger
from tests import factories as f
from tests.conftest import EVENTS_SECRET, PG_URL
from tests.helpers import data, gid, until
from tests.test_serve import GATEWAY, clean_env, serving

F, S, P, E = (
    SubscriptionTier.FREE,
    SubscriptionTier.STARTER,
    SubscriptionTier.PROFESSIONAL,
    SubscriptionTier.ENTERPRISE,
)

APP = """query($id: ID!) { node(id: $id) { ... on ConnectedApp {
  status
  alerts { id severity code message raisedAt resolvedAt }
  log(first: 100) { nodes { id activity occurredAt user { name } } } } } }"""
ALERT = (
    """query($id: ID!) { node(id: $id) { ... on AppAlert { code message raisedAt resolvedAt } } }"""
)
SUMMARY = """{ viewer { portal {
  appSummary { total connected disconnected errored updateAvailable upgradeAvailable } } } }"""
SCOPES = """query($id: ID!) { node(id: $id) { ... on ConnectedApp {
  updateAvailable upgradeAvailable scopes { name description state requiredTier required } } } }"""
LISTING_SCOPES = """query($id: ID!) { node(id: $id) { ... on MarketplaceListing {
  requestedScopes { name state } } } }"""


# --- sending events -----------------------------------------------------------------------


def now() -> datetime:
    return datetime.now(UTC)


def iso(at: datetime) -> str:
    return at.isoformat()


def headers_for(
    body: bytes, *, ts: int | None = None, secret: str = EVENTS_SECRET
) -> dict[str, str]:
    """What the integration platform sends: the signature of `timestamp.body`."""
    timestamp = str(int(time.time()) if ts is None else ts)
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Gateway-Timestamp": timestamp,
        "X-Gateway-Signature": f"sha256={digest}",
    }


def encode(payload: dict[str, Any] | bytes) -> bytes:
    return payload if isinstance(payload, bytes) else orjson.dumps(payload)


async def post(
    client: httpx.AsyncClient, payload: dict[str, Any] | bytes, **sign: Any
) -> httpx.Response:
    body = encode(payload)
    return await client.post("/events", content=body, headers=headers_for(body, **sign))


async def send(
    client: httpx.AsyncClient, payload: dict[str, Any] | bytes, status: int = 202
) -> dict[str, Any]:
    response = await post(client, payload)
    assert response.status_code == status, response.text
    return response.json()


def app_event(
    type_: str, app: ConnectedApp, at: datetime | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "type": type_,
        "occurredAt": iso(at or now()),
        "portalId": gid("Portal", app.portal_id),
        "appId": gid("ConnectedApp", app.id),
        **extra,
    }


def error_event(
    app: ConnectedApp,
    code: str,
    at: datetime | None = None,
    severity: str = "ERROR",
    message: str | None = None,
) -> dict[str, Any]:
    alert = {"severity": severity, "code": code, "message": message or f"{code} happened"}
    return app_event("app.error", app, at, alert=alert)


def scopes_event(
    listing_id: int, scopes: list[dict[str, Any]], at: datetime | None = None
) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "type": "listing.scopes_changed",
        "occurredAt": iso(at or now()),
        "listingId": gid("MarketplaceListing", listing_id),
        "scopes": scopes,
    }


# --- the world ----------------------------------------------------------------------------


@dataclass
class World:
    portal: Portal
    token: str
    app: ConnectedApp  # PORTAL app, CONNECTED
    other: ConnectedApp  # a second PORTAL app, CONNECTED
    multi: ConnectedApp  # MULTI_ACCOUNT app (status null)


# Listings are global and other modules list the whole marketplace, so this module installs
# the same few listings in a fresh portal per test instead of making listings per test.
CATEGORY = "Event fixtures"


@pytest.fixture(scope="module")
async def listings(app) -> dict[str, MarketplaceListing]:
    return {
        "portal": await f.make_listing("Ledger", category=CATEGORY),
        "portal2": await f.make_listing("Quill", category=CATEGORY),
        "multi": await f.make_listing("Chirpy", InstallLevel.MULTI_ACCOUNT, category=CATEGORY),
    }


@pytest.fixture
async def world(app, settings, listings) -> World:
    t = await f.make_tenant(
        settings,
        tier=P,
        apps=[listings["portal"], listings["portal2"], listings["multi"]],
        accounts={"Chirpy": ["@acme"]},
    )
    apps = t.apps
    return World(t.portal, t.token("Ada Admin"), apps["Ledger"], apps["Quill"], apps["Chirpy"])


async def read_app(client: httpx.AsyncClient, world: World, app: ConnectedApp) -> dict[str, Any]:
    return (await data(client, APP, {"id": gid("ConnectedApp", app.id)}, token=world.token))["node"]


async def summary(client: httpx.AsyncClient, world: World) -> dict[str, int]:
    return (await data(client, SUMMARY, token=world.token))["viewer"]["portal"]["appSummary"]


def log_of(view: dict[str, Any]) -> list[tuple[str, datetime, Any]]:
    return [
        (n["activity"], datetime.fromisoformat(n["occurredAt"]), n["user"])
        for n in view["log"]["nodes"]
    ]


def alerts_of(view: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(a["code"], a["severity"], a["message"]) for a in view["alerts"]]


async def snapshot(portal_id: int) -> tuple[Any, ...]:
    """Everything a refused event must leave as it was."""
    return (
        await ProcessedEvent.all().count(),
        await ConnectedApp.filter(portal_id=portal_id).order_by("id").values(),
        await AppAlert.filter(app__portal_id=portal_id).order_by("id").values(),
        await AppLogEntry.filter(portal_id=portal_id).order_by("id").values(),
    )


def envelope(
    portal_id: int, log_entries: Sequence[int] = (), changes: Sequence[dict[str, Any]] = ()
) -> dict[str, Any]:
    return {
        "portalId": portal_id,
        "logEntries": list(log_entries),
        "statusChanges": list(changes),
        "notifications": [],
    }


def change(
    app: ConnectedApp,
    previous: str | None,
    status: str | None,
    at: datetime,
    alert_id: int | None = None,
) -> dict[str, Any]:
    return {
        "appId": app.id,
        "previousStatus": previous,
        "status": status,
        "occurredAt": at.isoformat(),
        "alertId": alert_id,
    }


def published(envelopes: list[Envelope]) -> list[dict[str, Any]]:
    return [e.to_json() for e in envelopes]


CONNECTED_SUMMARY = {
    "total": 2,
    "connected": 2,
    "disconnected": 0,
    "errored": 0,
    "updateAvailable": 0,
    "upgradeAvailable": 0,
}


# --- 413 ----------------------------------------------------------------------------------


async def test_a_body_over_64_kib_is_413_even_unsigned(client, world, envelopes):
    before = await snapshot(world.portal.id)
    response = await client.post("/events", content=b"{" + b" " * MAX_BODY_BYTES + b"}")
    assert response.status_code == 413
    assert response.json() == {
        "status": "too_large",
        "message": "The body is larger than 65536 bytes",
    }
    assert await snapshot(world.portal.id) == before and await envelopes.settled() == []


async def test_a_streamed_body_without_content_length_is_counted_too(client, world):
    async def chunks():
        for _ in range(MAX_BODY_BYTES // 1024 + 1):
            yield b" " * 1024

    response = await client.post("/events", content=chunks())
    assert "content-length" not in response.request.headers
    assert response.status_code == 413


async def test_a_body_of_exactly_64_kib_is_accepted(client, world):
    event = orjson.dumps(app_event("app.disconnected", world.app))
    body = event[:-1] + b" " * (MAX_BODY_BYTES - len(event)) + b"}"
    assert len(body) == MAX_BODY_BYTES
    assert await send(client, body) == {"status": "applied"}


# --- 401 ----------------------------------------------------------------------------------


def _without(name: str):
    return lambda h, body: {k: v for k, v in h.items() if k != name}


UNSIGNED = {
    "missing signature": _without("X-Gateway-Signature"),
    "missing timestamp": _without("X-Gateway-Timestamp"),
    "non-numeric timestamp": lambda h, body: {
        **headers_for(body, ts=0),
        "X-Gateway-Timestamp": "soon",
    },
    "timestamp too old": lambda h, body: headers_for(body, ts=int(time.time()) - 301),
    # A second's margin: the gateway reads its clock a moment later, and it is not truncated.
    "timestamp too new": lambda h, body: headers_for(body, ts=int(time.time()) + 302),
    "wrong secret": lambda h, body: headers_for(body, secret="not-the-secret"),
    "not sha256=": lambda h, body: {
        **h,
        "X-Gateway-Signature": h["X-Gateway-Signature"].removeprefix("sha256="),
    },
    "signature of another timestamp": lambda h, body: {
        **h,
        "X-Gateway-Timestamp": str(int(h["X-Gateway-Timestamp"]) - 1),
    },
    "body tampered after signing": lambda h, body: headers_for(
        body.replace(b"disconnected", b"reconnected")
    ),
}


@pytest.mark.parametrize("how", UNSIGNED)
async def test_missing_or_bad_signatures_and_timestamps_are_401(client, world, envelopes, how):
    body = orjson.dumps(app_event("app.disconnected", world.app))
    headers = UNSIGNED[how](headers_for(body), body)
    before = await snapshot(world.portal.id)
    response = await client.post("/events", content=body, headers=headers)
    assert response.status_code == 401, response.text
    assert response.json()["status"] == "unauthorized"
    assert response.json()["message"]
    assert await snapshot(world.portal.id) == before and await envelopes.settled() == []


async def test_a_timestamp_300_s_away_is_still_accepted(client, world):
    assert (
        await post(client, app_event("app.disconnected", world.app), ts=int(time.time()) - 295)
    ).status_code == 202
    assert (
        await post(client, app_event("app.reconnected", world.app), ts=int(time.time()) + 295)
    ).status_code == 202


async def test_the_signature_is_checked_before_the_json(client):
    response = await client.post("/events", content=b"not json at all")
    assert response.status_code == 401


# --- 400 ----------------------------------------------------------------------------------


def _drop(key: str):
    return lambda e: {k: v for k, v in e.items() if k != key}


def _alert(**alert: Any):
    return lambda e: {**e, "type": "app.error", "alert": alert}


INVALID = {
    "not JSON": (lambda e: b"{not json", "The body is not JSON"),
    "a JSON array": (lambda e: b"[]", "The body must be a JSON object"),
    "missing id": (_drop("id"), "id is required"),
    "missing type": (_drop("type"), "type is required"),
    "missing occurredAt": (_drop("occurredAt"), "occurredAt is required"),
    "missing portalId": (_drop("portalId"), "portalId is required"),
    "missing appId": (_drop("appId"), "appId is required"),
    "empty id": (lambda e: {**e, "id": ""}, "id must not be empty"),
    "id too long": (lambda e: {**e, "id": "x" * 201}, "id is longer than 200 characters"),
    "numeric id": (lambda e: {**e, "id": 7}, "id must be a string"),
    "unknown type": (
        lambda e: {**e, "type": "app.exploded"},
        "type must be one of app.disconnected, app.reconnected, app.error, app.recovered, "
        "listing.scopes_changed, app.usage",
    ),
    "occurredAt > 5 min ahead": (
        lambda e: {**e, "occurredAt": iso(now() + timedelta(minutes=6))},
        "occurredAt is more than 5 minutes in the future",
    ),
    "naive occurredAt": (
        lambda e: {**e, "occurredAt": "2026-06-01T09:00:00"},
        "occurredAt must be an ISO 8601 date-time with a time zone",
    ),
    "occurredAt not a date": (
        lambda e: {**e, "occurredAt": "yesterday"},
        "occurredAt must be an ISO 8601 date-time with a time zone",
    ),
    "occurredAt out of range in UTC": (
        lambda e: {**e, "occurredAt": "0001-01-01T00:00:00+01:00"},
        "occurredAt must be an ISO 8601 date-time with a time zone",
    ),
    "occurredAt a number": (
        lambda e: {**e, "occurredAt": 1767225600},
        "occurredAt must be a string",
    ),
    "portalId a number": (lambda e: {**e, "portalId": 1}, "portalId must be a string"),
    "portalId not an id": (lambda e: {**e, "portalId": "Acme"}, "portalId is not a Portal id"),
    "appId of another type": (
        lambda e: {**e, "appId": e["portalId"]},
        "appId is not a ConnectedApp id",
    ),
    "app.error without alert": (lambda e: {**e, "type": "app.error"}, "alert is required"),
    "alert not an object": (
        lambda e: {**e, "type": "app.error", "alert": "boom"},
        "alert must be an object",
    ),
    "bad severity": (
        _alert(severity="FATAL", code="x", message="m"),
        "alert.severity must be one of INFO, WARNING, ERROR",
    ),
    "alert without code and message": (
        _alert(severity="ERROR"),
        "alert.code is required; alert.message is required",
    ),
    "recovered alert without code": (
        lambda e: {**e, "type": "app.recovered", "alert": {}},
        "alert.code is required",
    ),
}


@pytest.mark.parametrize("case", INVALID)
async def test_malformed_events_are_400_and_store_nothing(client, world, envelopes, case):
    mutate, message = INVALID[case]
    before = await snapshot(world.portal.id)
    body = await send(client, mutate(app_event("app.disconnected", world.app)), status=400)
    assert body == {"status": "invalid", "message": message}
    assert await snapshot(world.portal.id) == before and await envelopes.settled() == []


LISTING_INVALID = {
    "missing listingId": (_drop("listingId"), "listingId is required"),
    "missing scopes": (_drop("scopes"), "scopes is required"),
    "scopes not a list": (lambda e: {**e, "scopes": {}}, "scopes must be a list"),
    "bad requiredTier": (
        lambda e: {
            **e,
            "scopes": [{"name": "a", "description": "", "requiredTier": "GOLD", "required": True}],
        },
        "scopes[0].requiredTier must be one of FREE, STARTER, PROFESSIONAL, ENTERPRISE",
    ),
    "required not a boolean": (
        lambda e: {
            **e,
            "scopes": [{"name": "a", "description": "", "requiredTier": "FREE", "required": 1}],
        },
        "scopes[0].required must be true or false",
    ),
    "a scope twice": (
        lambda e: {**e, "scopes": [_scope("a"), _scope("a")]},
        "scopes[1].name repeats the scope 'a'",
    ),
    "every problem at once": (
        lambda e: {**e, "scopes": [7, {"name": "a"}]},
        "scopes[0] must be an object; scopes[1].description is required; "
        "scopes[1].requiredTier is required; scopes[1].required is required",
    ),
}


def _scope(
    name: str, tier: str = "FREE", required: bool = False, description: str | None = None
) -> dict[str, Any]:
    return {
        "name": name,
        "description": description or f"{name} access",
        "requiredTier": tier,
        "required": required,
    }


@pytest.mark.parametrize("case", LISTING_INVALID)
async def test_malformed_listing_events_are_400(client, envelopes, listings, case):
    listing = listings["portal"]  # refused events change nothing, so a shared listing will do
    mutate, message = LISTING_INVALID[case]
    before = await ListingScope.filter(listing_id=listing.id).values()
    body = await send(client, mutate(scopes_event(listing.id, [_scope("a")])), status=400)
    assert body == {"status": "invalid", "message": message}
    assert await ListingScope.filter(listing_id=listing.id).values() == before
    assert await envelopes.settled() == []


async def test_400_comes_before_duplicate_and_not_found(client, world, envelopes):
    # Given an applied event
    applied = app_event("app.disconnected", world.app)
    await send(client, applied)
    (await envelopes.settled()).clear()
    before = await snapshot(world.portal.id)
    # When its id comes back malformed, it is refused as malformed, not acknowledged
    bad = {**applied, "occurredAt": "2026-06-01T09:00:00"}
    assert (await send(client, bad, status=400))["status"] == "invalid"
    # and an unknown app with a bad type is a 400 too, not a 404
    missing = {**app_event("app.nope", world.app), "appId": gid("ConnectedApp", 10**9)}
    assert (await send(client, missing, status=400))["status"] == "invalid"
    assert await snapshot(world.portal.id) == before and await envelopes.settled() == []


async def test_an_occurred_at_up_to_5_minutes_ahead_is_accepted(client, world):
    ahead = now() + timedelta(minutes=4)
    await send(client, app_event("app.disconnected", world.app, ahead))
    view = await read_app(client, world, world.app)
    assert view["status"] == "DISCONNECTED"
    assert log_of(view)[0] == ("DISCONNECTED", ahead, None)


async def test_other_offsets_and_z_are_read_as_utc(client, world):
    await send(
        client,
        app_event("app.disconnected", world.app) | {"occurredAt": "2026-06-02T10:00:00+02:00"},
    )
    await send(
        client, app_event("app.reconnected", world.app) | {"occurredAt": "2026-06-02T09:00:00Z"}
    )
    view = await read_app(client, world, world.app)
    assert log_of(view)[:2] == [
        ("RECONNECTED", datetime(2026, 6, 2, 9, tzinfo=UTC), None),
        ("DISCONNECTED", datetime(2026, 6, 2, 8, tzinfo=UTC), None),
    ]


# --- 200 duplicate ------------------------------------------------------------------------


async def test_a_repeated_id_is_200_and_changes_nothing(client, world, envelopes):
    event = app_event("app.disconnected", world.app)
    assert await send(client, event) == {"status": "applied"}
    (await envelopes.settled()).clear()
    before = await snapshot(world.portal.id)
    # a retry (signed again, a moment later) and even a different event reusing the id
    assert await send(client, event, status=200) == {"status": "duplicate"}
    assert await send(
        client, {**app_event("app.reconnected", world.app), "id": event["id"]}, status=200
    ) == {"status": "duplicate"}
    assert await snapshot(world.portal.id) == before
    assert await envelopes.settled() == []
    assert (await read_app(client, world, world.app))["status"] == "DISCONNECTED"


async def test_duplicate_comes_before_not_found_and_conflict(client, world):
    event = app_event("app.disconnected", world.app)
    await send(client, event)
    gone = {**event, "appId": gid("ConnectedApp", 10**9)}
    assert await send(client, gone, status=200) == {"status": "duplicate"}
    await ConnectedApp.filter(id=world.app.id).update(uninstalled_at=now())
    assert await send(client, event, status=200) == {"status": "duplicate"}


async def test_a_refused_event_is_not_remembered_so_its_corrected_retry_applies(client, world):
    event = {**app_event("app.disconnected", world.app), "appId": gid("ConnectedApp", 10**9)}
    await send(client, event, status=404)
    assert not await ProcessedEvent.exists(id=event["id"])
    assert await send(client, {**event, "appId": gid("ConnectedApp", world.app.id)}) == {
        "status": "applied"
    }
    assert await ProcessedEvent.exists(id=event["id"])


# --- 404 and 409 --------------------------------------------------------------------------


async def test_unknown_portal_app_or_listing_is_404_and_stores_nothing(client, world, envelopes):
    before = await snapshot(world.portal.id)
    no_portal = {**app_event("app.disconnected", world.app), "portalId": gid("Portal", 10**9)}
    assert await send(client, no_portal, status=404) == {
        "status": "not_found",
        "message": "No such portal",
    }
    no_app = {**app_event("app.disconnected", world.app), "appId": gid("ConnectedApp", 10**9)}
    assert await send(client, no_app, status=404) == {
        "status": "not_found",
        "message": "No such app in this portal",
    }
    listing = scopes_event(10**9, [_scope("a")])
    assert await send(client, listing, status=404) == {
        "status": "not_found",
        "message": "No such listing",
    }
    assert await snapshot(world.portal.id) == before and await envelopes.settled() == []


async def test_an_app_of_another_portal_answers_exactly_like_a_missing_one(
    client, world, listings, envelopes
):
    stranger_tenant = await f.make_tenant(people={}, apps=[listings["portal"]])
    stranger, foreign = stranger_tenant.portal, stranger_tenant.apps["Ledger"]
    before = (await snapshot(world.portal.id), await snapshot(stranger.id))
    as_ours = {**app_event("app.disconnected", foreign), "portalId": gid("Portal", world.portal.id)}
    missing = {**app_event("app.disconnected", world.app), "appId": gid("ConnectedApp", 10**9)}
    a, b = await post(client, as_ours), await post(client, missing)
    assert (
        (a.status_code, a.content)
        == (b.status_code, b.content)
        == (404, b'{"status":"not_found","message":"No such app in this portal"}')
    )
    assert (await snapshot(world.portal.id), await snapshot(stranger.id)) == before
    assert await envelopes.settled() == []


async def test_an_uninstalled_app_is_409_and_stores_nothing(client, world, envelopes):
    await ConnectedApp.filter(id=world.app.id).update(uninstalled_at=now())
    before = await snapshot(world.portal.id)
    for event in (app_event("app.disconnected", world.app), error_event(world.app, "boom")):
        assert await send(client, event, status=409) == {
            "status": "conflict",
            "message": "The app is uninstalled",
        }
    assert await snapshot(world.portal.id) == before and await envelopes.settled() == []


async def test_other_methods_are_405(client):
    assert (await client.get("/events")).status_code == 405


# --- marks ---------------------------------------------------------------------------------


async def test_disconnect_and_reconnect_flip_the_mark_and_log_it(client, world, envelopes):
    t1 = now() - timedelta(minutes=30)
    received = now()
    # When the platform reports a disconnect
    assert await send(client, app_event("app.disconnected", world.app, t1)) == {"status": "applied"}
    # Then the app shows DISCONNECTED with a DISCONNECTED entry at the reported time, by no user
    view = await read_app(client, world, world.app)
    assert view["status"] == "DISCONNECTED"
    assert log_of(view) == [("DISCONNECTED", t1, None), ("INSTALLED", f.T0, {"name": "Ada Admin"})]
    entry = await AppLogEntry.filter(app_id=world.app.id).order_by("-id").first()
    assert entry.user_id is None and entry.recorded_at >= received.replace(microsecond=0)
    assert await summary(client, world) == {**CONNECTED_SUMMARY, "connected": 1, "disconnected": 1}
    # and one envelope: the entry and the status change
    assert published(await envelopes.settled()) == [
        envelope(world.portal.id, [entry.id], [change(world.app, "CONNECTED", "DISCONNECTED", t1)])
    ]

    # When it reports a reconnect
    (await envelopes.settled()).clear()
    t2 = t1 + timedelta(minutes=10)
    await send(client, app_event("app.reconnected", world.app, t2))
    view = await read_app(client, world, world.app)
    assert view["status"] == "CONNECTED"
    assert [a for a, _t, _u in log_of(view)] == ["RECONNECTED", "DISCONNECTED", "INSTALLED"]
    assert log_of(view)[0] == ("RECONNECTED", t2, None)
    entry2 = await AppLogEntry.filter(app_id=world.app.id).order_by("-id").first()
    assert published(await envelopes.settled()) == [
        envelope(world.portal.id, [entry2.id], [change(world.app, "DISCONNECTED", "CONNECTED", t2)])
    ]
    assert await summary(client, world) == CONNECTED_SUMMARY


async def test_a_report_that_does_not_flip_the_mark_logs_nothing(client, world, envelopes):
    t1 = now() - timedelta(minutes=30)
    await send(client, app_event("app.reconnected", world.app, t1))  # already clear
    await send(client, app_event("app.disconnected", world.app, t1 + timedelta(minutes=1)))
    (await envelopes.settled()).clear()
    await send(
        client, app_event("app.disconnected", world.app, t1 + timedelta(minutes=2))
    )  # already set
    view = await read_app(client, world, world.app)
    assert [a for a, _t, _u in log_of(view)] == ["DISCONNECTED", "INSTALLED"]
    assert await envelopes.settled() == []
    # but the mark's time moved: it is the newest known state
    assert (await ConnectedApp.get(id=world.app.id)).mark_changed_at == t1 + timedelta(minutes=2)


async def test_a_stale_report_leaves_the_mark_but_is_logged_at_its_own_time(
    client, world, envelopes
):
    t = now() - timedelta(minutes=30)
    await send(client, app_event("app.disconnected", world.app, t))
    (await envelopes.settled()).clear()
    before = await ConnectedApp.get(id=world.app.id).values()
    # When a reconnect that happened before the disconnect arrives late
    await send(client, app_event("app.reconnected", world.app, t - timedelta(minutes=5)))
    # Then the app stays disconnected, and the history gets the reconnect where it happened
    view = await read_app(client, world, world.app)
    assert view["status"] == "DISCONNECTED"
    assert [(a, at) for a, at, _u in log_of(view)] == [
        ("DISCONNECTED", t),
        ("RECONNECTED", t - timedelta(minutes=5)),
        ("INSTALLED", f.T0),
    ]
    assert await ConnectedApp.get(id=world.app.id).values() == before
    entry = await AppLogEntry.filter(app_id=world.app.id).order_by("-id").first()
    assert published(await envelopes.settled()) == [
        envelope(world.portal.id, [entry.id])
    ]  # no status change


async def test_a_stale_disconnect_on_a_clear_mark_is_logged_and_changes_nothing_else(
    client, world, envelopes
):
    t = now() - timedelta(minutes=30)
    await send(client, app_event("app.reconnected", world.app, t))  # clear already; its time counts
    await send(client, app_event("app.disconnected", world.app, t - timedelta(seconds=1)))
    view = await read_app(client, world, world.app)
    assert view["status"] == "CONNECTED"
    assert log_of(view)[0] == ("DISCONNECTED", t - timedelta(seconds=1), None)
    entry = await AppLogEntry.filter(app_id=world.app.id).order_by("-id").first()
    assert published(await envelopes.settled()) == [envelope(world.portal.id, [entry.id])]


async def test_equal_times_the_later_arrival_wins(client, world):
    t = now() - timedelta(minutes=30)
    await send(client, app_event("app.disconnected", world.app, t))
    await send(client, app_event("app.reconnected", world.app, t))
    view = await read_app(client, world, world.app)
    assert view["status"] == "CONNECTED"
    assert [a for a, _t, _u in log_of(view)][:2] == ["RECONNECTED", "DISCONNECTED"]


# --- alerts -------------------------------------------------------------------------------


async def test_an_error_opens_an_alert_and_the_status_turns_error(client, world, envelopes):
    t = now() - timedelta(minutes=20)
    await send(client, error_event(world.app, "token_expired", t, "WARNING", "The token expired"))
    view = await read_app(client, world, world.app)
    assert view["status"] == "ERROR"
    [alert] = view["alerts"]
    assert (alert["code"], alert["severity"], alert["message"], alert["resolvedAt"]) == (
        "token_expired",
        "WARNING",
        "The token expired",
        None,
    )
    assert datetime.fromisoformat(alert["raisedAt"]) == t
    assert log_of(view)[0] == ("ERROR_RAISED", t, None)  # by the platform, at its time
    assert await summary(client, world) == {**CONNECTED_SUMMARY, "connected": 1, "errored": 1}
    row = await AppAlert.get(app_id=world.app.id)
    assert alert["id"] == gid("AppAlert", row.id)
    entry = await AppLogEntry.get(app_id=world.app.id, activity="ERROR_RAISED")
    assert published(await envelopes.settled()) == [
        envelope(world.portal.id, [entry.id], [change(world.app, "CONNECTED", "ERROR", t, row.id)])
    ]


async def test_an_error_with_an_open_code_updates_the_alert_instead_of_adding_one(
    client, world, envelopes
):
    t = now() - timedelta(minutes=20)
    await send(client, error_event(world.app, "sync_failed", t, "WARNING", "Sync is slow"))
    (await envelopes.settled()).clear()
    await send(
        client,
        error_event(world.app, "sync_failed", t + timedelta(minutes=1), "ERROR", "Sync failed"),
    )
    view = await read_app(client, world, world.app)
    assert alerts_of(view) == [("sync_failed", "ERROR", "Sync failed")]
    assert datetime.fromisoformat(view["alerts"][0]["raisedAt"]) == t  # first raised, still
    assert await AppAlert.filter(app_id=world.app.id).count() == 1
    # ERROR stays ERROR; the new reason is logged
    raised = await AppLogEntry.filter(app_id=world.app.id, activity="ERROR_RAISED").order_by("id")
    assert len(raised) == 2
    assert published(await envelopes.settled()) == [envelope(world.portal.id, [raised[1].id])]


async def test_recovered_with_a_code_resolves_that_alert_only(client, world, envelopes):
    t = now() - timedelta(minutes=20)
    await send(client, error_event(world.app, "a", t))
    await send(client, error_event(world.app, "b", t + timedelta(minutes=1)))
    (await envelopes.settled()).clear()
    resolved_at = t + timedelta(minutes=2)
    await send(client, app_event("app.recovered", world.app, resolved_at, alert={"code": "a"}))
    view = await read_app(client, world, world.app)
    assert view["status"] == "ERROR"
    assert alerts_of(view) == [("b", "ERROR", "b happened")]
    a = await AppAlert.get(app_id=world.app.id, code="a")
    gone = (await data(client, ALERT, {"id": gid("AppAlert", a.id)}, token=world.token))["node"]
    assert datetime.fromisoformat(gone["resolvedAt"]) == resolved_at
    resolved = await AppLogEntry.get(app_id=world.app.id, activity="ERROR_RESOLVED")
    assert published(await envelopes.settled()) == [envelope(world.portal.id, [resolved.id])]


async def test_recovered_without_a_code_resolves_every_open_alert(client, world, envelopes):
    t = now() - timedelta(minutes=20)
    await send(client, error_event(world.app, "a", t))
    await send(client, error_event(world.app, "b", t + timedelta(minutes=1)))
    (await envelopes.settled()).clear()
    done = t + timedelta(minutes=2)
    await send(client, app_event("app.recovered", world.app, done))
    view = await read_app(client, world, world.app)
    assert (view["status"], view["alerts"]) == ("CONNECTED", [])
    assert await AppAlert.filter(app_id=world.app.id, resolved_at=done).count() == 2
    newest = await AppAlert.get(app_id=world.app.id, code="b")
    resolved = await AppLogEntry.filter(app_id=world.app.id, activity="ERROR_RESOLVED").order_by(
        "id"
    )
    assert published(await envelopes.settled()) == [
        envelope(
            world.portal.id,
            [e.id for e in resolved],  # oldest alert first
            [change(world.app, "ERROR", "CONNECTED", done, newest.id)],
        )
    ]
    assert await summary(client, world) == CONNECTED_SUMMARY


async def test_recovering_a_code_that_is_not_open_changes_nothing(client, world, envelopes):
    before = await snapshot(world.portal.id)
    await send(client, app_event("app.recovered", world.app, alert={"code": "never"}))
    after = await snapshot(world.portal.id)
    assert after[0] == before[0] + 1 and after[1:] == before[1:]  # only the id is remembered
    assert await envelopes.settled() == []


async def test_a_disconnected_app_with_an_alert_shows_disconnected_then_error(
    client, world, envelopes
):
    t = now() - timedelta(minutes=20)
    await send(client, app_event("app.disconnected", world.app, t))
    (await envelopes.settled()).clear()
    await send(client, error_event(world.app, "x", t + timedelta(minutes=1)))
    assert (await read_app(client, world, world.app))["status"] == "DISCONNECTED"
    raised = await AppLogEntry.get(app_id=world.app.id, activity="ERROR_RAISED")
    # the mark wins: no status change, only the error's entry
    assert published(await envelopes.settled()) == [envelope(world.portal.id, [raised.id])]
    (await envelopes.settled()).clear()
    await send(client, app_event("app.reconnected", world.app, t + timedelta(minutes=2)))
    assert (await read_app(client, world, world.app))["status"] == "ERROR"
    entry = await AppLogEntry.filter(app_id=world.app.id).order_by("-id").first()
    assert published(await envelopes.settled()) == [
        envelope(
            world.portal.id,
            [entry.id],
            [change(world.app, "DISCONNECTED", "ERROR", t + timedelta(minutes=2))],
        )
    ]


async def test_stale_alert_events_change_nothing_and_equal_times_let_the_later_win(
    client, world, envelopes
):
    t = now() - timedelta(minutes=20)
    await send(client, error_event(world.app, "x", t, message="first"))
    (await envelopes.settled()).clear()
    before = await snapshot(world.portal.id)
    # older than the alert's last change: neither an update nor a recovery applies
    await send(client, error_event(world.app, "x", t - timedelta(seconds=1), message="older"))
    await send(
        client, app_event("app.recovered", world.app, t - timedelta(seconds=1), alert={"code": "x"})
    )
    await send(client, app_event("app.recovered", world.app, t - timedelta(seconds=1)))
    after = await snapshot(world.portal.id)
    assert after[1:] == before[1:] and await envelopes.settled() == []
    # at the same time, the later arrival wins
    await send(client, app_event("app.recovered", world.app, t, alert={"code": "x"}))
    assert (await read_app(client, world, world.app))["status"] == "CONNECTED"
    # an error from before that recovery does not reopen it…
    await send(client, error_event(world.app, "x", t - timedelta(seconds=1)))
    assert (await read_app(client, world, world.app))["alerts"] == []
    # …one at the same time does, as a new alert
    await send(client, error_event(world.app, "x", t, message="again"))
    view = await read_app(client, world, world.app)
    assert (view["status"], alerts_of(view)) == ("ERROR", [("x", "ERROR", "again")])
    assert await AppAlert.filter(app_id=world.app.id).count() == 2


# --- MULTI_ACCOUNT ------------------------------------------------------------------------


async def test_multi_account_apps_take_marks_and_alerts_but_show_no_status(
    client, world, envelopes
):
    t = now() - timedelta(minutes=20)
    await send(client, app_event("app.disconnected", world.multi, t))
    await send(client, error_event(world.multi, "rate_limited", t + timedelta(minutes=1)))
    view = await read_app(client, world, world.multi)
    assert view["status"] is None
    assert alerts_of(view) == [("rate_limited", "ERROR", "rate_limited happened")]
    assert log_of(view)[:2] == [
        ("ERROR_RAISED", t + timedelta(minutes=1), None),
        ("DISCONNECTED", t, None),
    ]
    assert (await ConnectedApp.get(id=world.multi.id)).disconnected is True
    assert await summary(client, world) == CONNECTED_SUMMARY  # not counted
    entries = await AppLogEntry.filter(app_id=world.multi.id).order_by("-id").limit(2)
    assert published(await envelopes.settled()) == [
        envelope(world.portal.id, [e.id]) for e in reversed(entries)
    ]  # the log entries only


# --- listing.scopes_changed ---------------------------------------------------------------


async def test_new_scopes_show_as_needing_reauthorization_or_upgrade_in_every_portal(
    client, settings, envelopes
):
    # Given a listing installed by a STARTER and an ENTERPRISE portal, everything granted
    listing = await f.make_listing(
        "Pipeline", scopes=[("oauth", F, True), ("old.scope", F, False)], category=CATEGORY
    )
    views = {}
    for tier in (S, E):
        t = await f.make_tenant(settings, tier=tier, apps=[listing])
        views[tier] = (t.apps["Pipeline"], t.token("Ada Admin"))
    bystander = await f.make_tenant(settings, tier=S, people={"Lou Looker": "member"})
    looker = bystander.token("Lou Looker")
    # When the platform reports the listing's new list
    new = [
        _scope("oauth", "FREE", True, "Sign in"),
        _scope("contacts.read", "STARTER"),
        _scope("reports", "PROFESSIONAL"),
        _scope("ai", "ENTERPRISE"),
    ]
    assert await send(client, scopes_event(listing.id, new)) == {"status": "applied"}

    async def scopes_of(tier):
        app, token = views[tier]
        return (await data(client, SCOPES, {"id": gid("ConnectedApp", app.id)}, token=token))[
            "node"
        ]

    # Then each portal sees the new scopes by its own tier, in the listing's order
    starter = await scopes_of(S)
    assert [(s["name"], s["state"]) for s in starter["scopes"]] == [
        ("oauth", "GRANTED"),
        ("contacts.read", "NEEDS_REAUTHORIZATION"),
        ("reports", "NEEDS_UPGRADE"),
        ("ai", "NEEDS_UPGRADE"),
    ]
    assert (starter["updateAvailable"], starter["upgradeAvailable"]) == (True, True)
    assert starter["scopes"][0] == {
        "name": "oauth",
        "description": "Sign in",
        "state": "GRANTED",
        "requiredTier": "FREE",
        "required": True,
    }
    enterprise = await scopes_of(E)
    assert [(s["name"], s["state"]) for s in enterprise["scopes"]] == [
        ("oauth", "GRANTED"),
        ("contacts.read", "NEEDS_REAUTHORIZATION"),
        ("reports", "NEEDS_REAUTHORIZATION"),
        ("ai", "NEEDS_REAUTHORIZATION"),
    ]
    assert (enterprise["updateAvailable"], enterprise["upgradeAvailable"]) == (True, False)
    # and a portal that never installed it sees what an install would give
    offer = (
        await data(
            client, LISTING_SCOPES, {"id": gid("MarketplaceListing", listing.id)}, token=looker
        )
    )["node"]
    assert offer["requestedScopes"] == [
        {"name": "oauth", "state": "GRANTED"},
        {"name": "contacts.read", "state": "GRANTED"},
        {"name": "reports", "state": "NEEDS_UPGRADE"},
        {"name": "ai", "state": "NEEDS_UPGRADE"},
    ]
    # no status changes; each installed app's log tells the change (DESIGN §6, and
    # tests/test_scope_changes.py), published to its own portal
    changed = await AppLogEntry.filter(app__listing_id=listing.id, activity="SCOPES_CHANGED")
    assert published(await envelopes.settled()) == [
        envelope(e.portal_id, [e.id]) for e in sorted(changed, key=lambda e: e.id)
    ]
    assert await AppLogEntry.filter(app__listing_id=listing.id).count() == 4  # and 2 INSTALLED
    # and an empty list is a list too: the listing requests nothing any more
    await send(client, scopes_event(listing.id, []))
    assert await ListingScope.filter(listing_id=listing.id).count() == 0
    assert (await scopes_of(S))["scopes"] == []


# --- idempotency under concurrency (PostgreSQL: SQLite serializes writers) ----------------


@pytest.mark.postgres
async def test_identical_events_at_once_apply_once(client, world, envelopes):
    import asyncpg
    from tortoise.backends.base_postgres.client import BasePostgresClient
    from tortoise.connection import get_connection

    body = orjson.dumps(app_event("app.disconnected", world.app))
    headers = headers_for(body)
    arrivals = 0
    # The winner holds one of the pool's connections: as many others as the rest of the pool
    # lends can wait on its id; any beyond wait for a connection, then find the id committed.
    pool = get_connection("default")
    assert isinstance(pool, BasePostgresClient)
    queued = min(5, pool.pool_maxsize - 1)
    watcher = await asyncpg.connect(PG_URL)

    async def others_waiting() -> bool:
        waiting = await watcher.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return bool(waiting >= queued)

    async def hold_the_first() -> None:
        # The winner sits on its uncommitted id until the others wait on the primary key.
        nonlocal arrivals
        arrivals += 1
        await until(others_waiting, what=f"{queued} other requests waiting on the winner's id")

    try:
        with faults.hooked("ingest:after-claim", hold_the_first):
            responses = await asyncio.gather(
                *(client.post("/events", content=body, headers=headers) for _ in range(6))
            )
    finally:
        await watcher.close()
    assert sorted(r.status_code for r in responses) == [200] * 5 + [202]
    assert arrivals == 1
    assert await AppLogEntry.filter(app_id=world.app.id, activity="DISCONNECTED").count() == 1
    assert len(await envelopes.settled()) == 1


@pytest.mark.postgres
async def test_different_events_of_one_app_at_once_serialize_on_the_app(client, world, envelopes):
    t = now() - timedelta(minutes=5)
    events = [
        app_event("app.disconnected", world.app, t),
        error_event(world.app, "x", t),
        app_event("app.reconnected", world.app, t + timedelta(seconds=1)),
    ]
    responses = await asyncio.gather(*(post(client, e) for e in events))
    assert [r.status_code for r in responses] == [202, 202, 202]
    # Whatever order they ran in, the outcome is the one occurredAt dictates
    view = await read_app(client, world, world.app)
    assert (view["status"], alerts_of(view)) == ("ERROR", [("x", "ERROR", "x happened")])
    row = await ConnectedApp.get(id=world.app.id)
    assert (row.disconnected, row.mark_changed_at) == (False, t + timedelta(seconds=1))
    # (the reconnect is logged only if the disconnect had set the mark before it ran)
    assert ("DISCONNECTED", t, None) in log_of(view)


# --- keeping ids --------------------------------------------------------------------------


async def test_applied_events_purge_ids_older_than_8_days(world, make_client):
    t = now()
    old, kept = f"old-{uuid.uuid4()}", f"kept-{uuid.uuid4()}"
    await ProcessedEvent.create(id=old, received_at=t - timedelta(days=8, minutes=1))
    await ProcessedEvent.create(id=kept, received_at=t - timedelta(days=7, hours=23))
    async with make_client() as fresh:  # a new process: its first applied event purges
        assert await send(fresh, app_event("app.disconnected", world.app)) == {"status": "applied"}
        assert not await ProcessedEvent.exists(id=old)
        assert await ProcessedEvent.exists(id=kept)
        # a retry within the retention is still a duplicate
        assert await send(
            fresh, {**app_event("app.reconnected", world.app), "id": kept}, status=200
        ) == {"status": "duplicate"}


async def test_the_purge_runs_at_most_once_per_interval(app):
    purger = Purger(timedelta(hours=1))
    t = now()
    assert await purger.maybe_purge(t) is not None
    assert await purger.maybe_purge(t + timedelta(minutes=59)) is None
    assert await purger.maybe_purge(t + timedelta(hours=1)) is not None


# --- gateway emit -------------------------------------------------------------------------


async def test_gateway_emit_signs_and_sends_an_event(tmp_path):
    # Given `gateway serve --demo` on its own database
    env = clean_env(
        GATEWAY_DATABASE_URL=f"sqlite://{tmp_path / 'emit.sqlite3'}",
        GATEWAY_JWT_SECRET="emit-test-jwt-secret-" + "x" * 32,
        GATEWAY_EVENTS_SECRET="emit-test-events-secret-" + "y" * 32,
    )
    async with serving(env, "--demo") as (base, _lines):
        url = f"{base}/events"

        def emit(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [GATEWAY, "emit", *args, "--url", url],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )

        # When an operator reports Quotely disconnected, by portal name and listing slug
        done = await asyncio.to_thread(
            emit,
            "app.disconnected",
            "--portal",
            "Acme Demo",
            "--app",
            "quotely",
            "--id",
            "emit-test-1",
        )
        # Then it prints the answer and succeeds
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == '202 {"status":"applied"}'
        # and the console shows the app disconnected
        token = subprocess.run(
            [GATEWAY, "token", "--email", "admin@demo.example", "--portal", "Acme Demo"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout.strip()

        async def quotely() -> dict[str, Any]:
            query = """{ viewer { portal { connectedApps(first: 50, filter: {search: "quotely"}) {
              nodes { name status upgradeAvailable scopes { name state } } } } } }"""
            async with httpx.AsyncClient(base_url=base) as http:
                response = await http.post(
                    "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"}
                )
            [node] = response.json()["data"]["viewer"]["portal"]["connectedApps"]["nodes"]
            return node

        assert ((await quotely())["name"], (await quotely())["status"]) == (
            "Quotely CPQ",
            "DISCONNECTED",
        )
        # A second send of the same id is a duplicate, still a success
        again = await asyncio.to_thread(
            emit,
            "app.disconnected",
            "--portal",
            "Acme Demo",
            "--app",
            "quotely",
            "--id",
            "emit-test-1",
        )
        assert (again.returncode, again.stdout.strip()) == (0, '200 {"status":"duplicate"}')
        # A refused event exits 1 with the server's answer
        refused = await asyncio.to_thread(
            emit, "app.recovered", "--portal", "Acme Demo", "--app", gid("ConnectedApp", 10**9)
        )
        assert refused.returncode == 1
        assert (
            refused.stdout.strip()
            == '404 {"status":"not_found","message":"No such app in this portal"}'
        )
        # Scopes of a listing, by slug, from a file
        scopes = tmp_path / "scopes.json"
        scopes.write_text(
            '[{"name": "quotes.write", "description": "Write quotes", '
            '"requiredTier": "ENTERPRISE", "required": false}]'
        )
        listing = await asyncio.to_thread(
            emit, "listing.scopes_changed", "--listing", "quotely", "--scopes-file", str(scopes)
        )
        assert (listing.returncode, listing.stdout.strip()) == (0, '202 {"status":"applied"}')
        after = await quotely()
        assert (after["upgradeAvailable"], after["scopes"]) == (
            True,
            [{"name": "quotes.write", "state": "NEEDS_UPGRADE"}],
        )
        # Signed with another secret, it is refused
        wrong = await asyncio.to_thread(
            lambda: subprocess.run(
                [
                    GATEWAY,
                    "emit",
                    "app.reconnected",
                    "--portal",
                    "Acme Demo",
                    "--app",
                    "quotely",
                    "--url",
                    url,
                ],
                env={**env, "GATEWAY_EVENTS_SECRET": "not-the-servers-secret-" + "z" * 30},
                capture_output=True,
                text=True,
                timeout=60,
            )
        )
        assert wrong.returncode == 1 and wrong.stdout.startswith("401 ")
        # An unknown name fails before sending anything
        unknown = await asyncio.to_thread(
            emit, "app.disconnected", "--portal", "Nope Inc", "--app", "quotely"
        )
        assert unknown.returncode == 2 and "Nope Inc" in unknown.stderr


def test_gateway_emit_says_when_the_gateway_is_unreachable():
    # Nothing listens on port 9 (discard); ids are global ids, so no database is needed.
    env = clean_env(GATEWAY_EVENTS_SECRET="z" * 40)
    done = subprocess.run(
        [
            GATEWAY,
            "emit",
            "app.disconnected",
            "--portal",
            gid("Portal", 1),
            "--app",
            gid("ConnectedApp", 1),
            "--url",
            "http://127.0.0.1:9/events",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "cannot reach" in done.stderr
