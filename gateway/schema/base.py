"""Shared GraphQL shapes: the Node interface and Relay connections over `Page` objects."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from itertools import repeat
from operator import attrgetter
from typing import Any, Generic, NamedTuple, TypeVar, cast

import strawberry
from tortoise.models import Model

from gateway.executor.batch import batch_field
from gateway.ids import global_ids
from gateway.loaders import load_all
from gateway.pagination import Loaded, Page, PageOf

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


_pk = attrgetter("id")


def id_field(type_name: str, what: str) -> Any:
    """The `id` field of a node type whose values are rows: the row's global id."""

    def ids(_ctx: Any, rows: Sequence[Any]) -> list[str]:
        return global_ids(type_name, map(_pk, rows))

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


class _Edge(NamedTuple):
    cursor: str
    node: Any


@strawberry.type(description="An item of a page with its cursor.")
class Edge(Generic[T]):
    cursor: str = strawberry.field(description="Opaque keyset cursor of this item.")
    node: T = strawberry.field(description="The item.")


async def _loaded(wanted: Sequence[Loaded]) -> list[Any]:
    """Each loader's value for its key: one batch per loader, whatever the number of parents."""
    values: list[Any] = [None] * len(wanted)
    batches: dict[int, tuple[Any, list[int]]] = {}
    for i, one in enumerate(wanted):
        batches.setdefault(id(one.loader), (one.loader, []))[1].append(i)

    async def batch(loader: Any, indices: list[int]) -> None:
        found = await load_all(loader, [wanted[i].key for i in indices])
        for i, value in zip(indices, found, strict=True):
            values[i] = value

    if len(batches) == 1:
        await batch(*next(iter(batches.values())))
    else:
        await asyncio.gather(*(batch(*b) for b in batches.values()))
    return values


AnyPage = Page[Any] | PageOf[Any]


async def _read(pages: Sequence[AnyPage]) -> list[Page[Any]]:
    """The pages, those not read yet read together (pagination.PageOf)."""
    unread = [p for p in pages if isinstance(p, PageOf) and p.page is None]
    if unread:
        for p, rows in zip(unread, await _loaded([p.rows for p in unread]), strict=True):
            p.read(rows)
    return [cast(Page[Any], p.page) if isinstance(p, PageOf) else p for p in pages]


async def _edges(_ctx: Any, pages: Sequence[AnyPage]) -> list[list[_Edge]]:
    # C-level passes: a named tuple's own constructor is a Python call per edge.
    return [
        list(map(tuple.__new__, repeat(_Edge), zip(page.cursors, page.nodes, strict=True)))
        for page in await _read(pages)
    ]


async def _nodes(_ctx: Any, pages: Sequence[AnyPage]) -> list[list[Any]]:
    return [page.nodes for page in await _read(pages)]


async def _page_infos(_ctx: Any, pages: Sequence[AnyPage]) -> list[Page[Any]]:
    return await _read(pages)  # a Page answers PageInfo's fields


async def _total_counts(_ctx: Any, pages: Sequence[AnyPage]) -> list[int]:
    """Pages counted by a loader are counted in one batch per loader; others each by its call."""
    by_loader = [i for i, page in enumerate(pages) if isinstance(page.count, Loaded)]
    by_call = [i for i, page in enumerate(pages) if not isinstance(page.count, Loaded)]
    counts: list[Any] = [None] * len(pages)

    async def loaded() -> None:
        found = await _loaded([cast(Loaded, pages[i].count) for i in by_loader])
        for i, count in zip(by_loader, found, strict=True):
            counts[i] = count

    async def call(i: int) -> None:
        counts[i] = await cast(Callable[[], Awaitable[int]], pages[i].count)()

    await asyncio.gather(loaded(), *(call(i) for i in by_call))
    return counts


@strawberry.type(description="A page of a list (Relay connection) with keyset cursors.")
class Connection(Generic[T]):
    edges: list[Edge[T]] = batch_field(
        _edges, description="The items of this page with their cursors."
    )
    nodes: list[T] = batch_field(_nodes, description="The items of this page.")
    page_info: PageInfo = batch_field(_page_infos, description="Where this page sits in the list.")
    total_count: int = batch_field(
        _total_counts, description="Number of items in the whole list (all pages)."
    )
