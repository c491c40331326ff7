"""Running one request on both executors and comparing the answers (issue 9's comparison).

- `data` equal exactly, the order of keys included;
- errors compared as a multiset of (message, path, locations, extensions.code), with the same
  request id sent to both sides (a masked error's message names it);
- an error whose path lies strictly inside a position that is null because of propagation is
  left out (graphql-core reports such errors or not depending on timing), but each such
  position carries at least one error at or below it on both sides.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from gateway.settings import Settings

Path = tuple[str | int, ...]
ErrorKey = tuple[str, Path | None, tuple[tuple[int, int], ...], str | None]

_request_ids = itertools.count(1)


def _ordered(value: Any) -> Any:
    """`value` with every object turned into its list of items, so order counts."""
    if isinstance(value, dict):
        return [(k, _ordered(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [_ordered(v) for v in value]
    return value


_MISSING = object()


def _at(data: Any, path: Sequence[str | int]) -> Any:
    for key in path:
        if isinstance(data, dict) and isinstance(key, str):
            data = data.get(key, _MISSING)
        elif isinstance(data, list) and isinstance(key, int) and 0 <= key < len(data):
            data = data[key]
        else:
            return _MISSING
    return data


def _propagated_null(data: Any, path: Path) -> Path | None:
    """The highest position strictly above `path` that is null in `data`, if any: the error at
    `path` then lies inside a null that propagated up to it (or stopped above it)."""
    for length in range(len(path)):
        prefix = path[:length]
        if _at(data, prefix) is None:
            return prefix
    return None


def _first_difference(ours: Any, theirs: Any, where: Path) -> tuple[Path, Any, Any]:
    """The first position where two results differ, and the values there."""
    if isinstance(ours, dict) and isinstance(theirs, dict) and list(ours) == list(theirs):
        for key in ours:
            if _ordered(ours[key]) != _ordered(theirs[key]):
                return _first_difference(ours[key], theirs[key], (*where, key))
    if isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        for index, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            if _ordered(a) != _ordered(b):
                return _first_difference(a, b, (*where, index))
    return where, ours, theirs


def _key(error: dict[str, Any]) -> ErrorKey:
    path = error.get("path")
    locations = tuple((loc["line"], loc["column"]) for loc in error.get("locations") or [])
    code = (error.get("extensions") or {}).get("code")
    return (error["message"], tuple(path) if path is not None else None, locations, code)


@dataclass
class Answer:
    status: int
    body: dict[str, Any]

    @property
    def errors(self) -> list[dict[str, Any]]:
        return list(self.body.get("errors") or [])


def differences(fast: Answer, reference: Answer) -> list[str]:
    """What differs between the two answers under the comparison above (empty: they agree)."""
    found: list[str] = []
    if fast.status != reference.status:
        found.append(f"HTTP status {fast.status} != {reference.status}")
    if ("data" in fast.body) != ("data" in reference.body):
        found.append("`data` present on one side only")
    data = fast.body.get("data")
    if _ordered(data) != _ordered(reference.body.get("data")):
        where, ours, theirs = _first_difference(data, reference.body.get("data"), ())
        found.append(f"data differ at {list(where)}:\n  fast:      {ours}\n  reference: {theirs}")
        return found
    has_data = "data" in fast.body
    compared: dict[str, Counter[ErrorKey]] = {}
    propagated: set[Path] = set()
    for side, answer in (("fast", fast), ("reference", reference)):
        kept: Counter[ErrorKey] = Counter()
        for error in answer.errors:
            key = _key(error)
            inside = _propagated_null(data, key[1]) if has_data and key[1] is not None else None
            if inside is None:
                kept[key] += 1
            else:
                propagated.add(inside)
        compared[side] = kept
    if compared["fast"] != compared["reference"]:
        only_fast = compared["fast"] - compared["reference"]
        only_reference = compared["reference"] - compared["fast"]
        found.append(
            "errors differ:\n"
            f"  only fast:      {sorted(only_fast.elements(), key=repr)}\n"
            f"  only reference: {sorted(only_reference.elements(), key=repr)}"
        )
    for position in sorted(propagated, key=repr):
        for side, answer in (("fast", fast), ("reference", reference)):
            paths = [tuple(e["path"]) for e in answer.errors if e.get("path") is not None]
            if not any(p[: len(position)] == position for p in paths):
                found.append(f"{side}: no error at or below the null at {list(position)}")
    return found


class Executors:
    """Two clients of the gateway over the session's database: one app on our executor, one
    on graphql-core's."""

    def __init__(self, fast: httpx.AsyncClient, reference: httpx.AsyncClient) -> None:
        self.fast = fast
        self.reference = reference

    async def answers(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str
    ) -> tuple[Answer, Answer]:
        request_id = f"differential-{next(_request_ids)}"
        headers = {"Authorization": f"Bearer {token}", "X-Request-ID": request_id}
        payload = {"query": query, "variables": variables or {}}
        results = []
        for client in (self.fast, self.reference):
            response = await client.post("/graphql", json=payload, headers=headers)
            assert response.headers["x-request-id"] == request_id
            results.append(Answer(response.status_code, response.json()))
        return results[0], results[1]

    async def compare(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str
    ) -> tuple[Answer, Answer]:
        """Both answers, asserted to agree."""
        fast, reference = await self.answers(query, variables, token=token)
        found = differences(fast, reference)
        assert not found, "\n".join([f"document:\n{query}", f"variables: {variables}", *found])
        return fast, reference


@asynccontextmanager
async def executors(settings: Settings) -> AsyncIterator[Executors]:
    """Both executors' apps, sharing the session's open database (ASGITransport does not run
    their lifespans: the session app's is the one that opened it)."""
    from gateway.app import create_app

    async with (
        _client(create_app(settings.with_(executor="fast"))) as fast,
        _client(create_app(settings.with_(executor="reference"))) as reference,
    ):
        yield Executors(fast, reference)


@asynccontextmanager
async def _client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def examples(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    """`count` examples of `strategy`, the same ones on every run (derandomized), drawn up
    front so the async test can run each on both executors."""
    drawn: list[Any] = []

    @hypothesis_settings(
        derandomize=True,
        database=None,
        max_examples=count,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(strategy)
    def draw(example: Any) -> None:
        drawn.append(example)

    draw()
    return drawn
