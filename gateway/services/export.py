"""The App log export's rows and cells (DESIGN §6 "Log export"): which entries, in which order,
read how, and what each column holds. The HTTP edge (gateway/export_http.py) only frames them.

Entries are the portal's log under `services.log`'s filter (the rule `appLog` applies, so an
export shows exactly what `appLog` shows the same viewer), newest `occurredAt` first, ties by
id. They are read in keyset batches as plain column tuples, never as models: a batch is one
statement for its entries and at most four more for the apps, users, scope changes and alert
reasons they name, whatever its size, and nothing of a batch is kept once it is written.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

import orjson

from gateway import models as m
from gateway import rows
from gateway.ids import global_ids
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


async def batches(
    portal_id: int, flt: LogFilter | None, size: int = BATCH_SIZE
) -> AsyncIterator[list[list[Cell]]]:
    """The matching entries' cells (one list per entry, in `COLUMNS` order), a batch of at
    most `size` entries at a time, newest first."""
    names = _Names()
    after: tuple[datetime, int] | None = None
    while True:
        found = await _entries(portal_id, flt, after, size)
        if not found:
            return
        yield await _cells(found, names)
        if len(found) < size:
            return
        last = found[-1]
        after = (last[1], last[0])
        # Between batches: where tests make the next batch fail (tests/test_export.py).
        await faults.pause_point("export:between-batches")


async def _entries(
    portal_id: int, flt: LogFilter | None, after: tuple[datetime, int] | None, size: int
) -> list[tuple[Any, ...]]:
    """(id, *_ENTRY_FIELDS) of up to `size` entries past `after`, as the model would hold
    them. The query set is `portal_log`'s, so the filter is the one `appLog` applies; its
    statement is sent as written and its rows converted column by column, without models."""
    qs = portal_log(portal_id, flt)
    if after is not None:
        qs = qs.filter(NEWEST_LOG_FIRST.after_q(after))
    query = qs.order_by(*NEWEST_LOG_FIRST.order_by).limit(size).values_list("id", *_ENTRY_FIELDS)
    query._choose_db_if_not_chosen()
    query._make_query()
    sql, params = query.query.get_parameterized_sql()
    _count, found = await query._db.execute_query(sql, params)
    return rows.converted(m.AppLogEntry, _ENTRY_FIELDS, list(found))


class _Names:
    """Apps' names and users' names and emails by id, read for the keys a batch lacks."""

    def __init__(self) -> None:
        self.apps: dict[int, str] = {}
        self.users: dict[int, tuple[str, str]] = {}

    async def read(self, app_ids: set[int], user_ids: set[int]) -> None:
        for kept in (self.apps, self.users):
            if len(kept) > _NAMES_KEPT:
                kept.clear()
        missing_apps = app_ids - self.apps.keys()
        for pk, name in await rows.values_in(m.ConnectedApp, "id", missing_apps, ["name"]):
            self.apps[pk] = name
        missing_users = user_ids - self.users.keys()
        for pk, name, email in await rows.values_in(m.User, "id", missing_users, ["name", "email"]):
            self.users[pk] = (name, email)


async def _cells(found: list[tuple[Any, ...]], names: _Names) -> list[list[Cell]]:
    entry_ids = [row[0] for row in found]
    await names.read({row[4] for row in found}, {row[5] for row in found if row[5] is not None})
    changes = {
        pk: (added, removed)
        for pk, added, removed in await rows.values_in(
            m.LoggedScopeChange, "entry_id", entry_ids, ["added", "removed"]
        )
    }
    reasons = {
        pk: (code, severity, message)
        for pk, code, severity, message in await rows.values_in(
            m.LoggedAlert, "entry_id", entry_ids, ["code", "severity", "message"]
        )
    }
    app_gids = global_ids("ConnectedApp", [row[4] for row in found])
    out: list[list[Cell]] = []
    for row, app_gid in zip(found, app_gids, strict=True):
        pk, occurred_at, recorded_at, activity, app_id, user_id = row
        user = names.users.get(user_id) if user_id is not None else None
        change = changes.get(pk)
        reason = reasons.get(pk)
        out.append(
            [
                occurred_at.isoformat(),  # as the API's DateTime (Strawberry's `isoformat`)
                recorded_at.isoformat(),
                activity.value,
                app_gid,
                names.apps.get(app_id),
                global_ids("User", (user_id,))[0] if user is not None else None,
                user[0] if user is not None else None,
                user[1] if user is not None else None,
                list(change[0]) if change is not None else None,
                list(change[1]) if change is not None else None,
                reason[0] if reason is not None else None,
                reason[1].value if reason is not None else None,
                reason[2] if reason is not None else None,
            ]
        )
    return out


# --- writing ----------------------------------------------------------------------------------


def neutralised(text: str) -> str:
    """A cell a spreadsheet program will show as text: one that would start a formula gets a
    `'` first (the cell's value is otherwise kept)."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _csv_cell(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, list):
        cell = " ".join(cell)
    return neutralised(cell)


class CSVWriter:
    """RFC 4180: comma-separated, CRLF line ends, fields quoted when they need it."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")

    def header(self) -> bytes:
        return self.rows([list(COLUMNS)])

    def rows(self, cells: Iterable[Sequence[Cell]]) -> bytes:
        self._writer.writerows([_csv_cell(c) for c in row] for row in cells)
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text.encode()


def ndjson_rows(cells: Iterable[Sequence[Cell]]) -> bytes:
    """One JSON object per line with `COLUMNS` as keys: lists as arrays, no value as null."""
    return b"".join(orjson.dumps(dict(zip(COLUMNS, row, strict=True))) + b"\n" for row in cells)


def ndjson_error(message: str, code: str, request_id: str) -> bytes:
    """The last line of an NDJSON export that failed after its first byte."""
    return (
        orjson.dumps({"error": {"message": message, "code": code, "requestId": request_id}}) + b"\n"
    )
