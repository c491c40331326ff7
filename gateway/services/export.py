"""The App log export's rows and cells (DESIGN §6 "Log export"): which entries, in which order,
read how, and what each column holds. The HTTP edge (gateway/export_http.py) only frames them.

Entries are the portal's log under `services.log`'s filter (the rule `appLog` applies, so an
export shows exactly what `appLog` shows the same viewer), newest `occurredAt` first, ties by
id. They are read in keyset batches as plain column tuples, never as models: a batch is one
statement for its entries with their scope changes and alert reasons (side tables, joined),
and at most two more for the names of apps and users not met before, whatever its size, and nothing of a batch is kept once it is written.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import orjson

from gateway import models as m
from gateway import rows
from gateway.ids import to_global_id
from gateway.models.enums import AlertSeverity, AppActivity
from gateway.pagination import NEWEST_LOG_FIRST
from gateway.services import faults
from gateway.services.log import LogFilter, portal_log

COLUMNS = (
    "occurred_at",
    "recorded_at",
    "activity",
    "app_id",
    "app_name",
    "user_id",
    "user_name",
    "user_email",
    "scopes_added",
    "scopes_removed",
    "alert_code",
    "alert_severity",
    "alert_message",
)

BATCH_SIZE = 1000
# The entry's own columns a batch reads (the id first: it is the keyset's tie-breaker).
_ENTRY_FIELDS = ("occurred_at", "recorded_at", "activity", "app_id", "user_id")
# Its scope changes and alert reason, from their side tables, in the same statement.
_SCOPE_FIELDS = ("added", "removed")
_ALERT_FIELDS = ("code", "severity", "message")
# Names of apps and users already read, kept across batches (an export names the same few
# again and again) but bounded, so a portal of many users cannot grow the export's memory.
_NAMES_KEPT = 10_000
# Characters that make a spreadsheet program read a cell as a formula (OWASP's CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class Format(Enum):
    CSV = "csv"
    NDJSON = "ndjson"

    @property
    def media_type(self) -> str:
        if self is Format.CSV:
            return "text/csv; charset=utf-8"
        return "application/x-ndjson"


@dataclass(frozen=True)
class Request:
    """One export: which portal's entries, under which filter, how written."""

    portal_id: int
    filter: LogFilter | None
    format: Format
    bom: bool = False


Cell = str | list[str] | None
# One entry's cells (each a Cell), in `COLUMNS` order.
Row = tuple[Any, ...]


async def batches(
    portal_id: int, flt: LogFilter | None, size: int = BATCH_SIZE
) -> AsyncIterator[list[Row]]:
    """The matching entries' cells (one list per entry, in `COLUMNS` order), a batch of at
    most `size` entries at a time, newest first.

    The next batch's statement is sent before this batch is handed over, so the database
    reads it while the caller writes this one out (on another connection of the pool; SQLite's
    one connection takes them in turn)."""
    names = _Names()
    pending: asyncio.Future[list[tuple[Any, ...]]] | None = asyncio.ensure_future(
        _entries(portal_id, flt, None, size)
    )
    try:
        while pending is not None:
            found = await pending
            pending = None
            if len(found) == size:
                last = found[-1]
                # Before the next batch's statement: where tests make it fail, or hold an
                # export open (tests/test_export.py).
                await faults.pause_point("export:between-batches")
                pending = asyncio.ensure_future(_entries(portal_id, flt, (last[1], last[0]), size))
            if found:
                yield await _cells(found, names)
    finally:
        if pending is not None:
            # The caller stopped early (the client left, or a write failed): the statement
            # read ahead is not wanted, nor is its failure news.
            pending.cancel()
            pending.add_done_callback(_retrieved)


def _retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


async def _entries(
    portal_id: int, flt: LogFilter | None, after: tuple[datetime, int] | None, size: int
) -> list[tuple[Any, ...]]:
    """(id, *_ENTRY_FIELDS, *_SCOPE_FIELDS, *_ALERT_FIELDS) of up to `size` entries past
    `after`, each value as the models would hold it; the side tables' columns are null where
    the entry has no such row. The query set is `portal_log`'s, so the filter is the one
    `appLog` applies; its statement is sent as written and its rows converted column by column,
    without models."""
    qs = portal_log(portal_id, flt)
    if after is not None:
        qs = qs.filter(NEWEST_LOG_FIRST.after_q(after))
    query = (
        qs.order_by(*NEWEST_LOG_FIRST.order_by)
        .limit(size)
        .values_list(
            "id",
            *_ENTRY_FIELDS,
            *(f"scope_change__{f}" for f in _SCOPE_FIELDS),
            *(f"logged_alert__{f}" for f in _ALERT_FIELDS),
        )
    )
    query._choose_db_if_not_chosen()
    query._make_query()
    sql, params = query.query.get_parameterized_sql()
    _count, found = await query._db.execute_query(sql, params)
    return list(map(_converter(), found))


def _converter() -> Callable[[Any], tuple[Any, ...]]:
    """Made once, on first use (the models' fields are known once Tortoise is up)."""
    global _CONVERT
    if _CONVERT is None:
        _CONVERT = rows.tuple_converter(
            [
                None,
                *rows.field_converters(m.AppLogEntry, _ENTRY_FIELDS),
                *rows.field_converters(m.LoggedScopeChange, _SCOPE_FIELDS),
                *rows.field_converters(m.LoggedAlert, _ALERT_FIELDS),
            ]
        )
    return _CONVERT


_CONVERT: Callable[[Any], tuple[Any, ...]] | None = None


class _Names:
    """Apps' names, and users' global ids, names and emails, by id, read for the keys a batch
    lacks."""

    def __init__(self) -> None:
        self.apps: dict[int, tuple[str, str]] = {}
        self.users: dict[int | None, tuple[str, str, str]] = {}

    async def read(self, app_ids: set[int], user_ids: set[int]) -> None:
        for kept in (self.apps, self.users):
            if len(kept) > _NAMES_KEPT:
                kept.clear()
        missing_apps = app_ids - self.apps.keys()
        for pk, name in await rows.values_in(m.ConnectedApp, "id", missing_apps, ["name"]):
            self.apps[pk] = (to_global_id("ConnectedApp", pk), name)
        missing_users = user_ids - self.users.keys()
        for pk, name, email in await rows.values_in(m.User, "id", missing_users, ["name", "email"]):
            self.users[pk] = (to_global_id("User", pk), name, email)


_ACTIVITY = {a: a.value for a in AppActivity}
_SEVERITY = {s: s.value for s in AlertSeverity}
_UTC_ONLY = {UTC}


def _times(values: list[datetime]) -> list[str]:
    """The API's DateTime text of each (Strawberry's `isoformat`): written by orjson for UTC
    instants, which gives the same text at a fifth of the cost (gateway/executor/leaves.py)."""
    if {v.tzinfo for v in values} <= _UTC_ONLY:
        written: list[str] = orjson.loads(orjson.dumps(values))
        return written
    return [v.isoformat() for v in values]


async def _cells(found: list[tuple[Any, ...]], names: _Names) -> list[Row]:
    await names.read({row[4] for row in found}, {row[5] for row in found if row[5] is not None})
    occurred = _times([row[1] for row in found])
    recorded = _times([row[2] for row in found])
    apps, users = names.apps, names.users
    no_user = (None, None, None)
    severities = _SEVERITY
    out: list[Row] = []
    append = out.append
    # Written out per row, without calls: a million rows pass here.
    for row, occurred_at, recorded_at in zip(found, occurred, recorded, strict=True):
        _pk, _o, _r, activity, app_id, user_id, added, removed, code, severity, message = row
        app = apps[app_id]
        user = users.get(user_id, no_user)
        append(
            (
                occurred_at,
                recorded_at,
                _ACTIVITY[activity],
                app[0],
                app[1],
                user[0],
                user[1],
                user[2],
                added,
                removed,
                code,
                None if severity is None else severities[severity],
                message,
            )
        )
    return out


# --- writing ----------------------------------------------------------------------------------


def neutralised(text: str) -> str:
    """A cell a spreadsheet program will show as text: one that would start a formula gets a
    `'` first (the cell's value is otherwise kept)."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def csv_field(text: str) -> str:
    """`text` as one RFC 4180 field: quoted, its quotes doubled, when it holds a comma, a quote
    or a line break (what `csv.writer` does by default), else as it is."""
    if _NEEDS_QUOTES.search(text):
        return '"' + text.replace('"', '""') + '"'
    return text


_NEEDS_QUOTES = re.compile(r'[,"\r\n]')
# Free-text values remembered by one export (see _Encoded), at most this many.
_FIELDS_KEPT = 10_000


class _Encoded(dict[str | None, str]):
    """Free-text values (names, emails, scopes, alert codes and messages) as a writer's text,
    `encode`d the first time they are met, and no value as `null`. Remembered, because an
    export names the same apps and people on most of its rows; bounded, because messages may
    all differ."""

    def __init__(self, encode: Callable[[str], str], null: str) -> None:
        super().__init__({None: null})
        self._encode = encode

    def __missing__(self, text: str | None) -> str:
        assert text is not None  # seeded
        value = self._encode(text)
        if len(self) < _FIELDS_KEPT:
            self[text] = value
        return value


def _csv_cell(text: str) -> str:
    return csv_field(neutralised(text))


def _json_value(text: str) -> str:
    return orjson.dumps(text).decode()


class CSVWriter:
    """RFC 4180: comma-separated, CRLF line ends, fields quoted when they need it, no value as
    an empty field: byte for byte what `csv.writer` writes of the `neutralised` cells
    (tests/test_export.py holds the two equal). Cells of free text go through `_Encoded`; the
    others (times, enum names, base64 ids) need no quotes and cannot start a formula. Written
    out per row rather than by `csv.writer`, which spent a third of an export's CPU looking at
    every character of cells it had seen a thousand times."""

    def __init__(self) -> None:
        self._fields = _Encoded(_csv_cell, "")

    def header(self) -> bytes:
        return (",".join(COLUMNS) + "\r\n").encode()

    def rows(self, cells: Iterable[Row]) -> bytes:
        f = self._fields
        return "".join(
            [
                f"{occurred_at},{recorded_at},{activity},{app_id},{f[app]},{user_id or ''},"
                f"{f[user]},{f[email]},{f[None if added is None else ' '.join(added)]},"
                f"{f[None if removed is None else ' '.join(removed)]},{f[code]},"
                f"{severity or ''},{f[message]}\r\n"
                for (
                    occurred_at,
                    recorded_at,
                    activity,
                    app_id,
                    app,
                    user_id,
                    user,
                    email,
                    added,
                    removed,
                    code,
                    severity,
                    message,
                ) in cells
            ]
        ).encode()


class NDJSONWriter:
    """One JSON object per line with `COLUMNS` as keys, lists as arrays, no value as null: byte
    for byte what `orjson.dumps` writes of each row's dict (tests/test_export.py holds the two
    equal), written out per row rather than through a dict per row. Times, enum names and
    base64 ids need no escaping; everything else goes through `_Encoded`, as orjson writes it."""

    def __init__(self) -> None:
        self._values = _Encoded(_json_value, "null")

    def header(self) -> bytes:
        return b""

    def rows(self, cells: Iterable[Row]) -> bytes:
        v, dumps = self._values, orjson.dumps
        return "".join(
            [
                f'{{"occurred_at":"{occurred_at}","recorded_at":"{recorded_at}",'
                f'"activity":"{activity}","app_id":"{app_id}","app_name":{v[app]},'
                f'"user_id":{v[user_id]},"user_name":{v[user]},"user_email":{v[email]},'
                f'"scopes_added":{"null" if added is None else dumps(added).decode()},'
                f'"scopes_removed":{"null" if removed is None else dumps(removed).decode()},'
                f'"alert_code":{v[code]},"alert_severity":{v[severity]},'
                f'"alert_message":{v[message]}}}\n'
                for (
                    occurred_at,
                    recorded_at,
                    activity,
                    app_id,
                    app,
                    user_id,
                    user,
                    email,
                    added,
                    removed,
                    code,
                    severity,
                    message,
                ) in cells
            ]
        ).encode()


def writer(fmt: Format) -> CSVWriter | NDJSONWriter:
    """A writer for one export in `fmt`: `header()` once, then `rows(batch)` per batch."""
    return CSVWriter() if fmt is Format.CSV else NDJSONWriter()


def ndjson_error(message: str, code: str, request_id: str) -> bytes:
    """The last line of an NDJSON export that failed after its first byte."""
    return (
        orjson.dumps({"error": {"message": message, "code": code, "requestId": request_id}}) + b"\n"
    )
