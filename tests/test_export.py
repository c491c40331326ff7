"""The App log export (DESIGN §6 "Log export"), through real HTTP: `GET /export/app-log` served
by uvicorn, compared row by row with `Portal.appLog` for the same filter and viewer; errors
before the first byte; the signed links of `createAppLogExport`; the caps and the cost; a
failure mid-stream; and the statements a batch costs."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
from collections.abc import AsyncIterator
from datetime import timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import orjson
import pytest
import pytest_asyncio
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st
from tortoise import connections

from gateway import clock
from gateway import models as m
from gateway.ids import decode_id, to_global_id
from gateway.models.enums import AlertSeverity, AppActivity
from gateway.services import export, faults
from gateway.services.export import COLUMNS, neutralised
from gateway.services.log import LogFilter
from tests.factories import T0, Tenant, make_tenant
from tests.helpers import count_statements, data, until
from tests.live_support import uvicorn_serving

pytestmark = pytest.mark.one_executor

# More than two batches of the export's 1,000, so every export here spans batches.
ENTRIES = 2_300
ACTIVITIES = [
    AppActivity.INSTALLED,
    AppActivity.DISCONNECTED,
    AppActivity.RECONNECTED,
    AppActivity.REAUTHORIZED,
    AppActivity.ERROR_RAISED,
    AppActivity.ERROR_RESOLVED,
    AppActivity.SCOPES_CHANGED,
]
# Names a spreadsheet program would take for formulas, and one CSV must quote.
APP_NAMES = ["=SUM(1+1)", "+Plus", "-Minus", "@At", "\tTab", "\rReturn", 'Plain, "quoted"\nApp']

LOG_PAGE = """
query Log($first: Int, $after: String, $filter: AppLogFilter) {
  viewer { portal { appLog(first: $first, after: $after, filter: $filter) {
    pageInfo { hasNextPage endCursor }
    nodes { id occurredAt activity app { id name } user { id name email }
            scopeChanges { added removed } alertReason { code severity message } }
  } } }
}"""

CREATE = """
mutation Create($input: CreateAppLogExportInput!) {
  createAppLogExport(input: $input) { url expiresAt userErrors { field message code } }
}"""


async def _seed(settings: Any) -> tuple[Tenant, Tenant]:
    acme = await make_tenant(
        settings,
        people={"Ada Admin": "admin", "=Eve Member": "member", "-Max Manager": "manager"},
        apps=APP_NAMES,
    )
    apps = list(acme.apps.values())
    people = [*acme.people.values(), None]
    alerts = [
        await m.AppAlert.create(
            app=app,
            severity=AlertSeverity.WARNING,
            code="@code",
            message="=HYPERLINK()",
            raised_at=T0,
            changed_at=T0,
        )
        for app in apps
    ]
    entries = []
    for i in range(ENTRIES):
        # Pairs share an instant: ties are ordered by id.
        at = T0 + timedelta(minutes=i // 2, microseconds=(i % 5) * 1000 if i % 3 else 0)
        entries.append(
            m.AppLogEntry(
                portal_id=acme.portal.id,
                app=apps[(i + i // len(ACTIVITIES)) % len(apps)],
                user=people[i % len(people)],
                activity=ACTIVITIES[i % len(ACTIVITIES)],
                occurred_at=at,
                recorded_at=at + timedelta(seconds=30 + i % 7),
            )
        )
    await m.AppLogEntry.bulk_create(entries, batch_size=500)
    made = (
        await m.AppLogEntry.filter(portal_id=acme.portal.id)
        .order_by("id")
        .values_list("id", "activity", "app_id")
    )
    changes, reasons = [], []
    by_app = {a.app_id: a for a in alerts}
    for pk, activity, app_id in made:
        if activity in (AppActivity.REAUTHORIZED, AppActivity.SCOPES_CHANGED) and pk % 2:
            changes.append(
                m.LoggedScopeChange(entry_id=pk, added=["contacts.read", "+x"], removed=[])
            )
        elif activity is AppActivity.ERROR_RAISED:
            reasons.append(
                m.LoggedAlert(
                    entry_id=pk,
                    alert=by_app[app_id],
                    severity=AlertSeverity.WARNING,
                    code="@code",
                    message=f"=HYPERLINK() {pk}",
                )
            )
    await m.LoggedScopeChange.bulk_create(changes, batch_size=500)
    await m.LoggedAlert.bulk_create(reasons, batch_size=500)
    globex = await make_tenant(settings, people={"Gus Globex": "admin"}, apps=["Globex app"])
    return acme, globex


@pytest_asyncio.fixture(scope="module")
async def world(app: Any, settings: Any) -> tuple[Tenant, Tenant]:
    return await _seed(settings)


@pytest_asyncio.fixture
async def base(app: Any) -> AsyncIterator[str]:
    async with uvicorn_serving(app) as url:
        yield url


@pytest_asyncio.fixture
async def http(base: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        yield client


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _app_log(http: httpx.AsyncClient, token: str, flt: dict | None) -> list[dict]:
    """Every entry `appLog` shows the viewer for `flt`, page by page."""
    nodes: list[dict] = []
    after = None
    while True:
        page = (
            await data(http, LOG_PAGE, {"first": 100, "after": after, "filter": flt}, token=token)
        )["viewer"]["portal"]["appLog"]
        nodes += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


async def _expected(nodes: list[dict]) -> list[dict[str, Any]]:
    """The export's rows for these `appLog` nodes: `recorded_at` is the entry's recorded time
    (the API does not show it), read from the database."""
    pks = [decode_id(n["id"], "AppLogEntry") for n in nodes]
    recorded = dict(await m.AppLogEntry.filter(id__in=pks).values_list("id", "recorded_at"))
    rows = []
    for pk, n in zip(pks, nodes, strict=True):
        user, change, reason = n["user"], n["scopeChanges"], n["alertReason"]
        rows.append(
            {
                "occurred_at": n["occurredAt"],
                "recorded_at": recorded[pk].isoformat(),
                "activity": n["activity"],
                "app_id": n["app"]["id"],
                "app_name": n["app"]["name"],
                "user_id": user and user["id"],
                "user_name": user and user["name"],
                "user_email": user and user["email"],
                "scopes_added": change and change["added"],
                "scopes_removed": change and change["removed"],
                "alert_code": reason and reason["code"],
                "alert_severity": reason and reason["severity"],
                "alert_message": reason and reason["message"],
            }
        )
    return rows


def _as_csv(row: dict[str, Any]) -> list[str]:
    cells = []
    for column in COLUMNS:
        value = row[column]
        if value is None:
            cells.append("")
        else:
            cells.append(neutralised(" ".join(value) if isinstance(value, list) else value))
    return cells


def _csv_rows(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))


def _ndjson_rows(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in body.decode().splitlines()]


def _query(flt: dict | None, **extra: str) -> list[tuple[str, str]]:
    """`flt` (appLog's filter) as the export's parameters: lists comma-separated."""
    params: list[tuple[str, str]] = list(extra.items())
    for name, value in (flt or {}).items():
        params.append((name, ",".join(value) if isinstance(value, list) else value))
    return params


def _filters(acme: Tenant) -> list[dict | None]:
    apps, people = acme.apps, acme.people
    return [
        None,
        {"activities": ["REAUTHORIZED", "SCOPES_CHANGED"]},
        {"activities": ["ERROR_RAISED"], "appIds": [acme.app_gid("=SUM(1+1)")]},
        {"appIds": [to_global_id("ConnectedApp", apps[n].id) for n in ("+Plus", "@At")]},
        {"userIds": [to_global_id("User", people["=Eve Member"].id)]},
        {
            "since": (T0 + timedelta(minutes=100)).isoformat(),
            "until": (T0 + timedelta(minutes=400, microseconds=2000)).isoformat(),
        },
        {"activities": []},
    ]


async def test_csv_rows_are_app_log_s_for_each_filter(http, world) -> None:
    """Row by row what `appLog` shows for the same filter, parsed back by Python's csv module,
    with the header first; for the super admin and for a member without permissions."""
    acme, _globex = world
    for who in ("Ada Admin", "=Eve Member"):
        token = acme.token(who)
        for flt in _filters(acme):
            if flt == {"activities": []}:
                continue  # the export refuses an empty list (below); appLog shows nothing
            response = await http.get(
                "/export/app-log", params=_query(flt, format="csv"), headers=_bearer(token)
            )
            assert response.status_code == 200, response.text
            assert response.headers["content-type"] == "text/csv; charset=utf-8"
            rows = _csv_rows(response.content)
            assert rows[0] == list(COLUMNS)
            expected = [_as_csv(r) for r in await _expected(await _app_log(http, token, flt))]
            assert rows[1:] == expected, flt
            assert len(expected) > 0, flt
    everything = _csv_rows(
        (await http.get("/export/app-log", headers=_bearer(acme.token("Ada Admin")))).content
    )
    assert len(everything) == 1 + ENTRIES + len(acme.apps)  # and each app's INSTALLED entry


async def test_ids_repeated_or_comma_separated_are_one_filter(http, world) -> None:
    acme, _ = world
    a, b = acme.app_gid("+Plus"), acme.app_gid("@At")
    token = acme.token("Ada Admin")
    bodies = set()
    for params in (
        [("appIds", f"{a},{b}")],
        [("appIds", a), ("appIds", b)],
        [("appIds", b), ("appIds", f" {a} ,")],
    ):
        response = await http.get(
            "/export/app-log", params=[("format", "ndjson"), *params], headers=_bearer(token)
        )
        assert response.status_code == 200
        bodies.add(response.content)
    assert len(bodies) == 1
    rows = _ndjson_rows(bodies.pop())
    assert {r["app_id"] for r in rows} == {a, b}
    assert rows == await _expected(await _app_log(http, token, {"appIds": [a, b]}))


async def test_ndjson_lists_as_arrays_and_nulls(http, world) -> None:
    acme, _ = world
    token = acme.token("Ada Admin")
    flt = {"activities": ["REAUTHORIZED", "SCOPES_CHANGED", "ERROR_RAISED", "INSTALLED"]}
    response = await http.get(
        "/export/app-log", params=_query(flt, format="ndjson"), headers=_bearer(token)
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    rows = _ndjson_rows(response.content)
    assert rows == await _expected(await _app_log(http, token, flt))
    assert all(list(r) == list(COLUMNS) for r in rows)
    with_changes = [r for r in rows if r["scopes_added"] is not None]
    assert with_changes and with_changes[0]["scopes_added"] == ["contacts.read", "+x"]
    assert with_changes[0]["scopes_removed"] == []
    assert any(r["user_id"] is None and r["user_name"] is None for r in rows)
    assert any(r["alert_code"] == "@code" for r in rows)
    # NDJSON is data: nothing is prefixed.
    assert {r["app_name"] for r in rows} == set(APP_NAMES)


async def test_formula_cells_are_neutralised_and_quoting_holds(http, world) -> None:
    acme, _ = world
    response = await http.get(
        "/export/app-log",
        params={
            "activities": "ERROR_RAISED",
            "userIds": to_global_id("User", acme.people["=Eve Member"].id),
        },
        headers=_bearer(acme.token("Ada Admin")),
    )
    rows = _csv_rows(response.content)[1:]
    by_column = {c: {row[i] for row in rows} for i, c in enumerate(COLUMNS)}
    assert by_column["app_name"] == {
        "'=SUM(1+1)",
        "'+Plus",
        "'-Minus",
        "'@At",
        "'\tTab",
        "'\rReturn",
        'Plain, "quoted"\nApp',
    }
    assert by_column["user_name"] == {"'=Eve Member"}
    assert by_column["user_email"] == {f"'=eve.member@{acme.portal.id}.test"}
    assert by_column["alert_code"] == {"'@code"}
    assert all(v.startswith("'=HYPERLINK() ") for v in by_column["alert_message"])
    assert by_column["scopes_added"] <= {"", "contacts.read +x"}


def _reference_csv(rows: list[export.Row]) -> bytes:
    """What `csv.writer` writes of the rows, their free-text cells neutralised and lists
    space-separated: the CSV an export must give, byte for byte."""
    free = {"app_name", "user_name", "user_email", "alert_code", "alert_message"}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        cells: list[str | None] = []
        for column, cell in zip(COLUMNS, row, strict=True):
            if isinstance(cell, list):
                cell = neutralised(" ".join(cell))
            elif column in free and cell is not None:
                cell = neutralised(cell)
            cells.append(cell)
        writer.writerow(cells)
    return out.getvalue().encode()


# Free text as it may come: commas, quotes, line breaks, formula starts, any script, empty
# (no lone surrogates: no database hands those back).
_TEXT = st.text(
    st.sampled_from(list(",\"\r\n\t =+-@'aZ9é漢 ")) | st.characters(codec="utf-8"),
    max_size=12,
)
_ROW = st.tuples(
    st.just("2026-06-01T09:00:00+00:00"),
    st.just("2026-06-01T09:00:00.250000+00:00"),
    st.sampled_from([a.value for a in AppActivity]),
    st.just(to_global_id("ConnectedApp", 7)),
    _TEXT,
    st.one_of(st.none(), st.just(to_global_id("User", 3))),
    st.one_of(st.none(), _TEXT),
    st.one_of(st.none(), _TEXT),
    st.one_of(st.none(), st.lists(_TEXT, max_size=3)),
    st.one_of(st.none(), st.lists(_TEXT, max_size=3)),
    st.one_of(st.none(), _TEXT),
    st.one_of(st.none(), st.sampled_from([s.value for s in AlertSeverity])),
    st.one_of(st.none(), _TEXT),
)


@examples(max_examples=300, derandomize=True, deadline=None)
@given(batches=st.lists(st.lists(_ROW, max_size=6), min_size=1, max_size=3))
def test_the_csv_writer_writes_what_csv_writer_writes(batches: list[list[export.Row]]) -> None:
    """The export's own CSV writer (gateway/services/export.py) against the csv module's, over
    batches of one export (it remembers fields from one batch to the next)."""
    writer = export.CSVWriter()
    written = writer.header() + b"".join(writer.rows(batch) for batch in batches)
    assert written == _reference_csv([row for batch in batches for row in batch])


@examples(max_examples=300, derandomize=True, deadline=None)
@given(batches=st.lists(st.lists(_ROW, max_size=6), min_size=1, max_size=3))
def test_the_ndjson_writer_writes_what_orjson_writes(batches: list[list[export.Row]]) -> None:
    """The export's own NDJSON lines against orjson's dump of each row's dict, over batches of
    one export."""
    writer = export.NDJSONWriter()
    written = writer.header() + b"".join(writer.rows(batch) for batch in batches)
    expected = b"".join(
        orjson.dumps(dict(zip(COLUMNS, row, strict=True))) + b"\n"
        for batch in batches
        for row in batch
    )
    assert written == expected


async def test_bom_starts_the_file_when_asked(http, world) -> None:
    acme, _ = world
    token = acme.token("Ada Admin")
    params = {"activities": "INSTALLED"}
    plain = await http.get("/export/app-log", params=params, headers=_bearer(token))
    marked = await http.get(
        "/export/app-log", params={**params, "bom": "1"}, headers=_bearer(token)
    )
    assert not plain.content.startswith(b"\xef\xbb\xbf")
    assert marked.content == b"\xef\xbb\xbf" + plain.content


async def test_the_file_name_follows_the_portal_s_name(http, settings, monkeypatch) -> None:
    monkeypatch.setattr(clock, "utc_now", lambda: T0 + timedelta(days=3, hours=23))
    for name, ascii_slug, full in (
        ("Initech Corp", "initech-corp", "initech-corp"),
        ("Café Nord & Co. 2", "cafe-nord-co-2", "caf%C3%A9-nord-co-2"),
        ("東京 Ltd", "ltd", "%E6%9D%B1%E4%BA%AC-ltd"),
        ("東京", "portal", "%E6%9D%B1%E4%BA%AC"),
        ("!!!", "portal", "portal"),
    ):
        tenant = await make_tenant(settings, people={"Ann": "admin"})
        await m.Portal.filter(id=tenant.portal.id).update(name=name)
        response = await http.get(
            "/export/app-log", params={"format": "ndjson"}, headers=_bearer(tenant.token("Ann"))
        )
        assert response.status_code == 200
        assert response.content == b""  # no entries, no lines
        assert response.headers["content-disposition"] == (
            f'attachment; filename="app-log-{ascii_slug}-2026-06-05.ndjson"; '
            f"filename*=UTF-8''app-log-{full}-2026-06-05.ndjson"
        ), name


async def test_an_offset_s_plus_sent_unencoded_still_counts(http, world) -> None:
    """`since=…+02:00` typed into a URL arrives with a space for its `+`."""
    acme, _ = world
    headers = _bearer(acme.token("Ada Admin"))
    since = (T0 + timedelta(minutes=100)).astimezone(timezone(timedelta(hours=2)))
    encoded = await http.get(
        "/export/app-log", params={"since": since.isoformat()}, headers=headers
    )
    typed = await http.get(f"/export/app-log?since={since.isoformat()}", headers=headers)
    assert encoded.status_code == typed.status_code == 200
    assert typed.content == encoded.content
    assert len(_csv_rows(typed.content)) < ENTRIES


async def test_another_portal_sees_only_its_own(http, world) -> None:
    """Globex's admin exports Globex's log, and naming Acme's apps or users matches nothing,
    as in appLog."""
    acme, globex = world
    token = globex.token("Gus Globex")
    rows = _ndjson_rows(
        (await http.get("/export/app-log?format=ndjson", headers=_bearer(token))).content
    )
    assert [r["app_name"] for r in rows] == ["Globex app"]
    for flt in (
        {"appIds": [acme.app_gid("+Plus")]},
        {"userIds": [to_global_id("User", acme.people["Ada Admin"].id)]},
    ):
        response = await http.get(
            "/export/app-log", params=_query(flt, format="ndjson"), headers=_bearer(token)
        )
        assert response.status_code == 200 and response.content == b""
        assert await _app_log(http, token, flt) == []


# --- errors before the first byte ---------------------------------------------------------


def _error(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"] == "application/json"
    assert "content-disposition" not in response.headers
    (error,) = response.json()["errors"]
    return error


async def test_without_a_valid_token_401(http, world) -> None:
    for headers in ({}, {"Authorization": "Bearer nonsense"}):
        response = await http.get("/export/app-log", headers=headers)
        assert response.status_code == 401
        assert _error(response)["extensions"]["code"] == "UNAUTHENTICATED"
        assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "params, argument",
    [
        ({"format": "xlsx"}, "format"),
        ({"activities": "INSTALLED,EXPLODED"}, "activities"),
        ({"activities": ","}, "activities"),
        ({"appIds": "not-an-id"}, "appIds"),
        ({"appIds": to_global_id("User", 1)}, "appIds"),
        ({"userIds": "bm9wZQ=="}, "userIds"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-11-01T00:00:00"}, "until"),
        ({"bom": "yes"}, "bom"),
        ({"appId": "QXBwOjE="}, "appId"),
        ([("format", "csv"), ("format", "ndjson")], "format"),
    ],
)
async def test_a_bad_parameter_is_400_naming_it(http, world, params, argument) -> None:
    acme, _ = world
    response = await http.get(
        "/export/app-log", params=params, headers=_bearer(acme.token("Ada Admin"))
    )
    assert response.status_code == 400
    error = _error(response)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": argument}
    assert f"`{argument}" in error["message"]


# --- signed links -------------------------------------------------------------------------


async def _link(http: httpx.AsyncClient, token: str, input_: dict[str, Any]) -> dict[str, Any]:
    made = (await data(http, CREATE, {"input": input_}, token=token))["createAppLogExport"]
    assert made["userErrors"] == []
    return made


async def test_a_signed_link_downloads_the_filtered_log_once(http, world, monkeypatch) -> None:
    acme, _ = world
    token = acme.token("=Eve Member")
    flt = {"activities": ["REAUTHORIZED"], "appIds": [acme.app_gid("-Minus"), acme.app_gid("@At")]}
    now = T0 + timedelta(days=500)
    monkeypatch.setattr(clock, "utc_now", lambda: now)
    made = await _link(http, token, {"format": "CSV", "filter": flt, "bom": True})
    assert made["expiresAt"] == (now + timedelta(seconds=60)).isoformat()
    assert made["url"].startswith("/export/app-log?")
    response = await http.get(made["url"])  # no bearer token: the link is the credential
    assert response.status_code == 200, response.text
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = _csv_rows(response.content[3:])
    assert rows[1:] == [_as_csv(r) for r in await _expected(await _app_log(http, token, flt))]
    assert len(rows) > 1
    again = await http.get(made["url"])
    assert again.status_code == 401
    assert _error(again)["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_signed_link_expires_after_60_seconds(http, world, monkeypatch) -> None:
    acme, _ = world
    now = [T0 + timedelta(days=600)]
    monkeypatch.setattr(clock, "utc_now", lambda: now[0])
    made = await _link(http, acme.token("Ada Admin"), {"format": "NDJSON"})
    now[0] += timedelta(seconds=60)
    response = await http.get(made["url"])
    assert response.status_code == 401
    now[0] -= timedelta(seconds=1)  # 59 s after it was made: the same link, unused, works
    assert (await http.get(made["url"])).status_code == 200


async def test_a_tampered_link_is_refused(http, world) -> None:
    acme, globex = world
    made = await _link(
        http,
        acme.token("=Eve Member"),
        {"format": "CSV", "filter": {"activities": ["INSTALLED"]}},
    )
    path, _, query = made["url"].partition("?")
    params = dict(parse_qsl(query))
    other_link = await _link(http, globex.token("Gus Globex"), {"format": "CSV"})
    other_token = dict(parse_qsl(urlsplit(other_link["url"]).query))["token"]
    body, _, signature = params["token"].partition(".")
    for changed in (
        {**params, "format": "ndjson"},
        {**params, "activities": "INSTALLED,UNINSTALLED"},
        {k: v for k, v in params.items() if k != "activities"},
        {**params, "bom": "1"},
        {**params, "appIds": acme.app_gid("+Plus")},
        {**params, "token": other_token},  # Globex's link on Acme's filter
        {**params, "token": body[:-2] + "AA." + signature},
        {**params, "token": body},
    ):
        response = await http.get(f"{path}?{urlencode(changed)}")
        assert response.status_code == 401, changed
        assert _error(response)["extensions"]["code"] == "UNAUTHENTICATED"
    # Spelt otherwise (order, repetition), the same export: the link still works, once.
    reordered = [("token", params["token"]), ("activities", "INSTALLED"), ("format", "csv")]
    assert (await http.get(f"{path}?{urlencode(reordered)}")).status_code == 200
    assert (await http.get(made["url"])).status_code == 401


async def test_a_link_of_someone_removed_from_the_portal_is_refused(http, settings) -> None:
    tenant = await make_tenant(settings, people={"Ann": "admin", "Bo": "member"})
    made = await _link(http, tenant.token("Bo"), {"format": "CSV"})
    await m.User.filter(id=tenant.people["Bo"].id).delete()
    assert (await http.get(made["url"])).status_code == 401


async def test_create_app_log_export_refuses_bad_filters(http, world) -> None:
    acme, _ = world
    made = (
        await data(
            http,
            CREATE,
            {
                "input": {
                    "format": "CSV",
                    "filter": {
                        "appIds": [acme.app_gid("+Plus"), "nope"],
                        "userIds": [],
                        "since": "2026-01-01T00:00:00",
                    },
                }
            },
            token=acme.token("Ada Admin"),
        )
    )["createAppLogExport"]
    assert made["url"] is None and made["expiresAt"] is None
    assert [(e["field"], e["code"]) for e in made["userErrors"]] == [
        (["input", "filter", "appIds", "1"], "INVALID"),
        (["input", "filter", "userIds"], "INVALID"),
        (["input", "filter", "since"], "INVALID"),
    ]


async def test_links_never_reach_the_logs(http, world, caplog) -> None:
    """Neither the mutation's answer nor the download's query string is logged, by the gateway
    or by uvicorn's access log (which the tests' server keeps on)."""
    acme, _ = world
    caplog.set_level(logging.DEBUG)
    made = await _link(http, acme.token("Ada Admin"), {"format": "CSV"})
    secret = dict(parse_qsl(urlsplit(made["url"]).query))["token"]
    assert (await http.get(made["url"])).status_code == 200
    assert (await http.get(made["url"])).status_code == 401
    access = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert any("/export/app-log?format=csv&token=[redacted]" in line for line in access), access
    for record in caplog.records:
        if record.name.startswith(("httpx", "httpcore")):
            continue  # the test's own client
        text = record.getMessage() + repr(vars(record))
        assert secret not in text and secret.partition(".")[2] not in text, record.name


# --- caps, cost and failures ----------------------------------------------------------------


class _Held:
    """Exports held before their second batch's statement (their first batch written out)
    until released: each request is served in a task of its own."""

    def __init__(self) -> None:
        self.arrived = 0
        self.release = asyncio.Event()
        self._calls: dict[asyncio.Task[Any] | None, int] = {}

    async def __call__(self) -> None:
        task = asyncio.current_task()
        self._calls[task] = self._calls.get(task, 0) + 1
        if self._calls[task] == 2:
            self.arrived += 1
            await self.release.wait()


async def _open(http: httpx.AsyncClient, token: str) -> tuple[Any, httpx.Response]:
    stream = http.stream("GET", "/export/app-log", headers=_bearer(token))
    response = await stream.__aenter__()
    assert response.status_code == 200
    return stream, response


async def test_at_most_two_exports_per_viewer_and_four_per_process(http, world, settings) -> None:
    acme, _ = world
    tenant = await make_tenant(settings, people={"Ann": "admin", "Bo": "member", "Cy": "member"})
    held = _Held()
    ada = acme.token("Ada Admin")
    with faults.hooked("export:between-batches", held):
        opened = [await _open(http, ada), await _open(http, ada)]
        await until(lambda: held.arrived == 2, what="two exports held")
        third = await http.get("/export/app-log", headers=_bearer(ada))
        assert third.status_code == 429
        assert _error(third)["extensions"]["code"] == "RATE_LIMITED"
        assert "2 exports" in _error(third)["message"]
        # Others still may, up to four in the process: their logs are small, but each holds
        # its slot until its body is written; Eve's two are held like Ada's.
        eve = acme.token("=Eve Member")
        opened += [await _open(http, eve), await _open(http, eve)]
        await until(lambda: held.arrived == 4, what="four exports held")
        fifth = await http.get("/export/app-log", headers=_bearer(tenant.token("Ann")))
        assert fifth.status_code == 429
        assert _error(fifth)["extensions"]["code"] == "RATE_LIMITED"
        held.release.set()
        for stream, response in opened:
            rows = _csv_rows(await response.aread())
            assert len(rows) == 1 + ENTRIES + len(acme.apps)
            await stream.__aexit__(None, None, None)
    assert (await http.get("/export/app-log", headers=_bearer(ada))).status_code == 200


async def test_a_client_leaving_gives_its_slot_back(http, world, app) -> None:
    acme, _ = world
    held = _Held()
    slots = app.state.exports.slots
    with faults.hooked("export:between-batches", held):
        stream, _response = await _open(http, acme.token("Ada Admin"))
        await until(lambda: held.arrived == 1, what="the export held")
        assert slots.total == 1
        await stream.__aexit__(None, None, None)  # the client goes away mid-file
        held.release.set()
        await until(lambda: slots.total == 0, what="the slot given back")


async def test_an_export_costs_100_points(gateway, world) -> None:
    acme, _ = world
    async with gateway(rate_limit_points=250) as other, uvicorn_serving(other) as base:
        async with httpx.AsyncClient(base_url=base) as http:
            headers = _bearer(acme.token("-Max Manager"))
            first = await http.get("/export/app-log?activities=INSTALLED", headers=headers)
            assert first.status_code == 200
            assert first.headers["ratelimit-limit"] == "250"
            assert int(first.headers["ratelimit-remaining"]) in (149, 150)  # refill: ±1
            second = await http.get("/export/app-log?activities=INSTALLED", headers=headers)
            assert second.status_code == 200
            assert int(second.headers["ratelimit-remaining"]) <= 51
            third = await http.get("/export/app-log?activities=INSTALLED", headers=headers)
            assert third.status_code == 429
            assert _error(third)["extensions"]["code"] == "RATE_LIMITED"
            assert "100 points" in _error(third)["message"]
            assert int(third.headers["retry-after"]) > 0
            # The budget is the API's: a GraphQL request now gets what is left.
            answer = await http.post(
                "/graphql", json={"query": "{ viewer { user { name } } }"}, headers=headers
            )
            assert answer.status_code == 200
            assert int(answer.headers["ratelimit-remaining"]) < 60


async def _rename(old: str, new: str) -> None:
    await connections.get("default").execute_script(f'ALTER TABLE "{old}" RENAME TO "{new}"')


@pytest.mark.parametrize("fmt", ["ndjson", "csv"])
async def test_a_failure_mid_stream_cuts_the_file_short(http, world, fmt) -> None:
    """The database fails after the first batch (a side table the next batch reads is gone):
    the transfer ends without its final chunk, NDJSON after an `{"error": …}` line."""
    acme, _ = world
    renamed = False

    async def break_the_next_batch() -> None:
        nonlocal renamed
        if not renamed:
            renamed = True
            await _rename("app_log_alert", "app_log_alert_gone")

    received = b""
    try:
        with faults.hooked("export:between-batches", break_the_next_batch):
            async with http.stream(
                "GET", f"/export/app-log?format={fmt}", headers=_bearer(acme.token("Ada Admin"))
            ) as response:
                assert response.status_code == 200
                with pytest.raises(httpx.RemoteProtocolError):
                    async for chunk in response.aiter_bytes():
                        received += chunk
    finally:
        if renamed:
            await _rename("app_log_alert_gone", "app_log_alert")
    assert renamed
    lines = received.decode().splitlines()
    if fmt == "ndjson":
        assert len(lines) == 1_000 + 1
        error = json.loads(lines[-1])["error"]
        assert error["code"] == "INTERNAL_SERVER_ERROR"
        assert "request id" in error["message"]
        assert all("error" not in json.loads(line) for line in lines[:-1])
    else:
        assert len(_csv_rows(received)) == 1 + 1_000


# --- statements -----------------------------------------------------------------------------


async def test_statements_per_batch_do_not_grow_with_rows(world) -> None:
    """A batch costs one statement for its entries (their scope changes and alert reasons
    joined; sent ahead, while the batch before is handed over) and at most two more for the
    names of apps and users it meets first, whether it holds 10 rows or 1,000."""
    acme, _ = world
    total = ENTRIES + len(acme.apps)
    for size in (10, 1_000):
        per_batch, entry_statements = [], 0
        batches = export.batches(acme.portal.id, LogFilter(), size)
        while True:
            with count_statements() as statements:
                batch = await anext(batches, None)
            entry_statements += sum('FROM "app_log_entry"' in s for s in statements)
            if batch is None:
                break
            per_batch.append(len(statements))
        assert len(per_batch) == -(-total // size)
        assert entry_statements == len(per_batch)  # one per batch (none past a short one)
        # The first hand-over sends the second batch's statement too, and reads the names of
        # apps and users; later ones only of those not met before.
        assert per_batch[0] == 4, (size, per_batch[:5])
        assert all(n <= 3 for n in per_batch[1:]), (size, per_batch)
        assert sum(per_batch) <= len(per_batch) + 2 * len(acme.apps), (size, per_batch)
