"""Shared GraphQL shapes: the Node interface and Relay connections over `Page` objects."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

import strawberry
from tortoise.models import Model

from gateway.executor.batch import batch_field
from gateway.ids import to_global_id
from gateway.loaders import load_all
from gateway.pagination import CountOf, Page

T = TypeVar("T")


@strawberry.interface(description="An object with an opaque global id, resolvable by `node`.")
class Node:
    id: strawberry.ID = strawberry.field(description="Opaque global id of the object.")


def node_type(model: type[Model]) -> Any:
    """`is_type_of` for a GraphQL type whose values are Tortoise rows of `model`."""

    def is_type_of(cls: type, obj: Any, _info: Any) -> bool:
        return isinstance(obj, model)

    # Our executor checks the class itself instead of calling this for every object.
    is_type_of.instances_of = model  # type: ignore[attr-defined]  # a marker read with getattr

    return classmethod(is_type_of)


M = TypeVar("M")


def row(obj: object, model: type[M]) -> M:
    """The value behind a GraphQL object: a Tortoise row for node types (`node_type` matches
    them), a service's dataclass for others, while `self` in a field is typed as the GraphQL
    class."""
    return cast(M, obj)


def id_field(type_name: str, what: str) -> Any:
    """The `id` field of a node type whose values are rows: the row's global id."""

    def ids(_ctx: Any, rows: Sequence[Any]) -> list[str]:
        return [to_global_id(type_name, r.id) for r in rows]

    return batch_field(ids, description=f"Opaque global id of the {what}.")


@strawberry.type(description="Where a page sits in its list (Relay).")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More items follow this page.")
    has_previous_page: bool = strawberry.field(
        description="Items precede this page (true whenever `after` was given)."
    )
    start_cursor: str | None = strawberry.field(description="Cursor of the first item, if any.")
    end_cursor: str | None = strawberry.field(
        description="Cursor of the last item; pass it as `after` for the next page."
    )


@dataclass
class _Edge:
    cursor: str
    node: Any


@strawberry.type(description="An item of a page with its cursor.")
class Edge(Generic[T]):
    cursor: str = strawberry.field(description="Opaque keyset cursor of this item.")
    node: T = strawberry.field(description="The item.")


def _edges(_ctx: Any, pages: Sequence[Page[Any]]) -> list[list[_Edge]]:
    return [[_Edge(c, n) for c, n in zip(page.cursors, page.nodes, strict=True)] for page in pages]


def _page_infos(_ctx: Any, pages: Sequence[Page[Any]]) -> list[Page[Any]]:
    return list(pages)  # a Page answers PageInfo's fields


async def _total_counts(_ctx: Any, pages: Sequence[Page[Any]]) -> list[int]:
    """Pages counted by a loader are counted in one batch per loader; others each by its call."""
    counts: list[Any] = [None] * len(pages)
    batches: dict[int, tuple[Any, list[int]]] = {}
    calls: list[int] = []
    for i, page in enumerate(pages):
        if isinstance(page.count, CountOf):
            batches.setdefault(id(page.count.loader), (page.count.loader, []))[1].append(i)
        else:
            calls.append(i)

    async def batch(loader: Any, indices: list[int]) -> None:
        keys = [cast(CountOf, pages[i].count).key for i in indices]
        for i, count in zip(indices, await load_all(loader, keys), strict=True):
            counts[i] = count

    async def call(i: int) -> None:
        counts[i] = await cast(Callable[[], Awaitable[int]], pages[i].count)()

    await asyncio.gather(*(batch(*b) for b in batches.values()), *(call(i) for i in calls))
    return counts


@strawberry.type(description="A page of a list (Relay connection) with keyset cursors.")
class Connection(Generic[T]):
    edges: list[Edge[T]] = batch_field(
        _edges, description="The items of this page with their cursors."
    )
    nodes: list[T] = strawberry.field(description="The items of this page.")
    page_info: PageInfo = batch_field(_page_infos, description="Where this page sits in the list.")
    total_count: int = batch_field(
        _total_counts, description="Number of items in the whole list (all pages)."
    )
