"""`createAppLogExport`: a one-time signed link to the App log export of `appLog`'s filter
(gateway/export_links.py signs it; `GET /export/app-log` serves it)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from gateway import export_links, export_params
from gateway.context import Info
from gateway.ids import decode_id
from gateway.models.enums import AppActivity
from gateway.resolvers.inputs import enum_set
from gateway.services.export import Format
from gateway.services.log import LogFilter
from gateway.services.problems import Problem, invalid


def _keys(
    problems: list[Problem], ids: Sequence[str] | None, type_name: str, field: str
) -> frozenset[int] | None:
    """The keys of a filter's ids; each undecodable one is an INVALID userError on its index
    (as in every mutation input). An empty list would export nothing: INVALID too."""
    if ids is None:
        return None
    keys = set()
    for i, global_id in enumerate(ids):
        pk = decode_id(global_id, type_name)
        if pk is None:
            problems.append(
                invalid(f"Not a valid {type_name} id", "input", "filter", field, str(i))
            )
        else:
            keys.add(pk)
    if not ids:
        problems.append(
            invalid("Names nothing: leave it out to export every entry", "input", "filter", field)
        )
    return frozenset(keys)


def _instant(problems: list[Problem], value: datetime | None, field: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        problems.append(
            invalid("Needs a time zone (ISO 8601 with Z or an offset)", "input", "filter", field)
        )
    return value


def export_filter(problems: list[Problem], flt: Any) -> LogFilter | None:
    """The input's AppLogFilter as the log's filter, its problems added to `problems`."""
    if flt is None:
        return None
    activities: list[AppActivity] | None = flt.activities
    if activities is not None and not activities:
        problems.append(
            invalid(
                "Names nothing: leave it out to export every entry", "input", "filter", "activities"
            )
        )
    return LogFilter(
        activities=enum_set(activities),
        app_ids=_keys(problems, flt.app_ids, "ConnectedApp", "appIds"),
        user_ids=_keys(problems, flt.user_ids, "User", "userIds"),
        since=_instant(problems, flt.since, "since"),
        until=_instant(problems, flt.until, "until"),
    )


def create_app_log_export(
    info: Info, fmt: Format, flt: Any, bom: bool | None
) -> tuple[tuple[str, datetime] | None, list[Problem]]:
    """The link's path and query, and when it expires; or why not. Anyone who may read the
    portal's log may export it."""
    problems: list[Problem] = []
    log_filter = export_filter(problems, flt)
    if problems:
        return None, problems
    ctx = info.context
    with_bom = bool(bom)
    token, expires_at = export_links.sign(
        ctx.settings,
        ctx.viewer.id,
        ctx.portal.id,
        export_params.canonical(fmt, log_filter, with_bom),
    )
    return (export_params.url(fmt, log_filter, with_bom, token), expires_at), []
