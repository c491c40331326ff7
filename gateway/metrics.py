"""The gateway's Prometheus series (DESIGN §3 "Metrics"), in a registry of their own.

A registry per app rather than prometheus-client's global one: tests build many apps in one
process, and a worker serving its own /metrics has its own series. Label values are bounded,
so a client cannot grow the registry: operation names are taken only from operations that
passed validation, at most `MAX_OPERATION_NAMES` of them (the trusted manifests' first), and
every other is `other`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE", "MAX_OPERATION_NAMES", "Metrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
MAX_OPERATION_NAMES = 200
ANONYMOUS = "anonymous"
OTHER = "other"
UNKNOWN = "unknown"

# A console page takes milliseconds; an export or a cold cache, seconds.
_DURATION_BUCKETS = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Every series the gateway (or a separate worker) exports."""

    def __init__(self, operation_names: Iterable[str] = ()) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "gateway_graphql_requests",
            "GraphQL operations answered over HTTP and WebSocket. outcome: ok (executed without "
            "top-level errors), error (executed with errors), refused (not executed).",
            ["operation_type", "operation_name", "outcome"],
            registry=r,
        )
        self.duration = Histogram(
            "gateway_graphql_request_duration_seconds",
            "Seconds from a request's body read to its response written.",
            ["operation_type", "operation_name"],
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            "gateway_graphql_errors",
            "Top-level GraphQL errors by extensions.code.",
            ["code"],
            registry=r,
        )
        self.websocket_connections = Gauge(
            "gateway_websocket_connections", "Open WebSocket connections.", registry=r
        )
        self.subscriptions = Gauge(
            "gateway_subscriptions", "Open subscriptions by field.", ["field"], registry=r
        )
        self.subscription_messages = Counter(
            "gateway_subscription_messages",
            "`next` messages sent to subscribers, by field.",
            ["field"],
            registry=r,
        )
        self.websocket_closes = Counter(
            "gateway_websocket_closes",
            "WebSocket connections closed by the server, by close code.",
            ["code"],
            registry=r,
        )
        self.events_ingested = Counter(
            "gateway_events_ingested",
            "POST /events by event type and outcome (applied, duplicate, refused).",
            ["type", "outcome"],
            registry=r,
        )
        self.rate_limited = Counter(
            "gateway_rate_limited",
            "Requests refused with 429, by kind of budget (user, anonymous).",
            ["kind"],
            registry=r,
        )
        self.rate_limit_backend = Gauge(
            "gateway_rate_limit_backend",
            "Where rate budgets are kept: 1 for the backend in use (redis, local).",
            ["backend"],
            registry=r,
        )
        self.digests = Counter(
            "gateway_digests",
            "Digest jobs the worker finished, by outcome.",
            ["outcome"],
            registry=r,
        )
        self.emails = Counter(
            "gateway_emails", "Emails the worker tried to send, by status.", ["status"], registry=r
        )
        self.webhooks = Counter(
            "gateway_webhook_messages",
            "Webhook and Slack messages the worker tried to send, by status.",
            ["status"],
            registry=r,
        )
        self._operation_names: set[str] = set()
        # The labelled children of an operation's series, by its labels: `labels()` checks
        # and locks on every call, a few microseconds a request.
        self._operation_series: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        for name in operation_names:
            self.operation_label(name)

    def operation_label(self, name: str | None) -> str:
        """The label of a validated operation's name: itself while there is room, else `other`."""
        if name is None:
            return ANONYMOUS
        if name in self._operation_names:
            return name
        if len(self._operation_names) < MAX_OPERATION_NAMES:
            self._operation_names.add(name)
            return name
        return OTHER

    def operation(
        self,
        operation_type: str,
        operation_name: str,
        outcome: str,
        seconds: float,
        error_codes: Iterable[str] = (),
    ) -> None:
        """One GraphQL operation answered (`operation_name` already a label)."""
        key = (operation_type, operation_name, outcome)
        series = self._operation_series.get(key)
        if series is None:
            series = self._operation_series[key] = (
                self.requests.labels(*key),
                self.duration.labels(operation_type, operation_name),
            )
        series[0].inc()
        series[1].observe(seconds)
        for code in error_codes:
            self.errors.labels(code).inc()

    def set_rate_limit_backend(self, backend: str) -> None:
        for name in ("redis", "local"):
            self.rate_limit_backend.labels(name).set(1 if name == backend else 0)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
