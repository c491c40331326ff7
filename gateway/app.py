"""The app factory: create_app(settings) -> Starlette, with a lifespan that owns the DB."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway import db
from gateway.graphql_http import GraphQLHTTP
from gateway.schema.schema import build_schema
from gateway.services.events import InProcessPublisher
from gateway.settings import Settings


async def healthz(_request: Request) -> JSONResponse:
    """The process is up: no dependency is checked, so a DB outage doesn't restart it."""
    return JSONResponse({"status": "ok"})


async def readyz(_request: Request) -> JSONResponse:
    """503 only when the database is unreachable: the broker is reported, not required."""
    database = await db.ping()
    body = {"status": "ok" if database else "unavailable", "database": "ok" if database else "down"}
    return JSONResponse(body, status_code=200 if database else 503)


def create_app(settings: Settings) -> Starlette:
    settings.check_secrets()
    publisher = InProcessPublisher()
    graphql = GraphQLHTTP(build_schema(settings), settings, publisher)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await db.open_db(settings.database_url)
        try:
            yield
        finally:
            await db.close_db()

    routes = [
        Route("/graphql", graphql.handle, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.publisher = publisher
    return app
