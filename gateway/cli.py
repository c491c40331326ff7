"""`gateway` command line: serve | migrate | seed | token | export-schema."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import timedelta
from pathlib import Path

from gateway.settings import Settings, SettingsError

DEMO_ADMIN_EMAIL = "admin@demo.example"


def _fail(message: str) -> int:
    print(f"gateway: {message}", file=sys.stderr)
    return 2


async def _with_db(settings: Settings, work):  # type: ignore[no-untyped-def]
    from gateway import db

    await db.open_db(settings.database_url)
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

    return await _with_db(settings, work)  # type: ignore[no-any-return]


async def _prepare(settings: Settings, demo: bool) -> None:
    """Migrate, and load the demo data if asked and not there yet."""
    from gateway import db

    await db.migrate(settings.database_url)
    if demo:
        from gateway.services.demo import seed_demo

        await _with_db(settings, seed_demo)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from gateway.app import create_app
    from gateway.logs import configure_logging

    settings = settings.with_(
        host=args.host or settings.host, port=args.port or settings.port
    )
    try:
        settings.check_secrets()
    except SettingsError as exc:
        return _fail(str(exc))
    configure_logging(settings)
    asyncio.run(_prepare(settings, args.demo))
    if args.demo:
        token = asyncio.run(_token(settings, DEMO_ADMIN_EMAIL, timedelta(days=30), "Acme Demo"))
        base = f"http://{settings.host}:{settings.port}"
        print(f"\nConnected Apps Gateway on {base}/graphql", flush=True)
        if token:
            print("Paste this header into GraphiQL (Headers tab) to act as the demo super admin:")
            print(f'{{"Authorization": "Bearer {token}"}}\n', flush=True)
    app = create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, access_log=False, log_config=None)
    return 0


def cmd_migrate(_args: argparse.Namespace, settings: Settings) -> int:
    from gateway import db

    asyncio.run(db.migrate(settings.database_url))
    print("migrations applied")
    return 0


def cmd_seed(args: argparse.Namespace, settings: Settings) -> int:
    if not args.demo:
        return _fail("seed: only --demo data exists")
    asyncio.run(_prepare(settings, demo=True))
    print("demo data loaded")
    return 0


def cmd_token(args: argparse.Namespace, settings: Settings) -> int:
    try:
        settings.check_secrets()
    except SettingsError as exc:
        return _fail(str(exc))
    token = asyncio.run(_token(settings, args.email, timedelta(seconds=args.ttl), args.portal))
    if token is None:
        return _fail(f"no single user with email {args.email!r} (use --portal to choose)")
    print(token)
    return 0


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
    seed.set_defaults(func=cmd_seed)

    token = sub.add_parser("token", help="mint a JWT for a user (local use)")
    token.add_argument("--email", required=True)
    token.add_argument("--portal", help="portal name, when the email exists in several")
    token.add_argument("--ttl", type=int, default=12 * 3600, help="lifetime in seconds")
    token.set_defaults(func=cmd_token)

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
