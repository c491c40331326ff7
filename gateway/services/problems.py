"""Business-rule refusals: they become userErrors, and the change they stop changes nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tortoise.exceptions import IntegrityError

from gateway.models.enums import Permission, UserErrorCode

T = TypeVar("T")


@dataclass(frozen=True)
class Problem:
    code: UserErrorCode
    message: str
    field: tuple[str, ...] | None = None


class Refused(Exception):
    """Raised inside a unit of work to roll it back and answer with these problems."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


def not_found(what: str, *field: str) -> Problem:
    # The same words whether the object is missing or another portal's: ids reveal nothing.
    return Problem(UserErrorCode.NOT_FOUND, f"No such {what}", tuple(field) or None)


def forbidden(message: str, *field: str) -> Problem:
    return Problem(UserErrorCode.FORBIDDEN, message, tuple(field) or None)


def requires(permission: Permission, *field: str) -> Problem:
    """A refusal for want of a permission: its message names the permission (DESIGN §6)."""
    return forbidden(f"Requires the {permission.value} permission", *field)


def invalid(message: str, *field: str) -> Problem:
    return Problem(UserErrorCode.INVALID, message, tuple(field) or None)


def conflict(message: str, *field: str) -> Problem:
    return Problem(UserErrorCode.CONFLICT, message, tuple(field) or None)


def needs_upgrade(message: str, *field: str) -> Problem:
    return Problem(UserErrorCode.NEEDS_UPGRADE, message, tuple(field) or None)


def refuse_if(problems: list[Problem]) -> None:
    if problems:
        raise Refused(problems)


async def retry_once_on_clash(work: Callable[[], Awaitable[T]], clash: Problem) -> T:
    """Run a unit of work; if a unique key refuses a concurrent write, run it once more (it now
    sees the winner's row and decides again), and answer `clash` if the key refuses it again.
    The database settles the race, never a check made before the write."""
    try:
        return await work()
    except IntegrityError:
        pass
    try:
        return await work()
    except IntegrityError:
        raise Refused([clash]) from None
