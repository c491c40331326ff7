"""The "My Apps page" costs a fixed, small number of SQL statements (no N+1)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from gateway.models import (
    AppUsageDay,
    ConnectedApp,
    Delivery,
    GrantedScope,
    LoggedAlert,
    LoggedScopeChange,
    Notification,
)
from gateway.models.enums import (
    AppActivity,
    DeliveryStatus,
    InstallLevel,
    InstallRequestNotice,
    InstallRequestStatus,
    NotificationChannel,
    NotificationType,
    SubscriptionTier,
)
from tests import factories as f
from tests.helpers import count_statements, data, load_query

MY_APPS_PAGE = load_query("my-apps-page.graphql")
APP_LOG_PAGE = load_query("app-log-page.graphql")

# auth (user + portal) 1; installed apps with their connection counts 1 (the page asks only
# `connections(first: 1) { totalCount }`, so no connection is read); open alerts 1; requested
# scopes with the grants 1; users (installers and log authors, one batch) 1; log pages 1.
EXPECTED_STATEMENTS = 6

SCOPES = [
    ("crm.read", SubscriptionTier.FREE, True),
    ("crm.write", SubscriptionTier.STARTER, False),
    ("reports.read", SubscriptionTier.PROFESSIONAL, False),
    ("automation", SubscriptionTier.PROFESSIONAL, False),
    ("ai.assist", SubscriptionTier.ENTERPRISE, False),
    ("files.read", SubscriptionTier.FREE, False),
    ("files.write", SubscriptionTier.STARTER, False),
    ("audit.read", SubscriptionTier.ENTERPRISE, False),
]


async def portal_with_apps(
    settings, n: int, *, alerts_logged: bool = False, scopes_changed: bool = False
) -> str:
    """A portal with n apps of every kind, each with 8 scopes, alerts (with their ERROR_RAISED
    entries if `alerts_logged`), connections and a log; if `scopes_changed`, every other app
    also holds a grant its listing no longer requests and has a REAUTHORIZED entry with its
    scope changes. Returns its admin's token."""
    t = await f.make_tenant(
        settings, people={"Ada Admin": "admin", "Bo": "member", "Cy": "member", "Di": "member"}
    )
    portal, [admin, *users] = t.portal, t.people.values()
    levels = [InstallLevel.PORTAL, InstallLevel.USER, InstallLevel.MULTI_ACCOUNT]
    for i in range(n):
        # Named in order: lists sort by name, and a generated name's counter may gain a digit.
        listing = await f.make_listing(f"Counted app {i:03d}", level=levels[i % 3], scopes=SCOPES)
        at = f.T0 + timedelta(hours=i)
        app = await f.install(portal, listing, users[i % 3], at, grant=["crm.read", "crm.write"])
        if i % 4 == 0:
            raised = await f.alert(app, at=at)
        if i % 4 == 0 and alerts_logged:
            entry = await f.log(app, AppActivity.ERROR_RAISED, at + timedelta(minutes=9))
            await LoggedAlert.create(
                entry=entry,
                alert=raised,
                severity=raised.severity,
                code=raised.code,
                message=raised.message,
            )
        if listing.install_level is not InstallLevel.PORTAL:
            await f.connect(app, users[0], at, "acct-1" if i % 3 == 2 else None)
            await f.connect(
                app, users[1], at + timedelta(minutes=1), "acct-2" if i % 3 == 2 else None
            )
        for k in range(8):
            activity = AppActivity.DISCONNECTED if k % 2 else AppActivity.RECONNECTED
            await f.log(app, activity, at + timedelta(minutes=10 + k), users[k % 3])
        if i % 2 == 0 and scopes_changed:
            await GrantedScope.create(app=app, name="legacy.read", granted_at=at)
            entry = await f.log(app, AppActivity.REAUTHORIZED, at + timedelta(minutes=9), admin)
            await LoggedScopeChange.create(entry=entry, added=["crm.write"], removed=["old"])
    return t.token(admin.name)


async def test_my_apps_page_statement_count_does_not_grow_with_apps(client, settings):
    # Given two portals, with 5 and with 50 apps
    small = await portal_with_apps(settings, 5)
    large = await portal_with_apps(settings, 50)

    # When the console loads the My Apps page for each
    with count_statements() as small_statements:
        small_page = await data(client, MY_APPS_PAGE, token=small)
    with count_statements() as large_statements:
        large_page = await data(client, MY_APPS_PAGE, token=large)

    # Then both pages are complete, and cost the same small number of statements
    assert len(small_page["viewer"]["portal"]["connectedApps"]["edges"]) == 5
    large_apps = large_page["viewer"]["portal"]["connectedApps"]
    assert large_apps["totalCount"] == 50
    assert len(large_apps["edges"]) == 50
    assert all(len(e["node"]["log"]["nodes"]) == 5 for e in large_apps["edges"])
    assert (len(small_statements), len(large_statements)) == (EXPECTED_STATEMENTS,) * 2, (
        small_statements,
        large_statements,
    )


NESTED_PAGES = """
query Nested($withNodes: Boolean!, $withInfo: Boolean!) {
  viewer { portal { connectedApps(first: 50) { nodes {
    name
    connections(first: 1) {
      totalCount
      nodes @include(if: $withNodes) { connectedAt }
      pageInfo @include(if: $withInfo) { hasNextPage }
    }
  } } } }
}
"""


@pytest.mark.parametrize(
    ("with_nodes", "with_info", "connection_statements"),
    [(False, False, 0), (True, False, 1), (False, True, 1), (True, True, 1)],
)
async def test_a_nested_page_reads_its_rows_only_when_its_items_or_place_are_asked(
    client, settings, with_nodes, with_info, connection_statements
):
    # Given a portal with 5 apps, some with two connections
    token = await portal_with_apps(settings, 5)

    # When each app's connection count is asked, with or without the page's items and place
    variables = {"withNodes": with_nodes, "withInfo": with_info}
    with count_statements() as statements:
        page = await data(client, NESTED_PAGES, variables, token=token)

    # Then the counts are right, and the connections themselves are read (in one statement
    # for all the apps) only when the page's items or its place in the list are asked
    apps = page["viewer"]["portal"]["connectedApps"]["nodes"]
    assert [a["connections"]["totalCount"] for a in apps] == [0, 2, 2, 0, 2]
    if with_nodes:
        assert [len(a["connections"]["nodes"]) for a in apps] == [0, 1, 1, 0, 1]
    if with_info:
        assert [a["connections"]["pageInfo"]["hasNextPage"] for a in apps] == [
            False,
            True,
            True,
            False,
            True,
        ]
    read = [q for q in statements if "ROW_NUMBER" in q.upper() and "app_connection" in q]
    assert len(read) == connection_statements, statements
    # and the counts came with the apps' own statement (loaders._installed_apps)
    assert not [q for q in statements if 'GROUP BY "app_id"' in q and "app_connection" in q]


async def test_app_log_page_statement_count_does_not_grow_with_entries(client, settings):
    # Given two portals, with 5 and with 50 apps (and 8 log entries each, by several users)
    small = await portal_with_apps(settings, 5)
    large = await portal_with_apps(settings, 50)

    # When the console loads the App log page (entries with their app and user) for each
    pages, counted = [], []
    for token in (small, large):
        with count_statements() as statements:
            pages.append(await data(client, APP_LOG_PAGE, {"first": 50}, token=token))
        counted.append(len(statements))

    # Then both pages are complete, and cost the same statements: the viewer, then the page
    # with each entry's app and user on PostgreSQL; the page, its apps and its users elsewhere
    small_page, large_page = (p["viewer"]["portal"]["appLog"]["edges"] for p in pages)
    assert 0 < len(small_page) < len(large_page) == 50
    assert all(e["node"]["app"]["name"] and e["node"]["user"]["name"] for e in large_page)
    expected = 2 if settings.database_url.startswith("postgres") else 4
    assert counted == [expected, expected], counted


ERROR_LOG_PAGE = """query($first: Int!) { viewer { portal { appLog(first: $first) { nodes {
  activity alertReason { severity code message } alert { code acknowledgedBy { name } } } } } } }"""


async def test_alert_reasons_on_a_log_page_cost_a_fixed_number_of_statements(client, settings):
    # Given two portals, with 5 and with 50 apps, some with an alert raised in their log
    small = await portal_with_apps(settings, 5, alerts_logged=True)
    large = await portal_with_apps(settings, 50, alerts_logged=True)

    # When a log page asks for every entry's alert and the reason it announced
    pages, counted = [], []
    for token in (small, large):
        with count_statements() as statements:
            pages.append(await data(client, ERROR_LOG_PAGE, {"first": 100}, token=token))
        counted.append(len(statements))

    # Then the reasons are there, and cost the same statements on both pages: the viewer, the
    # page, the reasons, the alerts (no one acknowledged them, so no users)
    small_page, large_page = (p["viewer"]["portal"]["appLog"]["nodes"] for p in pages)
    reasons = [n for n in large_page if n["activity"] == "ERROR_RAISED"]
    assert len(reasons) == 3 and all(n["alertReason"]["code"] and n["alert"] for n in reasons)
    assert len([n for n in small_page if n["alertReason"]]) == 2
    assert counted[0] == counted[1] == 4, counted


POLICY_UPDATE = """mutation($days: Int) { updateInstallRequestPolicy(input: {durationDays: $days})
  { policy { durationDays } userErrors { message } } }"""


@contextmanager
def connections_used() -> Iterator[tuple[list[tuple[int, str]], dict[str, int]]]:
    """The statements asyncpg sends, each with its connection's id, how many times a
    connection was taken from the pool and the most held at once, while the block runs."""
    import asyncpg.connection
    import asyncpg.pool

    sent: list[tuple[int, str]] = []
    held = {"now": 0, "most": 0, "taken": 0}
    patched: dict[tuple[type, str], Any] = {}

    def recording(method):
        async def recorded(self, query, *args, **kwargs):
            sent.append((id(self), query))
            return await method(self, query, *args, **kwargs)

        return recorded

    def counting(method, step: int):
        async def counted(self, *args, **kwargs):
            result = await method(self, *args, **kwargs)
            held["now"] += step
            held["most"] = max(held["most"], held["now"])
            held["taken"] += step > 0
            return result

        return counted

    for name in ("execute", "fetch", "fetchrow", "fetchval"):
        patched[asyncpg.connection.Connection, name] = recording
    patched[asyncpg.pool.Pool, "_acquire"] = lambda method: counting(method, 1)
    patched[asyncpg.pool.Pool, "release"] = lambda method: counting(method, -1)
    originals = {key: getattr(*key) for key in patched}
    for (owner, name), wrap in patched.items():
        setattr(owner, name, wrap(originals[owner, name]))
    try:
        yield sent, held
    finally:
        for (owner, name), method in originals.items():
            setattr(owner, name, method)


@pytest.mark.postgres
async def test_a_query_reads_on_one_held_connection_and_a_mutation_gives_it_back(client, settings):
    """Every statement of a query, its viewer's too, runs on one pooled connection
    (gateway/db.py `request_connection`) without a BEGIN or COMMIT round trip; a mutation, and
    a text the gateway has not seen before, run after it is given back: a request never holds
    two connections at once (with as many requests in flight as the pool has connections, a
    second would never come)."""
    token = await portal_with_apps(settings, 5)
    new = f"# {uuid4().hex}\n"  # texts this app has not seen
    taken = []
    for _request in range(3):  # a new text, then a prepared one twice
        with connections_used() as (sent, pool):
            page = await data(client, new + MY_APPS_PAGE, token=token)
        assert len(page["viewer"]["portal"]["connectedApps"]["edges"]) == 5
        statements = [query for _connection, query in sent]
        assert len(statements) == EXPECTED_STATEMENTS, statements
        assert not [q for q in statements if q.strip(" ;").upper() in {"BEGIN", "COMMIT"}]
        assert len({connection for connection, _query in sent}) == 1
        assert pool["most"] == 1
        taken.append(pool["taken"])
    assert taken == [2, 1, 1]  # the new text's viewer, then its query; then one for both

    for days in (7, 9):  # a new text, then a prepared one
        with connections_used() as (sent, pool):
            changed = await data(client, new + POLICY_UPDATE, {"days": days}, token=token)
        assert changed["updateInstallRequestPolicy"]["policy"] == {"durationDays": days}
        assert any(query.lstrip().upper().startswith("UPDATE") for _c, query in sent)
        # the viewer's connection, given back; then the mutation's own
        assert pool["most"] == 1 and pool["taken"] >= 2


async def slowly(app, authorization: str, body: bytes) -> tuple[int, int]:
    """POST `body` to the app in two parts, the second once the request waits for it: how many
    pooled connections were held while it waited, and the answer's status."""
    import asyncio

    rest_sent = asyncio.Event()
    messages = [
        {"type": "http.request", "body": body[:10], "more_body": True},
        {"type": "http.request", "body": body[10:], "more_body": False},
    ]
    answered: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if len(messages) == 1:
            await rest_sent.wait()
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        answered.append(message)

    headers = {
        "authorization": authorization,
        "content-type": "application/json",
        "content-length": str(len(body)),
        "host": "testserver",
    }
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    with connections_used() as (_sent, pool):
        request = asyncio.create_task(app(scope, receive, send))
        for _ in range(20):  # it runs until it waits for the rest of its body
            await asyncio.sleep(0)
        held = pool["now"]
        rest_sent.set()
        await request
        assert pool["now"] == 0
    return held, next(m["status"] for m in answered if m["type"] == "http.response.start")


@pytest.mark.postgres
async def test_a_request_holds_no_connection_while_its_body_arrives(app, settings):
    """The request's connection is taken once its body is read: a client sending its body
    slowly (or never finishing it) holds none, with or without a valid token, so a few such
    clients cannot take the pool's connections from everyone else."""
    import json

    token = await portal_with_apps(settings, 2)
    body = json.dumps({"query": MY_APPS_PAGE}).encode()
    assert await slowly(app, f"Bearer {token}", body) == (0, 200)
    assert await slowly(app, "Bearer not-a-token", body) == (0, 401)


async def test_a_page_s_rows_are_freed_when_it_is_answered(client, settings):
    """No reference cycle keeps a request's rows after its answer (they would wait for the
    cycle collector, whose pauses then grow with the rows waiting: gateway/heap.py)."""
    import gc

    from tortoise.models import Model

    from gateway.models import Portal, User

    token = await portal_with_apps(settings, 5)
    await data(client, MY_APPS_PAGE, token=token)  # plans and caches made
    gc.collect()
    gc.disable()
    try:
        page = await data(client, MY_APPS_PAGE, token=token)
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        # graphql-core's own executor (the reference) keeps its context, and with it the
        # viewer and their portal, in a cycle of its own: the loaded rows are what must go.
        rows = [o for o in gc.garbage if isinstance(o, Model) and not isinstance(o, User | Portal)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert len(page["viewer"]["portal"]["connectedApps"]["edges"]) == 5
    assert rows == []


REQUESTS_PAGE = """{ viewer { notifications(first: 50) { nodes { installRequestNotice
  installRequests { status listing { name } } } }
  portal { installRequests(first: 100) { totalCount edges { cursor node {
    id status justification scopes accountName createdAt expiresAt decidedAt decisionNote
    listing { name viewerCanRequest viewerPendingRequest { status } }
    requestedBy { name } decidedBy { name } app { name status }
    viewerCanDecide viewerCanCancel } } } } } }"""


async def portal_with_requests(settings, n: int) -> str:
    """A portal with n install requests by several people in every state (some approved into
    apps), and a reviewer's notice of each; returns that reviewer's token."""
    t = await f.make_tenant(
        settings, people={"Ada Admin": "admin", "Bo": "member", "Cy": "member", "Di": "member"}
    )
    admin, *people = t.people.values()
    states = list(InstallRequestStatus)
    for i in range(n):
        listing = await f.make_listing(scopes=SCOPES)
        status = states[i % len(states)]
        app = (
            await f.install(t.portal, listing, admin)
            if status is InstallRequestStatus.APPROVED
            else None
        )
        request = await f.make_request(
            t.portal,
            listing,
            people[i % 3],
            f.T0 + timedelta(hours=i),
            status=status,
            decided_by=None if status is InstallRequestStatus.PENDING else admin,
            scopes=["crm.read"] if i % 2 else None,
            app=app,
        )
        await f.notice(InstallRequestNotice.NEW, admin, [request])
    return t.token(admin.name)


async def test_a_page_of_install_requests_costs_the_same_statements_for_5_or_50(client, settings):
    # Given two portals, with 5 and with 50 requests (and a notice of each in the inbox)
    tokens = [await portal_with_requests(settings, 5), await portal_with_requests(settings, 50)]
    # When a reviewer reads the requests page and the inbox
    pages, counted = [], []
    for token in tokens:
        with count_statements() as statements:
            pages.append(await data(client, REQUESTS_PAGE, token=token))
        counted.append(statements)
    # Then both are complete, and cost the same statements
    small, large = (p["viewer"]["portal"]["installRequests"] for p in pages)
    assert (small["totalCount"], large["totalCount"]) == (5, 50)
    assert len(large["edges"]) == 50
    assert all(e["node"]["requestedBy"]["name"] for e in large["edges"])
    assert len(pages[1]["viewer"]["notifications"]["nodes"]) == 50
    # the viewer; the inbox page, its notes, their items and the requests they list; the
    # requests page and its count; listings; requesters, then the deciders not among them;
    # apps and their open alerts (status); the viewer's own pending requests
    assert len(counted[0]) == len(counted[1]) == 13, counted


CONSOLE_MY_APPS_PAGE = (
    Path(__file__).parent.parent / "gateway/static/console/documents/MyAppsPage.graphql"
).read_text()


async def test_usage_on_the_my_apps_page_costs_the_same_statements_for_5_or_50_apps(
    client, settings
):
    # Given two portals, with 5 and with 50 apps, most of them with days of usage
    tokens = []
    for n in (5, 50):
        tokens.append(await portal_with_apps(settings, n))
    # (the two portals' apps are the newest 55)
    today = datetime.now(UTC).date()
    await AppUsageDay.bulk_create(
        AppUsageDay(
            app=app,
            day=today - timedelta(days=back),
            calls=app.id + back,
            errors=back % 2,
            used_until=f.T0,
            reported_at=f.T0,
        )
        for app in await ConnectedApp.all().order_by("-id").limit(55)
        for back in range(0, 40, 3)
    )
    # When the console's My Apps page (lastUsedAt and a 30-day usage per app) loads for each
    pages, counted = [], []
    for token in tokens:
        with count_statements() as statements:
            pages.append(await data(client, CONSOLE_MY_APPS_PAGE, token=token))
        counted.append(statements)
    # Then both are complete, and cost the same statements: the list page's, plus one for the
    # usage days and one for lastUsedAt, however many apps
    small, large = (p["viewer"]["portal"]["connectedApps"]["edges"] for p in pages)
    assert (len(small), len(large)) == (5, 50)
    assert all(len(e["node"]["usage"]["days"]) == 30 for e in large)
    assert all(e["node"]["usage"]["calls"] > 0 and e["node"]["lastUsedAt"] for e in large)
    assert len(counted[0]) == len(counted[1]) == 7, counted
    assert sum("app_usage_day" in q for q in counted[1]) == 2, counted[1]


SCOPE_LOG_PAGE = """query($first: Int!) { viewer { portal { appLog(first: $first) { nodes {
  activity scopeChanges { added removed } } } } } }"""


async def test_scope_changes_on_a_log_page_cost_a_fixed_number_of_statements(client, settings):
    # Given two portals, with 5 and with 50 apps, some reauthorized with scope changes
    small = await portal_with_apps(settings, 5, scopes_changed=True)
    large = await portal_with_apps(settings, 50, scopes_changed=True)

    # When a log page asks for every entry's scope changes
    pages, counted = [], []
    for token in (small, large):
        with count_statements() as statements:
            pages.append(await data(client, SCOPE_LOG_PAGE, {"first": 100}, token=token))
        counted.append(len(statements))

    # Then they are there, and cost the same statements on both pages: the viewer, the page,
    # the scope changes
    small_page, large_page = (p["viewer"]["portal"]["appLog"]["nodes"] for p in pages)
    changed = [n for n in large_page if n["activity"] == "REAUTHORIZED"]
    assert changed and all(
        n["scopeChanges"] == {"added": ["crm.write"], "removed": ["old"]} for n in changed
    )
    assert all(n["scopeChanges"] is None for n in large_page if n["activity"] != "REAUTHORIZED")
    assert len([n for n in small_page if n["scopeChanges"]]) == 3
    assert counted[0] == counted[1] == 3, counted


PENDING_PAGE = """{ viewer { portal { connectedApps(first: 50) { nodes {
  name scopes { name state } pendingScopeChanges { added removed } viewerCanReauthorize } } } } }"""


async def test_pending_scope_changes_on_my_apps_cost_a_fixed_number_of_statements(client, settings):
    # Given two portals, with 5 and with 50 apps, every other one holding a stale grant
    small = await portal_with_apps(settings, 5, scopes_changed=True)
    large = await portal_with_apps(settings, 50, scopes_changed=True)

    # When My Apps asks what a reauthorize of each app would do
    pages, counted = [], []
    for token in (small, large):
        with count_statements() as statements:
            pages.append(await data(client, PENDING_PAGE, token=token))
        counted.append(len(statements))

    # Then every app's pending changes are there: the scopes within the tier not granted, and
    # the stale grant where there is one
    small_apps, large_apps = (p["viewer"]["portal"]["connectedApps"]["nodes"] for p in pages)
    assert len(large_apps) == 50
    pending = [a["pendingScopeChanges"] for a in large_apps]
    assert all(
        p["added"] == ["reports.read", "automation", "files.read", "files.write"] for p in pending
    )
    assert sorted(len(p["removed"]) for p in pending) == [0] * 25 + [1] * 25
    assert all(a["viewerCanReauthorize"] for a in small_apps + large_apps)
    # and cost the same statements for both: the viewer, the installed apps, their open
    # alerts, the scopes with their grants, the grants' names
    assert counted[0] == counted[1] == 5, counted


RULES_PAGE = """{ viewer { portal { notificationRules(first: 100) { nodes {
  name channels webhookUrl slackWebhookUrl webhookHost
  lastDelivery { channel status lastError target periodStart rule { name }
                 recipient { name } notification { isTest } } } } } } }"""


async def portal_with_webhook_rules(settings, n: int) -> str:
    """A portal with n rules with a webhook and a Slack URL, each with a few deliveries: the
    newest a WEBHOOK message for even rules, an in-app test notice's for odd ones."""
    t = await f.make_tenant(settings, people={"Ada Admin": "admin"})
    admin = t.people["Ada Admin"]
    for i in range(n):
        at = f.T0 + timedelta(hours=i)
        rule = await f.make_rule(t.portal, f"Hook rule {i:03d}", NotificationType.APP_INSTALL, at)
        rule.webhook_url = f"https://hooks{i}.example.com/in"
        rule.slack_webhook_url = "https://hooks.slack.com/services/T/B/x"
        await rule.save()
        for k in range(3):
            made_at = at + timedelta(minutes=k)
            if (i + k) % 2 == 0:
                await Delivery.create(
                    portal=t.portal,
                    rule=rule,
                    created_at=made_at,
                    channel=NotificationChannel.WEBHOOK,
                    status=DeliveryStatus.RETRYING,
                    last_error="HTTP 503",
                    cut_at=at + timedelta(minutes=k),
                    target=f"hooks{i}.example.com",
                )
            else:
                note = await Notification.create(
                    portal=t.portal,
                    recipient=admin,
                    rule=rule,
                    type=rule.type,
                    period_start=at,
                    period_end=at,
                    entry_count=0,
                    created_at=at,
                    is_test=True,
                )
                await Delivery.create(
                    portal=t.portal,
                    rule=rule,
                    created_at=made_at,
                    notification=note,
                    recipient=admin,
                    channel=NotificationChannel.IN_APP,
                    status=DeliveryStatus.SENT,
                    is_test=True,
                )
    return t.token(admin.name)


async def test_webhook_fields_and_last_deliveries_cost_the_same_statements_for_5_or_50_rules(
    client, settings
):
    # Given two portals, with 5 and with 50 rules with webhooks and deliveries of both kinds
    tokens = [await portal_with_webhook_rules(settings, n) for n in (5, 50)]
    # When an editor reads the rules with their URLs and last deliveries
    pages, counted = [], []
    for token in tokens:
        with count_statements() as statements:
            pages.append(await data(client, RULES_PAGE, token=token))
        counted.append(statements)
    # Then both are complete, and cost the same statements
    small, large = (p["viewer"]["portal"]["notificationRules"]["nodes"] for p in pages)
    assert (len(small), len(large)) == (5, 50)
    assert all(r["webhookUrl"] and r["lastDelivery"]["rule"]["name"] == r["name"] for r in large)
    assert {r["lastDelivery"]["channel"] for r in large} == {"WEBHOOK", "IN_APP"}
    # the viewer and portal, the rules page, the newest delivery per rule and those
    # deliveries, their rules, notifications and recipients: 7, however many rules
    assert len(counted[0]) == len(counted[1]), counted
    assert len(counted[1]) == 7, counted[1]
