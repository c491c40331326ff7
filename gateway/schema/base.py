"""Shared GraphQL shapes: the Node interface and Relay connections over `Page` objects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

import strawberry
from tortoise.models import Model

from gateway.ids import to_global_id
from gateway.pagination import Page

T = TypeVar("T")


@strawberry.interface(description="An object with an opaque global id, resolvable by `node`.")
class Node:
    id: strawberry.ID = strawberry.field(description="Opaque global id of the object.")


def node_type(model: type[Model]) -> Any:
    """`is_type_of` for a GraphQL type whose values are Tortoise rows of `model`."""

    def is_type_of(cls: type, obj: Any, _info: Any) -> bool:
        return isinstance(obj, model)

    return classmethod(is_type_of)


M = TypeVar("M")


def row(obj: object, model: type[M]) -> M:
    """The value behind a GraphQL object: a Tortoise row for node types (`node_type` matches
    them), a service's dataclass for others, while `self` in a field is typed as the GraphQL
    class."""
    return cast(M, obj)


def id_field(type_name: str, what: str) -> Any:
    """The `id` field of a node type whose values are rows: the row's global id."""

    def resolve(root: strawberry.Parent[Any]) -> strawberry.ID:
        return strawberry.ID(to_global_id(type_name, root.id))

    return strawberry.field(resolver=resolve, description=f"Opaque global id of the {what}.")


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


@strawberry.type(description="A page of a list (Relay connection) with keyset cursors.")
class Connection(Generic[T]):
    @strawberry.field(description="The items of this page with their cursors.")
    def edges(self) -> list[Edge[T]]:
        page: Page[Any] = self  # type: ignore[assignment]  # a Page stands for its Connection
        return [_Edge(c, n) for c, n in zip(page.cursors, page.nodes, strict=True)]  # type: ignore[misc]  # _Edge stands for Edge

    nodes: list[T] = strawberry.field(description="The items of this page.")

    @strawberry.field(description="Where this page sits in the list.")
    def page_info(self) -> PageInfo:
        return self  # type: ignore[return-value]  # a Page answers PageInfo's fields

    @strawberry.field(description="Number of items in the whole list (all pages).")
    async def total_count(self) -> int:
        page: Page[Any] = self  # type: ignore[assignment]  # a Page stands for its Connection
        return await page.count()
