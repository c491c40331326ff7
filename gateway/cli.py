"""`gateway` command line: serve | migrate | seed | worker | token | emit | export-schema."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

from gateway import demo as demo_data  # demo names for the banner and help examples
from gateway.metrics import Metrics
from gateway.models.enums import AlertSeverity
from gateway.services.ingestion import EventType
from gateway.settings import DEV_JWT_SECRET, Settings, SettingsError
from gateway.worker import PARTS

T = TypeVar("T")


def _fail(message: str) -> int:
    print(f"gateway: {message}", file=sys.stderr)
    return 2


class _DatabaseNotReady(Exception):
    """The database a command reads is missing or not migrated; the message says what to do."""


_RUN_MIGRATE = "run `gateway migrate` first, or run this from the project directory"


def _shown_url(url: str) -> str:
    """The database URL for messages: without its password, and for SQLite with the file it
    names, since a relative path depends on the working directory."""
    if url.startswith("sqlite://"):
        path = url.removeprefix("sqlite://").partition("?")[0]
        return url if path == ":memory:" else f"{url} ({os.path.abspath(path)})"
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user.partition(':')[0]}:***@{host}"))


async def _open_migrated(settings: Settings) -> None:
    """Open the database for a command that reads it without migrating it, or refuse. Run
    from another directory, the default relative SQLite URL would otherwise create an empty
    file there and fail on the first query."""
    from tortoise.connection import get_connection
    from tortoise.migrations.executor import MigrationExecutor

    from gateway import db

    url = settings.database_url
    if url.startswith("sqlite://"):
        _check_sqlite_file(url)
    try:
        await db.open_db(url)
        connection = get_connection("default")
        try:
            # The migration plan would take an unreachable database for an empty one.
            await connection.execute_query("SELECT 1")
        except Exception as exc:
            raise _DatabaseNotReady(
                f"cannot reach the database at {_shown_url(url)}: {exc}"
            ) from None
        apps = db.tortoise_config(url)["apps"]
        pending = await MigrationExecutor(connection, apps).plan()
    except BaseException:
        with contextlib.suppress(Exception):
            await db.close_db()
        raise
    if pending:
        await db.close_db()
        raise _DatabaseNotReady(
            f"the database at {_shown_url(url)} is not migrated "
            f"({len(pending)} migrations pending): {_RUN_MIGRATE}"
        )


def _check_sqlite_file(url: str) -> None:
    """Refuse a SQLite database that is missing or was never migrated, looking at it read-only
    (opening it through the ORM would create the file, or write a header into an empty one)."""
    import sqlite3
    from urllib.parse import quote

    path = url.removeprefix("sqlite://").partition("?")[0]
    if path == ":memory:":
        return
    if not Path(path).exists():
        raise _DatabaseNotReady(f"no database at {_shown_url(url)}: {_RUN_MIGRATE}")
    try:
        with contextlib.closing(
            sqlite3.connect(f"file:{quote(os.path.abspath(path))}?mode=ro", uri=True)
        ) as conn:
            migrated = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tortoise_migrations'"
            ).fetchone()
    except sqlite3.Error as exc:
        raise _DatabaseNotReady(f"cannot open the database at {_shown_url(url)}: {exc}") from None
    if not migrated:
        raise _DatabaseNotReady(
            f"the database at {_shown_url(url)} is not migrated: {_RUN_MIGRATE}"
        )


async def _with_db(settings: Settings, work: Callable[[], Awaitable[T]]) -> T:
    """`work()` on the migrated database (see `_open_migrated`)."""
    from gateway import db

    await _open_migrated(settings)
    try:
        return await work()
    finally:
        await db.close_db()


async def _token(settings: Settings, email: str, ttl: timedelta, portal: str | None) -> str | None:
    from gateway.auth import mint_token
    from gateway.models import User

    async def work() -> str | None:
        users = User.filter(email=email)
        if portal:
            users = users.filter(portal__name=portal)
        found = await users.order_by("id").limit(2)
        if len(found) != 1:
            return None
        return mint_token(found[0], settings, ttl=ttl)

    return await _with_db(settings, work)


async def _prepare(settings: Settings, demo: bool) -> None:
    """Migrate, and load the demo data if asked and not there yet."""
    from gateway import db

    await db.migrate(settings.database_url)
    if demo:
        await _with_db(settings, demo_data.seed_demo)


def _browser_host(host: str) -> str:
    """Where a browser on this machine reaches a server listening on `host`."""
    if host in ("", "0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE

    from gateway.app import create_app
    from gateway.drain import DrainingServer
    from gateway.logs import configure_logging
    from gateway.ports import PortBusy, check_free

    settings = settings.with_(host=args.host or settings.host, port=args.port or settings.port)
    try:
        # Before the banner and its token: they would be useless if uvicorn then failed. The
        # app checks the secrets, the SMTP URL, trusted manifests and the tracing packages.
        check_free(settings.host, settings.port)
        app = create_app(settings)
    except SettingsError as exc:
        return _fail(str(exc))
    except PortBusy as exc:
        return _fail(
            f"{exc}; stop it, or choose another port with --port or GATEWAY_PORT "
            "(e.g. GATEWAY_PORT=8001 make run)"
        )
    configure_logging(settings)
    asyncio.run(_prepare(settings, args.demo))
    if args.demo:
        token = asyncio.run(
            _token(settings, demo_data.ADMIN_EMAIL, timedelta(days=30), demo_data.ACME_NAME)
        )
        base = f"http://{_browser_host(settings.host)}:{settings.port}"
        print(f"\nConnected Apps Gateway on {base}/graphql", flush=True)
        if token:
            print("Open the console as the demo super admin:")
            print(f"{base}/console/#token={token}\n")
            print("Paste this header into GraphiQL (Headers tab) to act as the demo super admin:")
            print(f'{{"Authorization": "Bearer {token}"}}\n', flush=True)
    # Everything loaded so far lives as long as the process: keep it out of the collector's
    # full passes, which otherwise pause the loop for seconds with thousands of open sockets.
    gc.collect()
    gc.freeze()
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        access_log=False,
        log_config=None,
        # Frames over the limit close the socket with 1009 (DESIGN §3). The sans-I/O backend
        # keeps less memory per open socket than the legacy one, and small JSON frames gain
        # little from compression while it costs memory and CPU per socket.
        ws="websockets-sansio",
        ws_max_size=settings.ws_max_frame_bytes,
        ws_per_message_deflate=False,
        # The drain has given in-flight work its grace already (gateway/drain.py).
        timeout_graceful_shutdown=1,
    )
    # Our SIGTERM/SIGINT handling: drain first, then uvicorn's shutdown; exits 0 after it.
    server = DrainingServer(config, app.state.drain, settings.shutdown_grace)
    with _test_pause(), contextlib.suppress(KeyboardInterrupt):
        server.run()
    return 0 if server.started else STARTUP_FAILURE  # as uvicorn.run


def cmd_migrate(_args: argparse.Namespace, settings: Settings) -> int:
    from gateway import db

    asyncio.run(db.migrate(settings.database_url))
    print("migrations applied")
    return 0


def cmd_seed(args: argparse.Namespace, settings: Settings) -> int:
    if not args.demo:
        return _fail("seed: only --demo data exists")
    try:
        anchor = _parse_instant(args.anchor, "--anchor") if args.anchor else None
        asyncio.run(_with_db(settings, partial(demo_data.seed_demo, anchor)))
    except (_BadArguments, _DatabaseNotReady) as exc:
        return _fail(str(exc))
    print("demo data loaded")
    return 0


def cmd_token(args: argparse.Namespace, settings: Settings) -> int:
    if settings.jwt_public_key is not None:
        return _fail(
            "GATEWAY_JWT_PUBLIC_KEY is set, so the gateway accepts only RS256 tokens from your "
            "identity provider; `gateway token` signs HS256 tokens with GATEWAY_JWT_SECRET"
        )
    # Unlike `serve`, minting needs no real secret: a token signed with the public development
    # one is only ever accepted by a gateway in debug mode (`make run`).
    dev_secret = settings.jwt_secret is None
    if dev_secret:
        settings = settings.with_(jwt_secret=DEV_JWT_SECRET)
    try:
        token = asyncio.run(_token(settings, args.email, timedelta(seconds=args.ttl), args.portal))
    except _DatabaseNotReady as exc:
        return _fail(str(exc))
    if token is None:
        return _fail(f"no single user with email {args.email!r} (use --portal to choose)")
    if dev_secret:
        print(
            "gateway: GATEWAY_JWT_SECRET is not set: signed with the development secret, which "
            "only a gateway running with GATEWAY_DEBUG=1 (as `make run` does) accepts",
            file=sys.stderr,
        )
    print(token)
    return 0


class _EmitError(Exception):
    """A problem with `gateway emit`'s arguments, reported without sending anything."""


async def _resolve_ids(settings: Settings, args: argparse.Namespace) -> dict[str, str]:
    """portalId/appId/listingId as global ids. A value that is not a global id of the right
    type is looked up (portal by name, app and listing by the listing's slug), so local use
    doesn't need ids copied out of GraphiQL."""
    from gateway.ids import decode_id, to_global_id

    wanted = {
        "portalId": ("Portal", args.portal),
        "appId": ("ConnectedApp", args.app),
        "listingId": ("MarketplaceListing", args.listing),
    }
    out = {k: v for k, (t, v) in wanted.items() if v is not None and decode_id(v, t) is not None}
    lookups = {k: v for k, (t, v) in wanted.items() if v is not None and k not in out}
    if not lookups:
        return out

    async def work() -> dict[str, str]:
        from gateway.models import ConnectedApp, MarketplaceListing, Portal

        if "portalId" in lookups:
            portals = await Portal.filter(name=lookups["portalId"]).order_by("id").limit(2)
            if len(portals) != 1:
                many = "several portals are" if portals else "no portal is"
                raise _EmitError(
                    f"{many} named {lookups['portalId']!r}; pass the portal's global id"
                )
            out["portalId"] = to_global_id("Portal", portals[0].id)
        if "appId" in lookups:
            portal_id = decode_id(out.get("portalId", ""), "Portal")
            app = await ConnectedApp.get_or_none(
                portal_id=portal_id, listing__slug=lookups["appId"]
            )
            if app is None:
                raise _EmitError(
                    f"no app {lookups['appId']!r} in that portal; pass the app's global id"
                )
            out["appId"] = to_global_id("ConnectedApp", app.id)
        if "listingId" in lookups:
            listing = await MarketplaceListing.get_or_none(slug=lookups["listingId"])
            if listing is None:
                raise _EmitError(
                    f"no listing with slug {lookups['listingId']!r}; pass its global id"
                )
            out["listingId"] = to_global_id("MarketplaceListing", listing.id)
        return out

    return await _with_db(settings, work)


def _emit_payload(args: argparse.Namespace, ids: dict[str, str]) -> dict[str, object]:
    import json
    import uuid
    from datetime import UTC, datetime

    payload: dict[str, object] = {
        "id": args.id or str(uuid.uuid4()),
        "type": args.type,
        "occurredAt": args.occurred_at or datetime.now(UTC).isoformat(),
        **ids,
    }
    if args.type == EventType.LISTING_SCOPES_CHANGED:
        source = (
            sys.stdin.read()
            if args.scopes_file == "-"
            else Path(args.scopes_file).read_text(encoding="utf-8")
        )
        try:
            payload["scopes"] = json.loads(source)
        except ValueError as exc:
            raise _EmitError(f"--scopes-file is not JSON: {exc}") from None
    elif args.type == EventType.APP_ERROR:
        # Defaults keep a quick local test short; the server still checks every value.
        payload["alert"] = {
            "severity": args.alert_severity or AlertSeverity.ERROR.value,
            "code": args.alert_code,
            "message": args.alert_message or f"{args.alert_code} (sent with gateway emit)",
        }
    elif args.type == EventType.APP_RECOVERED and args.alert_code:
        payload["alert"] = {"code": args.alert_code}
    elif args.type == EventType.APP_USAGE:
        payload |= {"day": args.day, "calls": args.calls, "errors": args.errors}
        if args.last_call_at:
            payload["lastCallAt"] = args.last_call_at
    return payload


def _check_emit_args(args: argparse.Namespace) -> None:
    if args.type == EventType.LISTING_SCOPES_CHANGED:
        if not args.listing or not args.scopes_file:
            raise _EmitError(f"{args.type} needs --listing and --scopes-file")
    else:
        if not args.portal or not args.app:
            raise _EmitError(f"{args.type} needs --portal and --app")
        if args.type == EventType.APP_ERROR and not args.alert_code:
            raise _EmitError(f"{args.type} needs --alert-code")
        if args.type == EventType.APP_USAGE and None in (args.day, args.calls, args.errors):
            raise _EmitError(f"{args.type} needs --day, --calls and --errors")


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    """(status, body) of a POST; the stdlib keeps the CLI free of a runtime HTTP client."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def cmd_emit(args: argparse.Namespace, settings: Settings) -> int:
    """Sign an event as the integration platform would and POST it to /events."""
    import time
    import urllib.error

    import orjson

    from gateway.events_http import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

    secret = settings.effective_events_secret
    if secret is None:
        return _fail(
            "GATEWAY_EVENTS_SECRET is not set (or set GATEWAY_DEBUG=1 for the development secret)"
        )
    if args.url is not None and not args.url.startswith(("http://", "https://")):
        return _fail("--url must be an http:// or https:// URL")
    try:
        _check_emit_args(args)
        payload = _emit_payload(args, asyncio.run(_resolve_ids(settings, args)))
    except (_EmitError, OSError) as exc:
        return _fail(f"emit: {exc}")
    except _DatabaseNotReady as exc:
        # Names are looked up in the database; global ids need none.
        return _fail(str(exc))
    body = orjson.dumps(payload)
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }
    url = args.url or f"http://{settings.host}:{settings.port}/events"
    try:
        status, text = _post(url, body, headers)
    except (urllib.error.URLError, OSError) as exc:
        print(f"gateway: emit: cannot reach {url}: {getattr(exc, 'reason', exc)}", file=sys.stderr)
        return 1
    print(f"{status} {text}")
    return 0 if 200 <= status < 300 else 1


class _BadArguments(Exception):
    """A problem with a command's arguments, reported before any work is done."""


def _parse_instant(raw: str, option: str) -> datetime:
    """An option's ISO 8601 instant; it must say its time zone."""
    try:
        instant = datetime.fromisoformat(raw)
    except ValueError:
        raise _BadArguments(
            f"{option} {raw!r} is not an ISO 8601 date-time (e.g. 2026-11-02T10:05:00Z)"
        ) from None
    if instant.tzinfo is None:
        raise _BadArguments(f"{option} {raw!r} has no time zone: add Z or an offset such as +01:00")
    return instant


async def _worker_portals(values: list[str] | None) -> list[int] | None:
    """`--portal` values (global ids or names) as primary keys."""
    from gateway.ids import decode_id
    from gateway.models import Portal

    if not values:
        return None
    out = []
    for value in values:
        pk = decode_id(value, "Portal")
        if pk is not None and await Portal.exists(id=pk):
            out.append(pk)
            continue
        # Tortoise types flat values_list() as tuples.
        named = Portal.filter(name=value).order_by("id").limit(2)
        found: list[int] = await named.values_list("id", flat=True)  # type: ignore[assignment]  # see above
        if len(found) != 1:
            many = "several portals are" if found else "no portal is"
            raise _BadArguments(f"{many} named {value!r}; pass the portal's global id")
        out.append(found[0])
    return out


async def _run_worker(settings: Settings, args: argparse.Namespace, now: datetime | None) -> int:
    import contextlib
    from datetime import UTC

    from gateway import db
    from gateway.broker import make_broker
    from gateway.drain import SIGNALS, signal_handler, within_grace
    from gateway.tracing import make_tracing
    from gateway.worker import run_forever, run_pass, worker_owner

    try:
        await _open_migrated(settings)
    except _DatabaseNotReady as exc:
        return _fail(str(exc))
    # With Redis, in-app digests reach subscribers connected to any server process.
    broker = make_broker(settings)
    await broker.start()
    try:
        async with contextlib.AsyncExitStack() as stack:
            stack.enter_context(_test_pause())
            try:
                portal_ids = await _worker_portals(args.portal)
            except _BadArguments as exc:
                return _fail(f"worker: {exc}")
            if args.once:
                when = now or datetime.now(UTC)
                # An explicit --now is taken literally: no settle delay (see digests.py).
                result = await run_pass(
                    when,
                    settings,
                    broker,
                    worker_owner(),
                    portal_ids=portal_ids,
                    settle=timedelta(0) if now is not None else None,
                    only=args.only,
                )
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(broker.settled(), timeout=5)  # published before exit
                print(f"worker pass as of {when.isoformat()}: {result.summary()}", flush=True)
                return 1 if result.errors else 0
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            # The first signal stops claiming; a second one exits at once with 1.
            handler = signal_handler(loop, lambda _name: stop.set())
            for sig in SIGNALS:
                loop.add_signal_handler(sig, handler, sig, None)
            metrics = Metrics()
            if settings.worker_metrics_port is not None:
                await stack.enter_async_context(_metrics_server(settings, metrics))
            print(
                f"digest worker running, a pass every {settings.worker_interval:g}s (Ctrl-C stops)",
                flush=True,
            )
            tracing = make_tracing(settings)
            if tracing is not None:
                stack.callback(tracing.shutdown)
            # Stopping, the job in hand is finished (or cancelled and released after the grace).
            await within_grace(
                run_forever(settings, broker, stop, metrics=metrics, tracing=tracing),
                stop,
                settings.shutdown_grace,
                "digest worker",
            )
            return 0
    finally:
        await broker.stop()
        await db.close_db()


@asynccontextmanager
async def _metrics_server(settings: Settings, metrics: Metrics) -> AsyncIterator[None]:
    """A separate worker's own /metrics on GATEWAY_WORKER_METRICS_PORT (the same rules as the
    server's: the token, or loopback clients only)."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import Route

    from gateway.policy import metrics_endpoint

    app = Starlette(routes=[Route("/metrics", metrics_endpoint(settings, metrics))])
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.worker_metrics_port or 0,
        access_log=False,
        log_config=None,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    # The worker handles the signals; uvicorn's own handlers would stop only this server.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]  # embedded: not uvicorn's signals
    task = asyncio.create_task(server.serve())
    try:
        yield
    finally:
        server.should_exit = True
        await task


def _test_pause() -> contextlib.AbstractContextManager[None]:
    """Test-only: hold the process at the fault point named by GATEWAY_TEST_PAUSE_AT, so a
    test can kill or signal it there (or, with GATEWAY_TEST_PAUSE_SECONDS, slow it down there
    to force overlaps, or to keep a request in flight)."""
    from gateway.services import faults

    pause_at = os.environ.get("GATEWAY_TEST_PAUSE_AT")
    if not pause_at:
        return contextlib.nullcontext()
    seconds = os.environ.get("GATEWAY_TEST_PAUSE_SECONDS")
    return faults.hooked(pause_at, _pause(pause_at, float(seconds) if seconds else None))


def _pause(point: str, seconds: float | None) -> Callable[[], Awaitable[None]]:
    async def hook() -> None:
        print(f"PAUSED {point}", flush=True)
        if seconds is None:
            await asyncio.Event().wait()  # until killed
        else:
            await asyncio.sleep(seconds)

    return hook


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """Make due digests and send the email outbox: forever, or one pass with --once."""
    from gateway.logs import configure_logging
    from gateway.services.mail import check_smtp_url

    try:
        now = _parse_instant(args.now, "--now") if args.now is not None else None
        if now is not None and not args.once:
            raise _BadArguments("--now needs --once")
        if args.only is not None and not args.once:
            raise _BadArguments("--only needs --once")
    except _BadArguments as exc:
        return _fail(f"worker: {exc}")
    try:
        check_smtp_url(settings)
    except SettingsError as exc:
        return _fail(str(exc))
    configure_logging(settings)
    return asyncio.run(_run_worker(settings, args, now))


def cmd_export_schema(args: argparse.Namespace, _settings: Settings) -> int:
    from gateway.schema.schema import export_sdl

    sdl = export_sdl()
    if args.output == "-":
        sys.stdout.write(sdl)
    else:
        Path(args.output).write_text(sdl, encoding="utf-8")
        print(f"schema written to {args.output}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description="Connected Apps GraphQL gateway")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="migrate, then serve HTTP and WebSocket")
    serve.add_argument("--demo", action="store_true", help="load the demo data on first start")
    serve.add_argument("--host", help="listen address (default GATEWAY_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default GATEWAY_PORT or 8000)")
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)

    seed = sub.add_parser("seed", help="load data")
    seed.add_argument("--demo", action="store_true", help="the demo portals (idempotent)")
    seed.add_argument(
        "--anchor",
        help='the demo data\'s "now", an ISO 8601 instant with a time zone (default: now): '
        "the same anchor gives the same data, for screenshots",
    )
    seed.set_defaults(func=cmd_seed)

    token = sub.add_parser(
        "token",
        help="mint a JWT for a user (local use)",
        epilog=f'example: gateway token --email {demo_data.MEMBER_EMAIL} --portal "{demo_data.ACME_NAME}"',
    )
    token.add_argument("--email", required=True)
    token.add_argument("--portal", help="portal name, when the email exists in several")
    token.add_argument("--ttl", type=int, default=12 * 3600, help="lifetime in seconds")
    token.set_defaults(func=cmd_token)

    emit = sub.add_parser(
        "emit",
        help="sign and POST a platform event to /events (local use)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples (the demo data):\n"
        f'  gateway emit {EventType.APP_RECONNECTED.value} --portal "{demo_data.ACME_NAME}" '
        f"--app {demo_data.DISCONNECTED_SLUG}\n"
        f'  gateway emit {EventType.APP_ERROR.value} --portal "{demo_data.ACME_NAME}" '
        f"--app {demo_data.NEEDS_REAUTH_SLUG} --alert-code token_expired\n"
        f'  gateway emit {EventType.APP_USAGE.value} --portal "{demo_data.ACME_NAME}" '
        f"--app {demo_data.NEEDS_REAUTH_SLUG} --day 2026-01-31 --calls 120 --errors 3",
    )
    emit.add_argument("type", choices=[t.value for t in EventType])
    emit.add_argument("--portal", help="portal global id, or its name")
    emit.add_argument("--app", help="app global id, or its listing's slug")
    emit.add_argument(
        "--alert-code", help="app.error: required; app.recovered: resolve only this code"
    )
    emit.add_argument(
        "--alert-severity",
        choices=[s.value for s in AlertSeverity],
        help=f"app.error (default {AlertSeverity.ERROR.value})",
    )
    emit.add_argument("--alert-message", help="app.error (default: from the code)")
    emit.add_argument("--listing", help="listing.scopes_changed: listing global id, or its slug")
    emit.add_argument(
        "--scopes-file", help="listing.scopes_changed: JSON list of scopes (- for stdin)"
    )
    emit.add_argument("--day", help="app.usage: the UTC day reported, YYYY-MM-DD")
    emit.add_argument("--calls", type=int, help="app.usage: the day's calls")
    emit.add_argument("--errors", type=int, help="app.usage: how many of them failed")
    emit.add_argument(
        "--last-call-at", help="app.usage: the day's last call, ISO 8601 with a time zone"
    )
    emit.add_argument("--occurred-at", help="ISO 8601 with a time zone (default now)")
    emit.add_argument("--id", help="event id (default a new UUID; repeat one to test idempotency)")
    emit.add_argument("--url", help="default http://GATEWAY_HOST:GATEWAY_PORT/events")
    emit.set_defaults(func=cmd_emit)

    worker = sub.add_parser(
        "worker", help="make due digests and send emails (the scale-out worker)"
    )
    worker.add_argument("--once", action="store_true", help="run one pass and exit")
    worker.add_argument(
        "--now", help="with --once: run the pass as of this ISO 8601 instant (with a time zone)"
    )
    worker.add_argument(
        "--portal",
        action="append",
        help="only this portal's digests and install requests (global id or name; repeatable; "
        "emails are all sent)",
    )
    worker.add_argument(
        "--only",
        choices=PARTS,
        help="with --once: only digests, only install requests (expiry and reminders), or only "
        "the email outbox; none of them moves another's work (install requests and mail never "
        "move a rule's cut)",
    )
    worker.set_defaults(func=cmd_worker)

    export = sub.add_parser("export-schema", help="write the GraphQL SDL")
    export.add_argument("--output", default="schema.graphql", help="file, or - for stdout")
    export.set_defaults(func=cmd_export_schema)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        return _fail(str(exc))
    return int(args.func(args, settings))


if __name__ == "__main__":
    sys.exit(main())
