"""The app factory: create_app(settings) -> Starlette, with a lifespan that owns the database
and the broker."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway import db, demo_http, graphiql, heap, logs
from gateway.broker import Broker, make_broker
from gateway.console import Console
from gateway.drain import Drain
from gateway.events_http import EventsHTTP
from gateway.export_http import ExportHTTP
from gateway.export_links import UsedLinks
from gateway.export_params import PATH as EXPORT_PATH
from gateway.graphql_http import GraphQLHTTP
from gateway.hub import Hub
from gateway.live import LiveEndpoint
from gateway.metrics import Metrics
from gateway.middleware import HeaderSizeLimit, NoSniff
from gateway.persisted import AutomaticStore, PersistedDocuments, TrustedDocuments
from gateway.policy import Policy, metrics_endpoint
from gateway.ratelimit import RateLimiter
from gateway.schema.limits import document_check
from gateway.schema.schema import build_schema
from gateway.services import mail
from gateway.settings import Settings
from gateway.tracing import Tracing, make_tracing

log = logging.getLogger("gateway.app")


async def healthz(_request: Request) -> JSONResponse:
    """The process is up: no dependency is checked, so a DB outage doesn't restart it."""
    return JSONResponse({"status": "ok"})


def readyz(broker: Broker, drain: Drain) -> Callable[[Request], Awaitable[JSONResponse]]:
    async def endpoint(_request: Request) -> JSONResponse:
        """503 only when the database is unreachable or the process is draining (shutting
        down: gateway/drain.py). The broker is reported, not required: a Redis outage must
        not take every instance out of the load balancer."""
        database = await db.ping()
        if drain.draining:
            status, code = "draining", 503
        else:
            status, code = ("ok", 200) if database else ("unavailable", 503)
        body = {
            "status": status,
            "database": "ok" if database else "down",
            "broker": "ok" if broker.healthy else "down",
        }
        if broker.prefix is not None:
            # Which namespace this process listens in, to tell deployments on one Redis apart.
            body["redisPrefix"] = broker.prefix
        return JSONResponse(body, status_code=code)

    return endpoint


def _start_worker(
    settings: Settings, broker: Broker, metrics: Metrics, tracing: Tracing | None
) -> tuple[asyncio.Task[None], asyncio.Event]:
    from gateway.worker import run_forever

    stop = asyncio.Event()
    worker = run_forever(settings, broker, stop, metrics=metrics, tracing=tracing)
    return asyncio.create_task(worker, name="digest-worker"), stop


async def _stop_worker(task: asyncio.Task[None], stop: asyncio.Event, grace: float = 10.0) -> None:
    """Let the current pass finish (each digest is one transaction, so cutting it short loses
    nothing either; a pass stuck on an unreachable database is cancelled after `grace`)."""
    stop.set()
    try:
        await asyncio.wait_for(task, timeout=grace)
    except TimeoutError:
        logging.getLogger("gateway.worker").warning(
            "digest worker did not stop within %ss: cancelled", grace
        )


def _middleware(settings: Settings) -> list[Middleware]:
    """Outermost first: every answer says nosniff, oversized headers go no further, and
    browsers on the configured origins (only) may read the API's answers."""
    middleware = [Middleware(NoSniff), Middleware(HeaderSizeLimit)]
    if settings.allowed_origins:
        # Bearer tokens travel in a header, not a cookie: no credentials mode is needed.
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.allowed_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
                expose_headers=["X-Request-ID"],
                max_age=600,
            )
        )
    return middleware


GRAPHQL_PATHS = ("/graphql", "/graphql/")


def _sockets_apart(sockets: ASGIApp, others: ASGIApp) -> ASGIApp:
    """WebSocket connections go to `sockets` (the same answer headers and header limit, no
    CORS, which browsers don't apply to sockets), everything else to Starlette's stack. A
    socket stays open for hours: Starlette's error middleware and router would keep a dozen
    frames and closures alive for each (some 3 KiB), for error pages a socket never gets."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await (sockets if scope["type"] == "websocket" else others)(scope, receive, send)

    return app


def _only_graphql(live: ASGIApp) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] in GRAPHQL_PATHS:
            await live(scope, receive, send)
        else:  # as Starlette's router answers a socket no route takes
            await send({"type": "websocket.close", "code": 1000, "reason": ""})

    return app


def _console(schema: Any, check: Callable[[str], str | None]) -> Console:
    """The console's files and documents. Its documents are ours: one the schema refuses is a
    bug that stops the start. Document limits set tighter than they need are the operator's
    choice: the API keeps working, and the log names the console requests that will fail."""
    console = Console.load(document_check(schema._schema, sys.maxsize, sys.maxsize, sys.maxsize))
    for name, problem in console.problems(check).items():
        log.warning("the console's %s will be refused under the document limits: %s", name, problem)
    return console


def _persisted_documents(
    settings: Settings, check: Callable[[str], str | None], console: Console
) -> PersistedDocuments:
    """Automatic persisted queries, or with GATEWAY_TRUSTED_DOCUMENTS only the manifests'
    documents, each checked now against the schema and the document limits: a bad manifest
    stops the start (SettingsError naming the file and key), not a request hours later. The
    console's documents run in both modes."""
    trusted = None
    if settings.trusted_documents:
        trusted = TrustedDocuments.load(settings.trusted_documents, check)
    automatic = AutomaticStore(settings.redis_url, settings.redis_namespace)
    return PersistedDocuments(automatic, trusted, console.documents)


def create_app(settings: Settings) -> Starlette:
    settings.check_secrets()
    mail.check_smtp_url(settings)
    logs.redact_link_tokens()
    schema = build_schema(settings)
    check = document_check(
        schema._schema, settings.max_tokens, settings.max_depth, settings.max_aliases
    )
    console = _console(schema, check)
    persisted = _persisted_documents(settings, check, console)
    broker = make_broker(settings)
    trusted = persisted.trusted
    metrics = Metrics(trusted.operation_names() if trusted is not None else ())
    limiter = RateLimiter(
        settings.redis_url,
        settings.redis_namespace,
        on_backend_change=metrics.set_rate_limit_backend,
    )
    metrics.set_rate_limit_backend(limiter.backend)
    tracing = make_tracing(settings)
    policy = Policy(settings, metrics, limiter, tracing)
    hub = Hub(broker, settings, schema, metrics)
    graphql = GraphQLHTTP(schema, settings, broker, policy, persisted)
    events = EventsHTTP(settings, broker, metrics, tracing)
    used_links = UsedLinks(settings.redis_url, settings.redis_namespace)
    exports = ExportHTTP(policy, used_links)
    drain = Drain()  # graceful shutdown: gateway/drain.py
    live = LiveEndpoint(schema, settings, hub, broker, policy, persisted, drain=drain)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await db.open_db(settings.database_url)
        await broker.start()
        # Embedded mode: the digest worker runs in this process (scale-out: `gateway worker`).
        worker = (
            _start_worker(settings, broker, metrics, tracing)
            if settings.worker_in_process
            else None
        )
        if worker is not None:
            # Draining stops it claiming, and waits for the digest it holds.
            drain.on_begin(worker[1].set)
            drain.hold(worker[0])
        if settings.settle_heap:
            heap.settle_after_startup()
        try:
            yield
        finally:
            if worker is not None:
                # After a drain it has had the grace already: cancelled soon if still running.
                await _stop_worker(*worker, grace=1.0 if drain.draining else 10.0)
            await broker.stop()
            await limiter.close()
            await persisted.automatic.close()
            await used_links.close()
            await db.close_db()
            if tracing is not None:
                tracing.shutdown()

    # /graphql/ is answered as /graphql rather than redirected: Starlette's slash redirect
    # builds an absolute URL from the Host header, which a client controls.
    routes = [
        *(
            Route(path, graphql.handle, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
            for path in GRAPHQL_PATHS
        ),
        Route("/events", events.handle, methods=["POST"]),
        Route(EXPORT_PATH, exports.handle, methods=["GET"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz(broker, drain)),
        Route("/metrics", metrics_endpoint(settings, metrics)),
        *console.routes(),
    ]
    if settings.debug:
        # GraphiQL's own files, served from the package: it works without internet.
        routes.append(Route(graphiql.PREFIX + "{path:path}", graphiql.asset, methods=["GET"]))
        # The demo users' tokens for the console's sign-in screen (loopback clients only).
        routes.append(
            Route(demo_http.PATH, demo_http.demo_users_endpoint(settings), methods=["GET"])
        )
    app = Starlette(routes=routes, middleware=_middleware(settings), lifespan=lifespan)
    app.router.redirect_slashes = False
    # Outermost, the drain counts the requests in flight and refuses sockets while draining.
    app.middleware_stack = drain.track(
        _sockets_apart(NoSniff(HeaderSizeLimit(_only_graphql(live))), app.build_middleware_stack())
    )
    app.state.drain = drain
    app.state.publisher = broker
    app.state.hub = hub
    app.state.policy = policy
    app.state.persisted = persisted
    app.state.exports = exports
    app.state.console = console
    return app
