"""Small helpers shared by tests: run GraphQL over HTTP, mint tokens, count SQL statements,
wait for a condition."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from gateway.auth import mint_token
from gateway.ids import to_global_id
from gateway.models import Portal, User
from gateway.settings import Settings

QUERIES = Path(__file__).resolve().parents[2] / "shared" / "queries"


def load_query(name: str) -> str:
    """A console query from ../shared/queries (falls back to the copy under tests/queries)."""
    for folder in (QUERIES, Path(__file__).parent / "queries"):
        if (folder / name).exists():
            return (folder / name).read_text(encoding="utf-8")
    raise FileNotFoundError(name)


async def token_for(settings: Settings, email: str, portal: str | None = None, **kw: Any) -> str:
    users = User.filter(email=email)
    if portal is not None:
        users = users.filter(portal__name=portal)
    user = await users.get()
    return mint_token(user, settings, **kw)


def gid(type_name: str, pk: int) -> str:
    return to_global_id(type_name, pk)


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str,
    status: int = 200,
) -> dict[str, Any]:
    """POST a GraphQL request; asserts the HTTP status and returns the JSON body."""
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == status, response.text
    return response.json()


async def data(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None, *, token: str
) -> Any:
    """The `data` of a request that must succeed without errors."""
    body = await gql(client, query, variables, token=token)
    assert "errors" not in body, body["errors"]
    return body["data"]


def error_codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors", [])]


class _Counter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.lstrip().upper().startswith(("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")):
            self.statements.append(message)


@contextmanager
def count_statements() -> Iterator[list[str]]:
    """Every SQL statement the ORM sends while the block runs (from its debug log)."""
    logger = logging.getLogger("tortoise.db_client")
    counter = _Counter()
    previous = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(counter)
    try:
        yield counter.statements
    finally:
        logger.removeHandler(counter)
        logger.setLevel(previous)


async def until(
    condition: Callable[[], bool | Awaitable[bool]],
    timeout: float = 10,
    what: str = "the condition",
    *,
    every: float = 0.01,
) -> None:
    """Wait until `condition` (sync or async) holds, polled every `every` seconds; fail with
    `what` after `timeout` seconds. Tests wait for what they need, never for a fixed time."""
    deadline = time.monotonic() + timeout
    while True:
        held = condition()
        if inspect.isawaitable(held):
            held = await held
        if held:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not come true within {timeout} s")
        await asyncio.sleep(every)


def barrier_at(name: str, parties: int = 2):
    """Hold the first `parties` arrivals at the named pause point until all have arrived, so
    their reads happen before any write (a retry that passes the point again goes straight on)."""
    from gateway.services import faults

    barrier = asyncio.Barrier(parties)
    arrivals = 0

    async def hook() -> None:
        nonlocal arrivals
        arrivals += 1
        if arrivals <= parties:
            await asyncio.wait_for(barrier.wait(), timeout=10)

    return faults.hooked(name, hook)


__all__ = ["Portal", "timedelta"]
