"""Mutation resolvers: decode the input, call the service, turn refusals into userErrors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from gateway.context import Info
from gateway.ids import decode_id
from gateway.loaders import Loaders
from gateway.models.enums import Permission
from gateway.services import alerts, lifecycle, permissions
from gateway.services.problems import Problem, Refused, invalid

T = TypeVar("T")


def actor(info: Info) -> lifecycle.Actor:
    ctx = info.context
    return lifecycle.Actor(ctx.viewer, ctx.portal, datetime.now(UTC), ctx.publisher)


def decode(problems: list[Problem], raw_id: str, type_name: str, *field: str) -> int:
    """The key of a `type_name` id; an undecodable one is an INVALID userError on `field`."""
    pk = decode_id(raw_id, type_name)
    if pk is None:
        problems.append(invalid(f"Not a valid {type_name} id", *field))
        return 0
    return pk


async def run(
    info: Info, problems: list[Problem], work: Callable[[], Awaitable[T]]
) -> tuple[T | None, list[Problem]]:
    """Run `work` unless the input was already refused; what it returns, or why not."""
    if problems:
        return None, problems
    try:
        result = await work()
    except Refused as refused:
        return None, refused.problems
    # What the payload shows must be read after the change: start from empty caches.
    info.context.loaders = Loaders()
    return result, []


async def set_user_permissions(
    info: Info, user_id: str, chosen: list[Permission]
) -> tuple[Any, list[Problem]]:
    problems: list[Problem] = []
    pk = decode(problems, user_id, "User", "input", "userId")
    return await run(info, problems, lambda: permissions.set_permissions(actor(info), pk, chosen))


async def install_app(
    info: Info, listing_id: str, scopes: list[str] | None, account_name: str | None
) -> tuple[Any, list[Problem]]:
    problems: list[Problem] = []
    pk = decode(problems, listing_id, "MarketplaceListing", "input", "listingId")
    problems += lifecycle.install_input_problems(scopes, account_name)
    return await run(
        info, problems, lambda: lifecycle.install_app(actor(info), pk, scopes, account_name)
    )


async def uninstall_app(info: Info, app_id: str) -> tuple[Any, list[Problem]]:
    problems: list[Problem] = []
    pk = decode(problems, app_id, "ConnectedApp", "input", "appId")
    return await run(info, problems, lambda: lifecycle.uninstall_app(actor(info), pk))


async def remove_app_connection(info: Info, connection_id: str) -> tuple[Any, list[Problem]]:
    problems: list[Problem] = []
    pk = decode(problems, connection_id, "AppConnection", "input", "connectionId")
    return await run(info, problems, lambda: lifecycle.remove_connection(actor(info), pk))


async def reauthorize_app(
    info: Info, app_id: str, scopes: list[str] | None
) -> tuple[Any, list[Problem]]:
    problems: list[Problem] = []
    pk = decode(problems, app_id, "ConnectedApp", "input", "appId")
    problems += lifecycle.reauthorize_input_problems(scopes)
    return await run(info, problems, lambda: lifecycle.reauthorize_app(actor(info), pk, scopes))


async def acknowledge_alert(
    info: Info, alert_id: str, note: str | None
) -> tuple[Any, list[Problem]]:
    problems: list[Problem] = []
    pk = decode(problems, alert_id, "AppAlert", "input", "alertId")
    return await run(info, problems, lambda: alerts.acknowledge(actor(info), pk, note))
