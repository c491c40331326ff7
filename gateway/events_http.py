"""`POST /events`: the integration platform's signed reports (DESIGN §3 "Event ingestion").

This module is the HTTP edge only: the body limit, the signature, turning JSON into a typed
event, and turning the service's outcome into a status code. The rules live in
gateway/services/ingestion.py.

The order of the checks is the contract; the first failure answers:
body over 64 KiB (413) → signature and timestamp (401) → JSON and its shape (400) →
a processed id (200) → unknown portal/app/listing (404) → uninstalled app (409; `app.usage`
is accepted for one) → 202.
The size comes first so an unsigned giant body costs no HMAC; the signature before parsing so
nothing unauthenticated reaches the JSON parser.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import Any, TypeVar

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway import clock
from gateway.bodies import BodyTooLarge, read_limited
from gateway.ids import decode_id
from gateway.metrics import Metrics
from gateway.models.enums import AlertSeverity, SubscriptionTier
from gateway.request_ids import accepted_request_id
from gateway.services import ingestion, usage
from gateway.services.envelopes import Publisher
from gateway.services.ingestion import (
    APP_EVENT_TYPES,
    AlertReport,
    AppEvent,
    Event,
    EventType,
    Outcome,
    ScopesChanged,
    ScopeSpec,
    UsageReport,
)
from gateway.services.text import (
    ALERT_CODE,
    ALERT_MESSAGE,
    EVENT_ID,
    GLOBAL_ID,
    SCOPE_DESCRIPTION,
    SCOPE_NAME,
    Bound,
)
from gateway.services.text import problem as text_problem
from gateway.settings import Settings, SettingsError
from gateway.tracing import Tracing, span

log = logging.getLogger("gateway.events_http")

MAX_BODY_BYTES = 64 * 1024
# How far the signed timestamp may be from our clock, either way: bounds replays of a captured
# request while tolerating ordinary clock drift.
MAX_CLOCK_SKEW_SECONDS = 300
# Reports from slightly fast clocks are fine; far-future ones would pin marks and alerts
# (later events look older than them) and are refused.
MAX_FUTURE = timedelta(minutes=5)

TIMESTAMP_HEADER = "x-gateway-timestamp"
SIGNATURE_HEADER = "x-gateway-signature"
SIGNATURE_PREFIX = "sha256="

# Longer than any ISO 8601 date-time.
_TIMESTAMP = Bound(64, shown=False)

_DIGITS = re.compile(r"[0-9]{1,12}")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

E = TypeVar("E", bound=Enum)


class Answer(Exception):
    """A request answered before (or instead of) applying it."""

    def __init__(self, status_code: int, status: str, message: str | None = None) -> None:
        super().__init__(message or status)
        self.status_code, self.status, self.message = status_code, status, message

    def response(self) -> Response:
        body: dict[str, Any] = {"status": self.status}
        if self.message is not None:
            body["message"] = self.message
        return Response(orjson.dumps(body), self.status_code, media_type="application/json")


_OUTCOMES: dict[Outcome, Answer] = {
    Outcome.APPLIED: Answer(202, "applied"),
    Outcome.DUPLICATE: Answer(200, "duplicate"),
    Outcome.UNKNOWN_PORTAL: Answer(404, "not_found", "No such portal"),
    Outcome.UNKNOWN_APP: Answer(404, "not_found", "No such app in this portal"),
    Outcome.UNKNOWN_LISTING: Answer(404, "not_found", "No such listing"),
    Outcome.UNINSTALLED: Answer(409, "conflict", "The app is uninstalled"),
}


# --- body and signature -------------------------------------------------------------------


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    try:
        return await read_limited(request, limit)
    except BodyTooLarge:
        raise Answer(413, "too_large", f"The body is larger than {limit} bytes") from None


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Gateway-Signature value for a body sent at `timestamp` (unix seconds)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def verify(
    secret: str, timestamp: str | None, signature: str | None, body: bytes, now: float
) -> None:
    """401 unless the signature matches and the signed timestamp is close to `now`."""
    if timestamp is None or not _DIGITS.fullmatch(timestamp):
        raise Answer(401, "unauthorized", "X-Gateway-Timestamp must be unix seconds")
    if signature is None or not signature.startswith(SIGNATURE_PREFIX):
        raise Answer(401, "unauthorized", "X-Gateway-Signature must be sha256=<hex>")
    expected = sign(secret, timestamp, body).encode()
    # Constant time, so the response time leaks nothing about how much of a guess was right.
    if not hmac.compare_digest(expected, signature.lower().encode("latin-1")):
        raise Answer(401, "unauthorized", "The signature does not match the body")
    # Checked after the signature: the timestamp is only meaningful once we know it was signed.
    if abs(now - int(timestamp)) > MAX_CLOCK_SKEW_SECONDS:
        raise Answer(
            401,
            "unauthorized",
            f"X-Gateway-Timestamp is more than {MAX_CLOCK_SKEW_SECONDS} s away from the server clock",
        )


# --- shape --------------------------------------------------------------------------------


class _Shape:
    """Reads fields out of the JSON, collecting every problem so one 400 names them all."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def problem(self, message: str) -> None:
        self.problems.append(message)

    def text(
        self, obj: dict[str, Any], key: str, path: str, bound: Bound, *, empty: bool = False
    ) -> str | None:
        value = obj.get(key)
        if value is None:
            self.problem(f"{path} is required")
        elif not isinstance(value, str):
            self.problem(f"{path} must be a string")
        elif not empty and not value.strip():
            self.problem(f"{path} must not be empty")
        elif (bad := text_problem(value, path, bound)) is not None:
            self.problem(bad)
        else:
            return value
        return None

    def choice(self, obj: dict[str, Any], key: str, path: str, enum: type[E]) -> E | None:
        value = obj.get(key)
        if value is None:
            self.problem(f"{path} is required")
            return None
        if isinstance(value, str):
            try:
                return enum(value)
            except ValueError:
                pass
        self.problem(f"{path} must be one of {', '.join(e.value for e in enum)}")
        return None

    def flag(self, obj: dict[str, Any], key: str, path: str) -> bool | None:
        value = obj.get(key)
        if isinstance(value, bool):
            return value
        self.problem(f"{path} is required" if value is None else f"{path} must be true or false")
        return None

    def global_id(self, obj: dict[str, Any], key: str, type_name: str) -> int | None:
        value = self.text(obj, key, key, GLOBAL_ID)
        if value is None:
            return None
        pk = decode_id(value, type_name)
        if pk is None:
            self.problem(f"{key} is not a {type_name} id")
        return pk

    def obj(self, value: Any, path: str) -> dict[str, Any] | None:
        if isinstance(value, dict):
            return value
        self.problem(f"{path} is required" if value is None else f"{path} must be an object")
        return None

    def occurred_at(
        self, obj: dict[str, Any], now: datetime, key: str = "occurredAt"
    ) -> datetime | None:
        raw = self.text(obj, key, key, _TIMESTAMP)
        if raw is None:
            return None
        try:
            parsed = datetime.fromisoformat(raw)
            # Naive times are refused: guessing the sender's zone would misorder its events.
            value = parsed.astimezone(UTC) if parsed.tzinfo is not None else None
        except (ValueError, OverflowError):  # OverflowError: year 1 or 9999 shifted out of range
            value = None
        if value is None:
            self.problem(f"{key} must be an ISO 8601 date-time with a time zone")
            return None
        if value > now + MAX_FUTURE:
            self.problem(
                f"{key} is more than {int(MAX_FUTURE.total_seconds() // 60)} minutes in the future"
            )
            return None
        return value

    def day(self, obj: dict[str, Any], key: str) -> date | None:
        value = obj.get(key)
        if value is None:
            self.problem(f"{key} is required")
            return None
        if isinstance(value, str) and _DAY.fullmatch(value):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        self.problem(f"{key} must be a date, YYYY-MM-DD")
        return None

    def count(self, obj: dict[str, Any], key: str) -> int | None:
        value = obj.get(key)
        # bool is an int to Python, never to the sender.
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        self.problem(f"{key} is required" if value is None else f"{key} must be a whole number")
        return None


def parse_event(body: bytes, now: datetime) -> Event:
    """The typed event, or 400 naming every problem of the body."""
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise Answer(400, "invalid", "The body is not JSON") from None
    if not isinstance(raw, dict):
        raise Answer(400, "invalid", "The body must be a JSON object")
    shape = _Shape()
    event_id = shape.text(raw, "id", "id", EVENT_ID)
    event_type = shape.choice(raw, "type", "type", EventType)
    occurred_at = shape.occurred_at(raw, now)
    event: Event | None = None
    if event_type is EventType.LISTING_SCOPES_CHANGED:
        listing_id, scopes = (
            shape.global_id(raw, "listingId", "MarketplaceListing"),
            _scopes(shape, raw),
        )
        if not shape.problems:
            event = ScopesChanged(event_id, occurred_at, listing_id, scopes)  # type: ignore[arg-type]  # no problem: every field was read
    elif event_type in APP_EVENT_TYPES:
        portal_id = shape.global_id(raw, "portalId", "Portal")
        app_id = shape.global_id(raw, "appId", "ConnectedApp")
        alert = _alert(shape, raw, event_type)
        if not shape.problems:
            event = AppEvent(event_id, event_type, occurred_at, portal_id, app_id, alert)  # type: ignore[arg-type]  # no problem: every field was read
    elif event_type is EventType.APP_USAGE:
        event = _usage(shape, raw, event_id, occurred_at, now)
    if shape.problems or event is None:
        raise Answer(400, "invalid", "; ".join(shape.problems))
    return event


def _usage(
    shape: _Shape,
    raw: dict[str, Any],
    event_id: str | None,
    occurred_at: datetime | None,
    now: datetime,
) -> UsageReport | None:
    portal_id = shape.global_id(raw, "portalId", "Portal")
    app_id = shape.global_id(raw, "appId", "ConnectedApp")
    day, calls, errors = (
        shape.day(raw, "day"),
        shape.count(raw, "calls"),
        shape.count(raw, "errors"),
    )
    last_call_at = None
    if raw.get("lastCallAt") is not None:
        last_call_at = shape.occurred_at(raw, now, "lastCallAt")
    if day is not None and calls is not None and errors is not None:
        for problem in usage.report_problems(day, calls, errors, last_call_at, now):
            shape.problem(problem)
    if shape.problems:
        return None
    return UsageReport(event_id, occurred_at, portal_id, app_id, day, calls, errors, last_call_at)  # type: ignore[arg-type]  # no problem: every field was read


def _alert(shape: _Shape, raw: dict[str, Any], event_type: EventType) -> AlertReport | None:
    if event_type is EventType.APP_ERROR:
        alert = shape.obj(raw.get("alert"), "alert")
        if alert is None:
            return None
        severity = shape.choice(alert, "severity", "alert.severity", AlertSeverity)
        code = shape.text(alert, "code", "alert.code", ALERT_CODE)
        message = shape.text(alert, "message", "alert.message", ALERT_MESSAGE)
        return AlertReport(code, severity, message) if code else None
    if event_type is EventType.APP_RECOVERED and raw.get("alert") is not None:
        # Only the code matters: it names the alert to resolve; without it, all are resolved.
        alert = shape.obj(raw["alert"], "alert")
        code = shape.text(alert, "code", "alert.code", ALERT_CODE) if alert is not None else None
        return AlertReport(code) if code else None
    return None  # a disconnect/reconnect ignores an alert it was sent with


def _scopes(shape: _Shape, raw: dict[str, Any]) -> tuple[ScopeSpec, ...]:
    items = raw.get("scopes")
    if not isinstance(items, list):
        shape.problem("scopes is required" if items is None else "scopes must be a list")
        return ()
    out: list[ScopeSpec] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        path = f"scopes[{i}]"
        scope = shape.obj(item, path)
        if scope is None:
            continue
        name = shape.text(scope, "name", f"{path}.name", SCOPE_NAME)
        description = shape.text(
            scope, "description", f"{path}.description", SCOPE_DESCRIPTION, empty=True
        )
        tier = shape.choice(scope, "requiredTier", f"{path}.requiredTier", SubscriptionTier)
        required = shape.flag(scope, "required", f"{path}.required")
        if name is not None and name in seen:
            shape.problem(f"{path}.name repeats the scope {name!r}")
        elif name is not None:
            seen.add(name)
        if (
            name is not None
            and description is not None
            and tier is not None
            and required is not None
        ):
            out.append(ScopeSpec(name, description, tier, required))
    return tuple(out)


# --- the endpoint -------------------------------------------------------------------------


class EventsHTTP:
    """The /events endpoint (POST)."""

    def __init__(
        self,
        settings: Settings,
        publisher: Publisher,
        metrics: Metrics,
        tracing: Tracing | None = None,
    ) -> None:
        secret = settings.effective_events_secret
        if secret is None:
            raise SettingsError("GATEWAY_EVENTS_SECRET is not set")
        self.secret = secret
        self.publisher = publisher
        self.metrics = metrics
        self.tracing = tracing
        self.purger = ingestion.Purger()

    async def handle(self, request: Request) -> Response:
        request_id = accepted_request_id(request.headers.get("x-request-id"))
        kind = "unknown"  # the event's type, once it has parsed
        try:
            with span(self.tracing, "event ingestion", request.headers) as ingestion:
                kind, answer = await self._handle(request, request_id)
                if ingestion is not None:
                    ingestion.set_attribute("event.type", kind)
                    ingestion.set_attribute("event.outcome", answer.status)
        except Answer as refused:
            answer = refused
        except Exception:
            log.exception("unexpected error handling /events", extra={"request_id": request_id})
            answer = Answer(500, "error", f"Internal error (request id {request_id})")
        if 400 <= answer.status_code < 500:
            log.info(
                "event refused: %s %s",
                answer.status_code,
                answer.message,
                extra={"request_id": request_id},
            )
        outcome = answer.status if answer.status in ("applied", "duplicate") else "refused"
        self.metrics.events_ingested.labels(kind, outcome).inc()
        response = answer.response()
        response.headers["X-Request-ID"] = request_id
        return response

    async def _handle(self, request: Request, request_id: str) -> tuple[str, Answer]:
        body = await read_body(request)
        verify(
            self.secret,
            request.headers.get(TIMESTAMP_HEADER),
            request.headers.get(SIGNATURE_HEADER),
            body,
            time.time(),
        )
        now = clock.utc_now()
        event = parse_event(body, now)
        outcome = await ingestion.apply(event, self.publisher, now)
        log.info(
            "event %s (%s): %s",
            event.id,
            event.type.value,
            outcome.value,
            extra={"request_id": request_id},
        )
        if outcome is Outcome.APPLIED:
            await self._purge(now)
        return event.type.value, _OUTCOMES[outcome]

    async def _purge(self, now: datetime) -> None:
        try:
            await self.purger.maybe_purge(now)
        except Exception:  # the event is committed; housekeeping must not change the answer
            log.exception("purging processed event ids failed")
