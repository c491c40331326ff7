"""Relay pages with keyset cursors (DESIGN §2): stable under inserts, no OFFSET.

A cursor is the sort key of a row, so "after" means "strictly past this key" even when rows
were added or removed in between. Two orders exist: by (sort_name, id) ascending for named
things, and by (a timestamp, id) descending for logs and inboxes.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property, lru_cache
from itertools import groupby
from operator import attrgetter
from typing import Any, Generic, NamedTuple, TypeVar

from orjson import dumps
from tortoise.expressions import Q, RawSQL
from tortoise.models import Model
from tortoise.queryset import QuerySet

from gateway.errors import BadUserInput
from gateway.rows import Params, column_name, columns, fetch_sql, read_columns
from gateway.rows import fetch as fetch_rows
from gateway.services import text

T = TypeVar("T")
M = TypeVar("M", bound=Model)

DEFAULT_PAGE_SIZE = 20
# Keys are 32-bit integer columns: a cursor past them was not made here, and would not bind.
_MAX_KEY = 2**31 - 1
# base64.urlsafe_b64encode's alphabet, from the standard one.
_URL_SAFE = bytes.maketrans(b"+/", b"-_")


class Order(NamedTuple):
    """A total order over rows: a leading field, then the primary key as tie-breaker. A named
    tuple, as `PageRequest`: both are in the keys of nested-page loaders, hashed per parent."""

    field: str
    descending: bool
    is_time: bool = False

    def key(self, row: Any) -> tuple[Any, int]:
        return getattr(row, self.field), row.id

    @property
    def order_by(self) -> tuple[str, str]:
        sign = "-" if self.descending else ""
        return f"{sign}{self.field}", f"{sign}id"

    def after_q(self, key: tuple[Any, int]) -> Q:
        """Rows strictly past `key` in this order."""
        value, pk = key
        op = "lt" if self.descending else "gt"
        past = Q(**{f"{self.field}__{op}": value}) | Q(**{self.field: value, f"id__{op}": pk})
        # The same condition again as a plain range, so an index on the sort column bounds
        # the scan (PostgreSQL applies the OR above only as a filter: a deep "load more"
        # would otherwise read every row before the cursor).
        return Q(**{f"{self.field}__{op}e": value}) & past

    def encode(self, row: Any) -> str:
        value, pk = getattr(row, self.field), int(row.id)
        if not self.is_time:
            # The same text as json.dumps([value, pk], separators=(",", ":")), whose custom
            # separators build a new encoder per call: four times the cost.
            raw = f"[{json.dumps(value)},{pk}]".encode()
        elif value.tzinfo is UTC:
            # What json.dumps writes for [isoformat, pk], written by orjson, which gives a UTC
            # instant's isoformat at a fifth of its cost: a page encodes a cursor per row.
            raw = dumps((value, pk))
        else:  # orjson would drop an offset's seconds
            raw = f'["{value.isoformat()}",{pk}]'.encode()
        return binascii.b2a_base64(raw, newline=False).translate(_URL_SAFE).decode()

    def decode(self, cursor: str, arg: str = "after") -> tuple[Any, int]:
        try:
            value, pk = json.loads(base64.urlsafe_b64decode(cursor.encode()))
            if not isinstance(pk, int) or isinstance(pk, bool) or not 0 < pk <= _MAX_KEY:
                raise ValueError
            if self.is_time:
                value = datetime.fromisoformat(value)
                if value.tzinfo is None:
                    raise ValueError
            elif not isinstance(value, str) or text.problem(value, arg, text.SORT_KEY):
                raise ValueError
        except (ValueError, TypeError, binascii.Error, UnicodeError, json.JSONDecodeError):
            raise BadUserInput(f"`{arg}` is not a cursor of this list", argument=arg) from None
        return value, pk


BY_NAME = Order("sort_name", descending=False)
NEWEST_LOG_FIRST = Order("occurred_at", descending=True, is_time=True)
NEWEST_CREATED_FIRST = Order("created_at", descending=True, is_time=True)
OLDEST_CONNECTED_FIRST = Order("connected_at", descending=False, is_time=True)


def page_size(first: int | None, max_size: int, arg: str = "first") -> int:
    if first is None:
        return DEFAULT_PAGE_SIZE
    if first < 0 or first > max_size:
        raise BadUserInput(f"`{arg}` must be between 0 and {max_size}, got {first}", argument=arg)
    return first


class PageRequest(NamedTuple):
    """Validated `first`/`after`: checked when the field runs, since values may be variables."""

    first: int
    after: tuple[Any, int] | None
    order: Order

    @classmethod
    def of(cls, first: int | None, after: str | None, order: Order, max_size: int) -> PageRequest:
        size = page_size(first, max_size)
        return cls(size, order.decode(after) if after is not None else None, order)


class Loaded(NamedTuple):
    """A loader's value for a key, read when asked: a page's total or a nested page's rows,
    so that the pages of many parents are counted or read by one batch (`totalCount` of each
    app's connections, say). A named tuple: a page of apps makes two per app."""

    loader: Any  # a Loader (gateway/loaders.py)
    key: Hashable


@dataclass
class Page(Generic[T]):
    """One page of a list; the GraphQL connection types read it."""

    nodes: list[T]
    order: Order
    has_next_page: bool
    has_previous_page: bool
    # How its total is found, when `totalCount` is asked: by a call, or a loader's batch.
    count: Callable[[], Awaitable[int]] | Loaded = field(repr=False)

    @cached_property
    def cursors(self) -> list[str]:
        """Made when asked for: a page read only for its nodes needs none."""
        return [self.order.encode(n) for n in self.nodes]

    @property
    def start_cursor(self) -> str | None:
        return self.cursors[0] if self.cursors else None

    @property
    def end_cursor(self) -> str | None:
        return self.cursors[-1] if self.cursors else None


class PageOf(Generic[T]):
    """A nested page whose rows are read only when its items or its place in the list are
    asked: they are a loader's value for a key (up to first + 1 rows past the cursor, read for
    all the parents of a field step at once). `totalCount` alone reads none: the console asks
    each app for `connections(first: 1) { totalCount }`. The connection types read it through
    `read`, which gives the page."""

    __slots__ = ("count", "page", "request", "rows")

    def __init__(self, rows: Loaded, request: PageRequest, count: Loaded) -> None:
        self.rows = rows
        self.request = request
        self.count = count
        self.page: Page[T] | None = None  # once read

    def read(self, rows: Sequence[T]) -> Page[T]:
        """The page, made from its rows (a loader's value) the first time."""
        if self.page is None:
            self.page = page_from_rows(rows, self.request, self.count)
        return self.page


def nested_pages(
    rows: Any, counts: Any, parents: Sequence[int], request: PageRequest, flt: Hashable = None
) -> list[PageOf[Any]]:
    """Each parent's page, not read yet: the `rows` loader holds a page's rows by (parent id,
    request, filter), the `counts` loader its total by (parent id, filter)."""
    return [
        PageOf(Loaded(rows, (p, request, flt)), request, Loaded(counts, (p, flt))) for p in parents
    ]


def page_from_rows(
    rows: Sequence[T], request: PageRequest, count: Callable[[], Awaitable[int]] | Loaded
) -> Page[T]:
    """`rows` holds up to first + 1 rows past the cursor; the extra one only says there is more."""
    nodes = list(rows[: request.first])
    return Page(
        nodes=nodes,
        order=request.order,
        has_next_page=len(rows) > request.first,
        has_previous_page=request.after is not None,
        count=count,
    )


async def paginate_queryset(qs: QuerySet[M], request: PageRequest) -> Page[M]:
    """A page of a query: one statement for the rows, one more only if totalCount is asked."""
    ranged = qs.filter(request.order.after_q(request.after)) if request.after else qs
    rows = await fetch_rows(ranged.order_by(*request.order.order_by).limit(request.first + 1))
    return page_from_rows(rows, request, qs.count)


def paginate_list(items: Sequence[T], request: PageRequest) -> Page[T]:
    """A page of rows already in memory, in the request's order."""
    order = request.order
    total = len(items)
    if request.after is not None:
        after = request.after
        items = [i for i in items if _past(order, order.key(i), after)]

    async def count() -> int:
        return total

    return page_from_rows(items[: request.first + 1], request, count)


def column_of(model: type[Model], order: Order) -> str:
    """The column `order` sorts `model` by."""
    return column_name(model, order.field)


def after_sql(model: type[Model], request: PageRequest, param: Params) -> list[str]:
    """`Order.after_q` in SQL written by hand: rows past the request's cursor (none without)."""
    if request.after is None:
        return []
    column, op = column_of(model, request.order), "<" if request.order.descending else ">"
    value, pk = request.after
    v = param(value)
    # The plain range first, so that an index on the sort column bounds the scan.
    past = f'"{column}" {op} {v} OR ("{column}" = {v} AND "id" {op} {param(pk)})'
    return [f'"{column}" {op}= {v} AND ({past})']


def order_sql(model: type[Model], order: Order) -> str:
    direction = "DESC" if order.descending else "ASC"
    return f'"{column_of(model, order)}" {direction}, "id" {direction}'


async def top_n_written(
    model: type[M], parent_column: str, conditions: list[str], params: Params, request: PageRequest
) -> dict[int, list[M]]:
    """`top_n_per_parent` over a statement written by hand for PostgreSQL: `conditions` (and
    `params`) select the rows, the parents' among them."""
    where = (*conditions, *after_sql(model, request, params))
    sql = _top_n_statement(model, parent_column, where, request.order, int(request.first) + 1)
    # The rows come parent by parent: grouped in C-level passes (a page reads hundreds).
    found = await fetch_sql(model, sql, params)
    return {parent: list(rows) for parent, rows in groupby(found, attrgetter(parent_column))}


@lru_cache(maxsize=256)
def _top_n_statement(
    model: type[Model], parent_column: str, where: tuple[str, ...], order: Order, limit: int
) -> str:
    """`top_n_written`'s text, made once per shape (its conditions hold placeholders, never
    values): its select list is most of its making."""
    table = f'"{model._meta.db_table}"'
    ranked = (
        f'SELECT {columns(model, table)}, ROW_NUMBER() OVER (PARTITION BY "{parent_column}" '
        f"ORDER BY {order_sql(model, order)}) AS rn FROM {table} WHERE "
        f"{' AND '.join(where) or 'TRUE'}"
    )
    # The model's columns only: the rank is read by the statement, not by the gateway.
    kept = ", ".join(f'"{c}"' for c in read_columns(model))
    return (
        f"SELECT {kept} FROM ({ranked}) AS ranked WHERE rn <= {limit} "
        f'ORDER BY "{parent_column}", rn'
    )


def _past(order: Order, key: tuple[Any, int], after: tuple[Any, int]) -> bool:
    return key < after if order.descending else key > after


async def top_n_per_parent(
    qs: QuerySet[M], parent_field: str, request: PageRequest
) -> dict[int, list[M]]:
    """Up to first + 1 rows past the cursor for each parent, in one windowed statement, so a
    list of 5 parents or 500 costs the same one query."""
    if request.after is not None:
        qs = qs.filter(request.order.after_q(request.after))
    parent_column = f"{parent_field}_id"
    ranked = qs.annotate(
        rn=RawSQL(
            f"ROW_NUMBER() OVER (PARTITION BY {parent_column} "
            f"ORDER BY {order_sql(qs.model, request.order)})"
        )
    )
    limit = int(request.first) + 1
    # Whole rows, ranked within their parent: the rank column is read by no model field.
    rows = await fetch_rows(
        ranked,
        lambda sql: (
            f"SELECT * FROM ({sql}) AS ranked WHERE rn <= {limit} ORDER BY {parent_column}, rn"
        ),
    )
    grouped: dict[int, list[M]] = {}
    for row in rows:
        grouped.setdefault(getattr(row, parent_column), []).append(row)
    return grouped
