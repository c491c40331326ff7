"""Model instances from rows, for the loaders that read most rows, and the statements those
loaders send.

What Tortoise's `_init_from_db` does, with each column's conversion chosen once per model
instead of per value: enum columns map through a dict instead of calling the enum class, aware
datetimes are moved to the configured zone without reading the settings per value, and columns
the driver already converts are stored as they come. Any other field type still goes through
the field's own `to_python_value`, so values are exactly the ones Tortoise would give
(tests/test_rows.py compares every row of the demo data).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from enum import Enum
from functools import partial
from typing import Any, TypeVar

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.fields import DatetimeField
from tortoise.models import Model
from tortoise.queryset import QuerySet
from tortoise.timezone import get_default_timezone, get_use_tz

M = TypeVar("M", bound=Model)

_Converter = Callable[[Any], Any] | None


def unread(model: type[Model]) -> frozenset[str]:
    """The columns of `model` that only SQL reads back (a model's `UNREAD`): its rows are read
    and mapped without them, as partial models."""
    return getattr(model, "UNREAD", frozenset())


class _Mapper:
    def __init__(self, model: type[Model], prefix: str = "") -> None:
        meta = model._meta
        self.custom_pk = meta.db_pk_column not in meta.generated_db_fields
        skipped = unread(model)
        columns: list[tuple[str, str, _Converter]] = []
        for key, attr, _field in meta.db_native_fields:
            columns.append((key, attr, None))
        for key, attr, field in meta.db_default_fields:
            columns.append((key, attr, field.field_type))
        for key, attr, field in meta.db_complex_fields:
            enum_type = getattr(field, "enum_type", None)
            if isinstance(enum_type, type) and issubclass(enum_type, Enum):
                by_value = {member.value: member for member in enum_type}
                columns.append((key, attr, _enum(by_value, field.to_python_value)))
            elif isinstance(field, DatetimeField) and get_use_tz():
                columns.append((key, attr, _aware(field.to_python_value)))
            else:
                # `to_python_value` would turn None into None too; the mapper skips None.
                columns.append((key, attr, field.to_python_value))
        # Every field's conversion, the unread ones' too: `converted` reads fields by name
        # (the log export reads `recorded_at`).
        self.converter_of = {attr: convert for _key, attr, convert in columns}
        # A row may hold several models' columns, each model's named with its own prefix.
        self.columns = [
            (prefix + key, attr, convert) for key, attr, convert in columns if key not in skipped
        ]
        self.model = model
        self.partial = bool(skipped)
        # Per statement shape (its column names, in order): reading a column by its place
        # costs a fraction of reading it by name, and a page reads thousands.
        self.builds: dict[tuple[str, ...], Callable[[Any], Model]] = {}

    def build_for(self, keys: tuple[str, ...]) -> Callable[[Any], Model]:
        """The builder for rows with these column names, in this order."""
        build = self.builds.get(keys)
        if build is None:
            place = {key: i for i, key in enumerate(keys)}
            missing = [key for key, _attr, _convert in self.columns if key not in place]
            if missing:
                raise KeyError(f"the rows lack columns {missing} of {self.model.__name__}")
            reads = [place[key] for key, _attr, _convert in self.columns]
            build = _builder(self.model, self.custom_pk, self.partial, self.columns, reads)
            self.builds[keys] = build
        return build

    def converters(self, fields: Sequence[str]) -> list[_Converter]:
        """How each of these fields' values is converted from the driver's (None: kept)."""
        return [self.converter_of[field] for field in fields]


def _builder(
    model: type[Model],
    custom_pk: bool,
    is_partial: bool,
    columns: list[tuple[str, str, _Converter]],
    reads: list[int],
) -> Callable[[Any], Model]:
    """A function from a row to its model, generated with each column's read (by its place in
    the row, `reads`) and conversion written out (Tortoise's bookkeeping first, then the
    fields, in `_init_from_db`'s order): a loop over the columns costs a fifth more per row,
    and a page maps hundreds. Attribute names and converters reach the source as names bound
    in its namespace, never as text; only column places are written in it."""
    names: dict[str, Any] = {
        "new": model.__new__,
        "model": model,
        "custom_pk": custom_pk,
        "is_partial": is_partial,
    }
    lines = []
    for i, ((_key, attr, convert), place) in enumerate(zip(columns, reads, strict=True)):
        names[f"a{i}"] = attr
        lines.append(f"    values[a{i}] = {_read(i, f'row[{int(place)}]', convert, names)}\n")
    source = (
        "def build(row):\n"
        "    obj = new(model)\n"
        "    values = obj.__dict__\n"
        '    values["_partial"] = is_partial\n'
        '    values["_saved_in_db"] = True\n'
        '    values["_custom_generated_pk"] = custom_pk\n'
        '    values["_await_when_save"] = {}\n' + "".join(lines) + "    return obj\n"
    )
    exec(source, names)
    return names["build"]  # made by the exec above


def _read(i: int, read: str, convert: _Converter, names: dict[str, Any]) -> str:
    """The source of an expression reading column `i` (`read`) and converting its value unless
    it is null, binding what it needs in `names`. Enum and aware datetime columns, a page's
    most frequent conversions, are written out too: their usual case costs no call."""
    if convert is None:
        return read
    names[f"c{i}"] = convert
    by_value = getattr(convert, "by_value", None)
    if by_value is not None:  # _enum: the member by a lookup, else the field's own conversion
        names[f"e{i}"] = by_value
        return (
            f"(None if (v := {read}) is None else m if (m := e{i}.get(v)) is not None else c{i}(v))"
        )
    if hasattr(convert, "kept"):  # _aware: the driver's datetime as it comes, in the usual zone
        names[f"z{i}"] = convert.kept
        return f'(v if (v := {read}) is None or getattr(v, "tzinfo", None) is z{i} else c{i}(v))'
    return f"(c{i}(v) if (v := {read}) is not None else None)"


def _enum(by_value: dict[Any, Enum], fallback: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        member = by_value.get(value)
        return member if member is not None else fallback(value)

    convert.by_value = by_value  # type: ignore[attr-defined]  # read by _read
    return convert


def _aware(fallback: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """What DatetimeField.to_python_value does to the aware datetimes drivers return, without
    reading the time zone settings from the environment per value (they are read once here,
    when the mapper is made; Tortoise reads them at start-up too).

    In UTC, the gateway's setting, asyncpg's datetimes are kept as they come: the same instants
    Tortoise gives, equal to its values, with `datetime.UTC` for their zone instead of its
    `ZoneInfo("UTC")`, and a page of the console converts hundreds of them."""
    zone = get_default_timezone()
    kept: object = UTC if str(zone) == "UTC" else _NO_ZONE

    def convert(value: Any) -> Any:
        if getattr(value, "tzinfo", None) is kept:  # SQLite gives text
            return value
        if type(value) is datetime and value.utcoffset() is not None:
            return value.astimezone(zone)
        return fallback(value)

    convert.kept = kept  # type: ignore[attr-defined]  # read by _read
    return convert


_NO_ZONE = object()  # a tzinfo no value has


_mappers: dict[tuple[type[Model], str], _Mapper] = {}


def _mapper(model: type[Model], prefix: str = "") -> _Mapper:
    mapper = _mappers.get((model, prefix))
    if mapper is None:
        mapper = _mappers[(model, prefix)] = _Mapper(model, prefix)
    return mapper


def builder(model: type[M], found: Sequence[Any], prefix: str = "") -> Callable[[Any], M]:
    """The function from a row of `found` (rows of one statement) to the `model` whose columns
    it holds, named `prefix` + column (see `columns`); taken once for all the rows."""
    mapper = _mapper(model, prefix)
    keys = tuple(found[0].keys()) if found else tuple(key for key, _a, _c in mapper.columns)
    return mapper.build_for(keys)  # type: ignore[return-value]  # it builds `model`s


def read_columns(model: type[Model]) -> list[str]:
    """The columns of `model` its rows are read with (all but the `unread` ones)."""
    skipped = unread(model)
    return [c for c in model._meta.fields_db_projection.values() if c not in skipped]


def columns(model: type[Model], table: str, prefix: str = "", when: str | None = None) -> str:
    """A select list of the `read_columns` of `model` read from `table` (a name or an alias),
    each named `prefix` + column, for statements written by hand and read with `builder`;
    with `when` (an SQL condition), each column is null on the rows that do not meet it."""
    return ", ".join(
        f'{table}."{column}" AS "{prefix}{column}"'
        if when is None
        else f'CASE WHEN {when} THEN {table}."{column}" END AS "{prefix}{column}"'
        for column in read_columns(model)
    )


def column_name(model: type[Model], field: str) -> str:
    """The column that holds `field` of `model`."""
    return model._meta.fields_map[field].source_field or field


def on_postgres(client: BaseDBAsyncClient) -> bool:
    """Whether `client` speaks PostgreSQL, where statements are written by hand (else SQLite)."""
    return client.capabilities.dialect == "postgres"


def parameters(client: BaseDBAsyncClient, count: int) -> list[str]:
    """Placeholders for `count` parameters in `client`'s SQL dialect (SQLite or PostgreSQL)."""
    if on_postgres(client):
        return [f"${i}" for i in range(1, count + 1)]
    return ["?"] * count


async def fetch(qs: QuerySet[M], wrap: Callable[[str], str] | None = None) -> list[M]:
    """The rows of a plain query (no select_related or prefetches; annotations are read by no
    field) as models; `wrap` puts the query's SQL inside a statement of its own."""
    if qs._select_related or qs._prefetch_map:  # rows of several models: Tortoise's own way
        return list(await qs)
    # What awaiting the query set does up to its rows (Tortoise is pinned; the API tests and
    # the differential tests read every field of these models).
    qs._choose_db_if_not_chosen()
    qs._make_query()
    sql, params = qs.query.get_parameterized_sql()
    if wrap is not None:
        sql = wrap(sql)
    _count, rows = await qs._db.execute_query(sql, params)
    return list(map(builder(qs.model, rows), rows))


async def fetch_in(
    model: type[M],
    column: str,
    keys: Collection[Any],
    *,
    where: str = "",
    order_by: Sequence[str] = (),
) -> list[M]:
    """The rows of `model` whose `column` is one of `keys` (and that meet `where`, a fixed
    condition in SQL), ordered by the fields `order_by` names ("-field" for descending).

    The loaders' statements, written here rather than by the query builder, which spends more
    on a 50-key `IN` list than the database does answering it. PostgreSQL gets the keys as one
    array, so each shape is one prepared statement whatever the number of keys."""
    rows = await _select_in(model, column, keys, where, tuple(order_by), None)
    return list(map(builder(model, rows), rows))


async def values_in(
    model: type[Model],
    column: str,
    keys: Collection[Any],
    fields: Sequence[str],
    *,
    order_by: Sequence[str] = (),
) -> list[tuple[Any, ...]]:
    """(`column`, *`fields`) of the rows of `model` whose `column` is one of `keys`, each value
    as the model would hold it, without building models (for loaders that read hundreds of
    rows and few of their fields)."""
    found = await _select_in(model, column, keys, "", tuple(order_by), tuple(fields))
    return converted(model, fields, found)


def converted(
    model: type[Model], fields: Sequence[str], found: list[Any], values: type[tuple] | None = None
) -> list[tuple[Any, ...]]:
    """Rows of a key and then `fields` of `model`, as the driver gives them, with each field's
    value as the model would hold it: a tuple per row, or with `values` (a named tuple of the
    fields) a (key, `values`) pair, made without an intermediate tuple (a page converts
    hundreds)."""
    shape = (model, tuple(fields), values)
    convert = _converters.get(shape)
    if convert is None:
        convert = _converters[shape] = _tuple_of([None, *_mapper(model).converters(fields)], values)
    return list(map(convert, found))


_converters: dict[
    tuple[type[Model], tuple[str, ...], type[tuple] | None], Callable[[Any], tuple[Any, ...]]
] = {}


def field_converters(model: type[Model], fields: Sequence[str]) -> list[_Converter]:
    """How each of these fields of `model` is converted from the driver's value (None: kept as
    it comes), for statements that read several models' columns into one tuple."""
    return _mapper(model).converters(fields)


def tuple_converter(converters: list[_Converter]) -> Callable[[Any], tuple[Any, ...]]:
    """A function from a row to the tuple of its values, each through its converter (see
    `field_converters`)."""
    return _tuple_of(converters)


def _tuple_of(
    converters: list[_Converter], values: type[tuple] | None = None
) -> Callable[[Any], tuple[Any, ...]]:
    """A function from a row to the tuple of its values, each through its converter unless it
    is null (None: kept as it is), or with `values`, to the pair of its first value and a
    `values` of the others. Generated, with each column's read and conversion written out: it
    costs a fifth of a generator over the columns, per row, and a page converts hundreds. Only
    column indexes go into the source."""
    names: dict[str, Any] = {}
    items = [_read(i, f"row[{i}]", c, names) for i, c in enumerate(converters)]
    if values is None:
        made = f"({', '.join(items)},)"
    else:
        # tuple.__new__: a named tuple's own constructor is a Python call per row.
        names["new"], names["values"] = tuple.__new__, values
        made = f"({items[0]}, new(values, ({', '.join(items[1:])},)))"
    exec(f"def convert(row):\n    return {made}\n", names)
    return names["convert"]


async def _select_in(
    model: type[Model],
    column: str,
    keys: Collection[Any],
    where: str,
    order_by: tuple[str, ...],
    fields: tuple[str, ...] | None,
) -> list[Any]:
    if not keys:
        return []
    client = model._meta.db
    shape = (model, column, where, order_by, fields)
    head, tail = _shapes.get(shape) or _shapes.setdefault(shape, _shape(*shape))
    if on_postgres(client):
        sql, params = f"{head} = ANY($1){tail}", [list(keys)]
    else:
        params = list(keys)
        sql = f"{head} IN ({', '.join('?' * len(params))}){tail}"
    _count, rows = await client.execute_query(sql, params)
    return list(rows)


_shapes: dict[tuple[Any, ...], tuple[str, str]] = {}


def _shape(
    model: type[Model],
    column: str,
    where: str,
    order_by: tuple[str, ...],
    fields: tuple[str, ...] | None,
) -> tuple[str, str]:
    """The statement around the key list: what comes before it and what after."""
    table = f'"{model._meta.db_table}"'
    if fields is None:
        selected = columns(model, table)
    else:
        selected = ", ".join(
            f'"{name}"' for name in (column, *map(partial(column_name, model), fields))
        )
    head = f'SELECT {selected} FROM {table} WHERE "{column}"'
    tail = f" AND ({where})" if where else ""
    if order_by:
        terms = []
        for name in order_by:
            direction = " DESC" if name.startswith("-") else ""
            terms.append(f'"{column_name(model, name.lstrip("-"))}"{direction}')
        tail += " ORDER BY " + ", ".join(terms)
    return head, tail


class Params:
    """The parameters of a statement written by hand for PostgreSQL: calling it with a value
    adds the value and gives its placeholder ($1, $2, ... in order)."""

    def __init__(self, *values: Any) -> None:
        self.values = list(values)

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


async def fetch_raw(client: BaseDBAsyncClient, sql: str, params: Params) -> list[Any]:
    """The rows of a statement written by hand, as the driver gives them."""
    _count, found = await client.execute_query(sql, params.values)
    return list(found)


async def fetch_sql(model: type[M], sql: str, params: Params) -> list[M]:
    """The rows of a statement written by hand that selects `columns(model, ...)`, as models."""
    found = await fetch_raw(model._meta.db, sql, params)
    return list(map(builder(model, found), found))
