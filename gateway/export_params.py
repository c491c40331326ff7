"""The query parameters of `GET /export/app-log`, both ways: read from a request (each problem
a BAD_USER_INPUT naming its parameter) and written for a signed link (`createAppLogExport`);
and the export's canonical form, which a signed link binds.

Parameters: `format` (`csv`, the default, or `ndjson`), the `AppLogFilter` fields `activities`,
`appIds`, `userIds` (each repeated, comma-separated, or both), `since` and `until` (ISO 8601
with a time zone; since inclusive, until exclusive), `bom` (`1`/`true` or `0`/`false`) and, for
a signed link, `token`. Anything else is refused, so a misspelt filter does not silently export
everything.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from urllib.parse import urlencode

import orjson

from gateway.export_links import TOKEN_PARAMETER
from gateway.ids import decode_id, to_global_id
from gateway.models.enums import AppActivity
from gateway.services.export import Format
from gateway.services.log import LogFilter

PATH = "/export/app-log"
_LISTS = {"activities", "appIds", "userIds"}
_SINGLE = {"format", "since", "until", "bom", TOKEN_PARAMETER}
_TRUE, _FALSE = {"1", "true"}, {"0", "false"}


class BadParameter(Exception):
    """A parameter the export cannot use: 400 BAD_USER_INPUT with `argument` = its name."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


def parse(items: Iterable[tuple[str, str]]) -> tuple[Format, LogFilter, bool, str | None]:
    """The export's format, filter, byte order mark and signed-link token from the query's
    (name, value) pairs, in order; the first problem raises BadParameter."""
    lists: dict[str, list[str]] = {}
    single: dict[str, str] = {}
    for name, value in items:
        if name in _LISTS:
            lists.setdefault(name, []).extend(v.strip() for v in value.split(",") if v.strip())
        elif name in _SINGLE:
            if name in single:
                raise BadParameter(name, f"`{name}` may be given once")
            single[name] = value
        else:
            raise BadParameter(name[:100], f"Unknown parameter `{name[:100]}`")
    for name, values in lists.items():
        if not values:
            raise BadParameter(name, f"`{name}` names nothing")
    fmt = _format(single.get("format", "csv"))
    flt = LogFilter(
        activities=_activities(lists.get("activities")),
        app_ids=_ids(lists.get("appIds"), "ConnectedApp", "appIds"),
        user_ids=_ids(lists.get("userIds"), "User", "userIds"),
        since=_instant(single.get("since"), "since"),
        until=_instant(single.get("until"), "until"),
    )
    return fmt, flt, _flag(single.get("bom"), "bom"), single.get(TOKEN_PARAMETER)


def _format(value: str) -> Format:
    try:
        return Format(value.lower())
    except ValueError:
        raise BadParameter("format", "`format` must be csv or ndjson") from None


def _activities(values: list[str] | None) -> frozenset[AppActivity] | None:
    if values is None:
        return None
    found = set()
    for value in values:
        try:
            found.add(AppActivity[value])
        except KeyError:
            raise BadParameter(
                "activities", f"`activities`: {value[:100]!r} is not an AppActivity"
            ) from None
    return frozenset(found)


def _ids(values: list[str] | None, type_name: str, parameter: str) -> frozenset[int] | None:
    """Keys of well-formed ids, as `appLog`'s filter takes them: one that does not exist or is
    another portal's matches nothing, revealing nothing."""
    if values is None:
        return None
    found = set()
    for i, value in enumerate(values):
        pk = decode_id(value, type_name)
        if pk is None:
            raise BadParameter(parameter, f"`{parameter}[{i}]` is not a {type_name} id")
        found.add(pk)
    return frozenset(found)


def _instant(value: str | None, parameter: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        # An offset's `+` left unencoded in a query string arrives as a space.
        try:
            parsed = datetime.fromisoformat(value.replace(" ", "+"))
        except ValueError:
            raise BadParameter(parameter, f"`{parameter}` is not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        raise BadParameter(
            parameter, f"`{parameter}` needs a time zone (ISO 8601 with Z or an offset)"
        )
    return parsed


def _flag(value: str | None, parameter: str) -> bool:
    if value is None or value.lower() in _FALSE:
        return False
    if value.lower() in _TRUE:
        return True
    raise BadParameter(parameter, f"`{parameter}` must be 1 or 0")


def canonical(fmt: Format, flt: LogFilter | None, bom: bool) -> str:
    """One text per export, however its parameters were spelt or ordered: what a signed link
    binds."""
    flt = flt or LogFilter()

    def keys(values: frozenset[int] | None) -> list[int] | None:
        return None if values is None else sorted(values)

    return orjson.dumps(
        [
            fmt.value,
            bom,
            None if flt.activities is None else sorted(a.value for a in flt.activities),
            keys(flt.app_ids),
            keys(flt.user_ids),
            None if flt.since is None else flt.since.isoformat(),
            None if flt.until is None else flt.until.isoformat(),
        ]
    ).decode()


def url(fmt: Format, flt: LogFilter | None, bom: bool, token: str) -> str:
    """The path and query of a signed link (relative to the API's origin)."""
    flt = flt or LogFilter()
    query: list[tuple[str, str]] = [("format", fmt.value)]
    if flt.activities is not None:
        query.append(("activities", ",".join(sorted(a.value for a in flt.activities))))
    if flt.app_ids is not None:
        query.append(
            ("appIds", ",".join(to_global_id("ConnectedApp", k) for k in sorted(flt.app_ids)))
        )
    if flt.user_ids is not None:
        query.append(("userIds", ",".join(to_global_id("User", k) for k in sorted(flt.user_ids))))
    if flt.since is not None:
        query.append(("since", flt.since.isoformat()))
    if flt.until is not None:
        query.append(("until", flt.until.isoformat()))
    if bom:
        query.append(("bom", "1"))
    query.append((TOKEN_PARAMETER, token))
    return f"{PATH}?{urlencode(query)}"
