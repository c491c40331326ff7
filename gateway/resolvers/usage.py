"""Batch resolvers of an app's usage (DESIGN §6 "Usage"): one statement per field step for
every app of a page."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from gateway import clock
from gateway import models as m
from gateway.context import Context
from gateway.errors import BadUserInput
from gateway.services import usage as service
from gateway.services.usage import AppUsage


def checked_days(value: int, name: str, low: int, high: int) -> int:
    """`value` when it is within [low, high], else BAD_USER_INPUT naming the argument."""
    problem = service.range_problem(value, name, low, high)
    if problem is not None:
        raise BadUserInput(problem, argument=name)
    return value


async def last_used(ctx: Context, apps: Sequence[m.ConnectedApp]) -> list[datetime | None]:
    return await service.last_used(ctx.loaders, apps)


async def usage(ctx: Context, apps: Sequence[m.ConnectedApp], days: int) -> list[AppUsage]:
    checked_days(days, "days", service.MIN_WINDOW, service.MAX_WINDOW)
    return await service.usage(ctx.loaders, apps, days, clock.utc_now())
