"""The sort key of named rows: lists order by it, then by id (DESIGN: "by lower-cased name").

Stored in each table's `sort_name` column, compared byte by byte on PostgreSQL too (migration
0002), so SQLite and PostgreSQL order the same names the same way."""

from __future__ import annotations


def sort_key(name: str) -> str:
    return name.lower()
