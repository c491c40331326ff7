"""OpenTelemetry tracing (DESIGN §3 "Tracing"), off unless OTEL_EXPORTER_OTLP_ENDPOINT is set.

The packages are an optional extra (`pip install connected-apps-gateway[tracing]`), imported
only when tracing is on, so a gateway without them pays nothing. Spans: one per GraphQL
operation (gateway/policy.py's ticket), one per event ingestion and digest pass, and one per
SQL statement under whichever of those is current. Never one per field: a coroutine per field
would cost more than the request. An incoming W3C `traceparent` continues the caller's trace.
"""

from __future__ import annotations

import contextvars
import functools
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

from gateway.settings import Settings, SettingsError

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

log = logging.getLogger("gateway.tracing")

# Whether any Tracing was set up in this process: until then nothing imports OpenTelemetry.
_enabled = False
# The tracer SQL statements' spans come from (the process's last Tracing: one per process in
# production, one at a time in tests).
_statement_tracer: Tracer | None = None
# Set while a statement's span is open: a client method calling another makes one span.
_in_statement: contextvars.ContextVar[bool] = contextvars.ContextVar("in_statement", default=False)

_STATEMENT_METHODS = (
    "execute_insert",
    "execute_many",
    "execute_query",
    "execute_query_dict",
    "execute_script",
)


class Tracing:
    """The process's tracer provider, exporting over OTLP/HTTP (protobuf) in batches."""

    def __init__(self, endpoint: str, service_name: str) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        global _enabled, _statement_tracer
        # Not the global provider: each app (tests build several) has its own.
        self.provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        exporter = OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces")
        self.provider.add_span_processor(BatchSpanProcessor(exporter))
        self.tracer = self.provider.get_tracer("connected-apps-gateway")
        self._propagator = TraceContextTextMapPropagator()
        _instrument_database()
        _statement_tracer = self.tracer
        _enabled = True

    def start(
        self,
        name: str,
        headers: Mapping[str, str] | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> Span:
        """A span of its own (the caller ends it), continuing the caller's trace when its
        headers carry a `traceparent`."""
        parent = self._propagator.extract(headers) if headers is not None else None
        return self.tracer.start_span(name, context=parent, attributes=attributes)

    def current(self, span: Span) -> AbstractContextManager[Any]:
        """`span` is the current one while the block runs: SQL statements become its children."""
        from opentelemetry import trace

        return trace.use_span(span, end_on_exit=False)

    @contextmanager
    def span(
        self,
        name: str,
        headers: Mapping[str, str] | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> Iterator[Span]:
        """A span around a block, current inside it; an exception marks it failed."""
        span = self.start(name, headers, attributes)
        try:
            with self.current(span):
                yield span
        except BaseException as exc:
            failed(span, exc)
            raise
        finally:
            span.end()

    def shutdown(self) -> None:
        """Export what is still buffered, then stop."""
        global _statement_tracer
        if _statement_tracer is self.tracer:
            _statement_tracer = None
        self.provider.shutdown()


def make_tracing(settings: Settings) -> Tracing | None:
    if settings.otlp_endpoint is None:
        return None
    try:
        return Tracing(settings.otlp_endpoint, settings.otel_service_name)
    except ImportError as exc:
        raise SettingsError(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set, but the tracing packages are not installed: "
            f"pip install 'connected-apps-gateway[tracing]' ({exc})"
        ) from exc


def span(
    tracing: Tracing | None,
    name: str,
    headers: Mapping[str, str] | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> AbstractContextManager[Any]:
    """`tracing.span(...)`, or nothing when tracing is off."""
    if tracing is None:
        return nullcontext()
    return tracing.span(name, headers, attributes)


def failed(span: Span, exc: BaseException | None = None, description: str | None = None) -> None:
    from opentelemetry.trace import Status, StatusCode

    if exc is not None:
        span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, description or (str(exc) if exc else None)))


def current_trace_id() -> str | None:
    """The current trace's id (32 hex digits) for the logs, or None (tracing off, no span)."""
    if not _enabled:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def _instrument_database() -> None:
    """Our database-client wrapper: Tortoise has no hook per statement, so each method its
    clients run statements with is wrapped, once per process, in every client class of both
    backends (pooled and in-transaction). SQLite's driver runs statements in a thread; the span
    is opened and closed here, on the loop, so it is a child of the request's span all the
    same."""
    import tortoise.backends.asyncpg.client
    import tortoise.backends.sqlite.client  # noqa: F401  # defines the SQLite clients
    from tortoise.backends.base.client import BaseDBAsyncClient

    classes: list[type] = []
    pending: list[type] = [BaseDBAsyncClient]
    while pending:
        cls = pending.pop()
        classes.append(cls)
        pending.extend(cls.__subclasses__())
    for cls in classes:
        for name in _STATEMENT_METHODS:
            method = cls.__dict__.get(name)
            if method is not None and not getattr(method, "_traced", False):
                setattr(cls, name, _traced(method))


# OpenTelemetry's names for the databases, by Tortoise's dialect.
_DB_SYSTEMS = {"postgres": "postgresql", "sqlite": "sqlite"}


def _traced(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    async def statement(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        from opentelemetry import trace

        tracer = _statement_tracer
        if tracer is None or _in_statement.get() or not trace.get_current_span().is_recording():
            return await method(self, query, *args, **kwargs)
        operation = query.lstrip().split(None, 1)[0].upper() if query.strip() else "SQL"
        token = _in_statement.set(True)
        try:
            with tracer.start_as_current_span(
                operation,
                kind=trace.SpanKind.CLIENT,
                attributes={
                    "db.system": _DB_SYSTEMS.get(self.capabilities.dialect, "other_sql"),
                    "db.statement": query,
                },
            ):
                return await method(self, query, *args, **kwargs)
        finally:
            _in_statement.reset(token)

    statement._traced = True  # type: ignore[attr-defined]  # marks a method wrapped once
    return statement
