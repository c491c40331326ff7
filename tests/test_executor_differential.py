"""Our executor against graphql-core's, request by request, under issue 9's comparison
(tests/executor_support.py): documents generated from the schema with hypothesis-graphql
(derandomized, a fixed number of them) and the hard spots written out by hand, as three
viewers, over the demo data and over portals built for edge cases."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, cast

import pytest
from hypothesis import strategies as st
from hypothesis_graphql import nodes
from hypothesis_graphql import strategies as gql_strategies
from hypothesis_graphql.strategies import Mode

from gateway import demo as d
from gateway import models as m
from gateway.ids import to_global_id
from gateway.models.enums import (
    AlertSeverity,
    AppActivity,
    DeliveryStatus,
    InstallLevel,
    InstallRequestNotice,
    InstallRequestStatus,
    NotificationChannel,
    NotificationType,
)
from gateway.schema.schema import build_schema
from gateway.services import usage
from gateway.settings import Settings
from tests.executor_support import Executors, differences, examples, executors
from tests.factories import (
    Role,
    Tenant,
    alert,
    connect,
    install,
    log,
    make_listing,
    make_request,
    make_rule,
    make_tenant,
    notice,
)
from tests.helpers import token_for

pytestmark = [
    # The test compares both executors itself: the session's executor does not matter.
    pytest.mark.parametrize("settings", ["fast"], indirect=True),
    pytest.mark.usefixtures("demo", "abandoned_coroutines_collected"),
    # graphql-core leaves the coroutines of sibling fields unawaited when a null propagates
    # past them (the reference's habit, not a leak of ours): collected when the module ends.
    pytest.mark.filterwarnings(
        r"ignore:Exception ignored in. <coroutine object (Executor|GraphQLCoreConverter)\.:pytest.PytestUnraisableExceptionWarning"
    ),
]

# Fixed so the suite stays fast; derandomized, so every run sends the same documents.
GENERATED = 200
GENERATED_INVALID = 60
ROLES = ("admin", "manager", "member")
PEOPLE: dict[str, Role] = {"Ada Admin": "admin", "Max Manager": "manager", "Mia Member": "member"}


@pytest.fixture(scope="module")
async def both(settings: Settings) -> AsyncIterator[Executors]:
    async with executors(settings) as pair:
        yield pair


@pytest.fixture(scope="module")
async def acme(settings: Settings, demo: Any) -> dict[str, str]:
    """Tokens of Acme's admin, manager and member."""
    emails = {"admin": d.ADMIN_EMAIL, "manager": d.MANAGER_EMAIL, "member": d.MEMBER_EMAIL}
    return {role: await token_for(settings, email, d.ACME_NAME) for role, email in emails.items()}


@dataclass
class Edges:
    """Portals built for edge cases: `empty` (no apps, teams, log or rules) and `odd` (an app
    with no log at all, an uninstalled one, a MULTI_ACCOUNT one with accounts and one without,
    a USER app nobody connected, an open alert, an empty team, install requests in every state
    with and without scopes and accounts, and the notices that list them, usage days in and
    out of every window, of 0 calls, and of the uninstalled app)."""

    empty: Tenant
    odd: Tenant

    def viewers(self) -> list[tuple[str, str]]:
        """(label, token): each role of each edge portal."""
        named = dict(zip(PEOPLE, ROLES, strict=True))
        return [
            (f"{label} {named[person]}", tenant.token(person))
            for label, tenant in (("empty", self.empty), ("odd", self.odd))
            for person in PEOPLE
        ]


@pytest.fixture(scope="module")
async def edges(settings: Settings, demo: Any) -> Edges:
    empty = await make_tenant(settings, people=PEOPLE)
    multi = await make_listing("Multi Social", level=InstallLevel.MULTI_ACCOUNT)
    lonely = await make_listing("Lonely Multi", level=InstallLevel.MULTI_ACCOUNT)
    user_level = await make_listing("Per Person", level=InstallLevel.USER)
    odd = await make_tenant(
        settings,
        people=PEOPLE,
        teams={"Ops": ["Max Manager", "Mia Member"], "Nobody": []},
        apps=["Quiet App", "Gone App", "Alerting App", multi, lonely],
        accounts={"Multi Social": ["acct-one", "acct-two"]},
    )
    odd.apps["Per Person"] = await install(odd.portal, user_level, None)
    await m.AppLogEntry.filter(app=odd.apps["Quiet App"]).delete()
    gone = odd.apps["Gone App"]
    gone.uninstalled_at = gone.installed_at + timedelta(days=1)
    await gone.save()
    await log(gone, AppActivity.UNINSTALLED, gone.uninstalled_at, odd.people["Ada Admin"])
    # An open alert whose reason changed since it was logged, and one acknowledged.
    alerting = odd.apps["Alerting App"]
    raised = await alert(alerting)
    entry = await log(alerting, AppActivity.ERROR_RAISED, raised.raised_at)
    await m.LoggedAlert.create(
        entry=entry, alert=raised, severity=AlertSeverity.WARNING, code=raised.code, message="was"
    )
    seen = await alert(alerting, "seen")
    seen.acknowledged_at, seen.acknowledged_by = seen.raised_at, odd.people["Max Manager"]
    seen.acknowledge_note = "On it"
    await seen.save()
    await connect(odd.apps["Per Person"], odd.people["Mia Member"], gone.installed_at)
    # Scope changes: an uninstall's revoked grants, a reauthorize's, a listing's change (no
    # user), a reinstall that changed nothing, and a grant the listing no longer requests, so
    # that pendingScopeChanges has something on both sides.
    changed = [
        (gone, AppActivity.UNINSTALLED, [], ["basic.read", "old.write"]),
        (alerting, AppActivity.REAUTHORIZED, ["basic.read"], ["legacy.read"]),
        (alerting, AppActivity.SCOPES_CHANGED, ["new.read", "new.write"], ["basic.write"]),
        (odd.apps["Multi Social"], AppActivity.REINSTALLED, [], []),
    ]
    for n, (app, activity, added, removed) in enumerate(changed):
        by = None if activity is AppActivity.SCOPES_CHANGED else odd.people["Max Manager"]
        at = app.installed_at + timedelta(hours=2 + n)
        scoped = await log(app, activity, at, by)
        await m.LoggedScopeChange.create(entry=scoped, added=added, removed=removed)
    await m.GrantedScope.create(app=alerting, name="legacy.write", granted_at=alerting.installed_at)
    # Install requests in every state, and the notices that list them
    mia, max_ = odd.people["Mia Member"], odd.people["Max Manager"]
    asked = await make_listing("Asked For")
    pending = await make_request(odd.portal, asked, mia, scopes=["basic.read"])
    expired = await make_request(
        odd.portal, await make_listing("Too Late"), mia, status=InstallRequestStatus.EXPIRED
    )
    denied = await make_request(
        odd.portal,
        await make_listing("Said No"),
        mia,
        status=InstallRequestStatus.DENIED,
        decided_by=max_,
        note="Not now",
    )
    await make_request(
        odd.portal,
        multi,
        mia,
        status=InstallRequestStatus.APPROVED,
        decided_by=max_,
        account="acct-one",
        app=odd.apps["Multi Social"],
    )
    await make_request(odd.portal, multi, mia, account="acct-three", scopes=[])
    await notice(InstallRequestNotice.NEW, max_, [pending])
    await notice(InstallRequestNotice.REMINDER, odd.people["Ada Admin"], [pending])
    await notice(InstallRequestNotice.OUTCOME, mia, [denied])
    await notice(InstallRequestNotice.OUTCOME, mia, [expired])
    # Usage: days with and without lastCallAt, a day of 0 calls, days outside every window, an
    # uninstalled app's kept days; Quiet App never used (so `unusedForDays` finds it)
    today = datetime.now(UTC).date()
    for app, back, calls, errors, last_call in [
        (alerting, 0, 40, 8, time(0, 0, 1)),
        (alerting, 1, 12, 0, None),
        (alerting, 120, 7, 7, None),
        (odd.apps["Multi Social"], 2, 0, 0, None),
        (odd.apps["Multi Social"], 89, 3, 1, time(23, 59, 59)),
        (gone, 5, 9, 2, None),
    ]:
        on = today - timedelta(days=back)
        last_at = None if last_call is None else datetime.combine(on, last_call.replace(tzinfo=UTC))
        await m.AppUsageDay.create(
            app=app,
            day=on,
            calls=calls,
            errors=errors,
            last_call_at=last_at,
            used_until=(last_at or usage.day_end(on)) if calls else None,
            reported_at=datetime.combine(on, time(23, 59, 59, tzinfo=UTC)),
        )
    # Webhook and Slack channels: a rule with both URLs (credentials: only some viewers read
    # them), its digest's WEBHOOK delivery (no recipient, no notification), a test send's
    # in-app notification and delivery, and a rule with no delivery yet
    hooked = await make_rule(
        odd.portal, "Hooked Rule", NotificationType.APP_INSTALL, raised.raised_at
    )
    hooked.webhook_url = "https://hooks.example.com/gateway?token=abc"
    hooked.slack_webhook_url = "https://hooks.slack.com/services/T0/B0/x"
    hooked.webhook_secret = "stored-encrypted"
    await hooked.save()
    await make_rule(odd.portal, "Quiet Rule", NotificationType.APP_ERROR, raised.raised_at)
    cut = raised.raised_at
    await m.Delivery.create(
        portal=odd.portal,
        rule=hooked,
        channel=NotificationChannel.WEBHOOK,
        status=DeliveryStatus.FAILED,
        attempts=3,
        last_error="HTTP 410: gone",
        cut_at=cut,
        period_start=cut,
        period_end=cut + timedelta(hours=1),
        target="hooks.example.com",
        entry_ids=[],
        entry_count=2,
        created_at=cut + timedelta(hours=1),
    )
    sample = await m.Notification.create(
        portal=odd.portal,
        recipient=odd.people["Ada Admin"],
        rule=hooked,
        type=NotificationType.APP_INSTALL,
        period_start=cut,
        period_end=cut + timedelta(hours=2),
        entry_count=0,
        in_app=True,
        created_at=cut + timedelta(hours=2),
        is_test=True,
    )
    await m.Delivery.create(
        portal=odd.portal,
        rule=hooked,
        notification=sample,
        recipient=odd.people["Ada Admin"],
        channel=NotificationChannel.IN_APP,
        status=DeliveryStatus.SENT,
        attempts=1,
        sent_at=cut + timedelta(hours=2),
        created_at=cut + timedelta(hours=2),
        is_test=True,
    )
    return Edges(empty, odd)


# ---- generated documents

_MODELS = (
    m.Portal,
    m.User,
    m.Team,
    m.ConnectedApp,
    m.AppConnection,
    m.AppAlert,
    m.AppLogEntry,
    m.NotificationRule,
    m.Notification,
    m.Delivery,
    m.MarketplaceListing,
    m.LearningResource,
    m.InstallRequest,
)

GARBAGE_IDS = [
    "",
    "not an id",
    "UG9ydGFsOng=",  # "Portal:x"
    to_global_id("Nope", 1),
    to_global_id("User", 99_999_999),
    to_global_id("Portal", -1),
]


async def known_ids() -> list[str]:
    """Global ids of every type, from every portal (so other portals' ids are there too)."""
    found: list[str] = []
    for model in _MODELS:
        # Tortoise types every values_list as rows of tuples; flat=True gives the ids themselves.
        first = await model.all().order_by("id").limit(4).values_list("id", flat=True)
        last = await model.all().order_by("-id").limit(2).values_list("id", flat=True)
        for pk in cast(list[int], first) + cast(list[int], last):
            found.append(to_global_id(model.__name__, pk))
    return found


def _generated(settings: Settings, ids: list[str], count: int, mode: Mode) -> list[str]:
    schema = build_schema(settings)._schema
    scalars = {
        "ID": st.sampled_from(ids + GARBAGE_IDS).map(nodes.String),
        "Int": st.sampled_from([0, 1, 2, 5, 100, 101, -1]).map(nodes.Int),
        "DateTime": st.sampled_from(
            ["2026-10-01T00:00:00Z", "2026-11-01T12:00:00+01:00", "2026-10-20T00:00:00", "soon"]
        ).map(nodes.String),
    }
    strategy = gql_strategies.queries(schema, custom_scalars=scalars, mode=mode)
    return examples(strategy, count)


@pytest.fixture(scope="module")
async def generated(settings: Settings, edges: Edges) -> tuple[list[str], list[str]]:
    """(valid, invalid) generated query documents, with ids of real objects among the ids."""
    ids = await known_ids()
    return (
        _generated(settings, ids, GENERATED, Mode.POSITIVE),
        _generated(settings, ids, GENERATED_INVALID, Mode.NEGATIVE),
    )


async def _all_agree(
    both: Executors, documents: list[str], viewers: list[tuple[str, str]]
) -> list[str]:
    """Every document as every viewer on both executors; the disagreements, described."""
    failures = []
    for document in documents:
        for label, token in viewers:
            fast, reference = await both.answers(document, token=token)
            found = differences(fast, reference)
            if found:
                failures.append("\n".join([f"as {label}:", document, *found]))
    return failures


def _report(failures: list[str], total: int) -> str:
    return f"{len(failures)} of {total} disagree; the first ones:\n\n" + "\n\n".join(failures[:3])


async def test_generated_queries_agree_over_the_demo_data(both, acme, generated):
    # Given generated documents, some with ids of real objects of every type
    valid, _ = generated
    # When each runs as Acme's admin, manager and member on both executors
    failures = await _all_agree(both, valid, list(acme.items()))
    # Then every answer agrees
    assert not failures, _report(failures, len(valid) * 3)


async def test_generated_queries_agree_over_edge_case_data(both, edges, generated):
    valid, _ = generated
    failures = await _all_agree(both, valid, edges.viewers())
    assert not failures, _report(failures, len(valid) * 6)


async def test_generated_invalid_documents_are_refused_alike(both, acme, generated):
    # Given generated documents with one violation of the schema each
    _, invalid = generated
    failures = await _all_agree(both, invalid, [("admin", acme["admin"])])
    assert not failures, _report(failures, len(invalid))


# ---- the hard spots, on purpose


async def _agree(
    both: Executors, query: str, variables: dict[str, Any] | None, tokens: dict[str, str]
) -> dict[str, Any]:
    """The document as each viewer, asserted to agree; the admin's answer."""
    bodies = {}
    for role, token in tokens.items():
        fast, _ = await both.compare(query, variables, token=token)
        bodies[role] = fast.body
    return bodies["admin"]


ALIASES = """{ viewer { portal {
  all: connectedApps(first: 3) { totalCount nodes { name status } }
  errored: connectedApps(first: 5, filter: {statuses: [ERROR]}) { totalCount nodes { name status } }
  portalLevel: connectedApps(first: 5, filter: {installLevels: [PORTAL], search: "a"}) { nodes { name } }
  recent: appLog(first: 3) { nodes { activity app { name } } }
  uninstalls: appLog(first: 2, filter: {activities: [UNINSTALLED]}) { nodes { activity app { name status uninstalledAt } } }
  one: users(first: 1) { nodes { name } pageInfo { hasNextPage endCursor } }
  two: users(first: 2, search: "an") { nodes { name } }
} } }"""


USAGE_ALIASES = """{ viewer { portal {
  unused: connectedApps(first: 10, filter: {unusedForDays: 3}) { nodes { name lastUsedAt } }
  all: connectedApps(first: 10) { nodes { name lastUsedAt
    week: usage(days: 7) { calls errors errorRate days { date calls errors } }
    month: usage { calls errors errorRate }
    today: usage(days: 1) { calls days { date } } } }
} } }"""


async def test_usage_windows_and_the_unused_filter_agree_over_edge_case_data(both, edges):
    viewers = {
        label.removeprefix("odd "): token
        for label, token in edges.viewers()
        if label.startswith("odd ")
    }
    body = await _agree(both, USAGE_ALIASES, None, viewers)
    portal = body["data"]["viewer"]["portal"]
    apps = {n["name"]: n for n in portal["all"]["nodes"]}
    assert (apps["Alerting App"]["week"]["calls"], apps["Alerting App"]["month"]["errors"]) == (
        52,
        8,
    )
    assert apps["Quiet App"]["lastUsedAt"] is None
    assert "Quiet App" in [n["name"] for n in portal["unused"]["nodes"]]
    assert "Alerting App" not in [n["name"] for n in portal["unused"]["nodes"]]
    # Out of range: refused alike
    for bad in ("usage(days: 91) { calls }", "usage(days: 0) { calls }"):
        query = "{ viewer { portal { connectedApps(first: 3) { nodes { " + bad + " } } } } }"
        await _agree(both, query, None, viewers)


async def test_aliases_of_one_field_with_different_arguments(both, acme):
    body = await _agree(both, ALIASES, None, acme)
    portal = body["data"]["viewer"]["portal"]
    assert len(portal["all"]["nodes"]) == 3 and portal["errored"]["nodes"]
    assert {n["activity"] for n in portal["uninstalls"]["nodes"]} == {"UNINSTALLED"}


FRAGMENTS = """query {
  viewer { portal {
    ...Names ...Installers
    connectedApps(first: 4) { nodes { id ...Listing ... on ConnectedApp { name status } } }
  } }
}
fragment Names on Portal { name connectedApps(first: 4) { nodes { name status } } }
fragment Installers on Portal {
  connectedApps(first: 4) { totalCount nodes { installedBy { name ...Who } } }
}
fragment Listing on ConnectedApp { listing { name ...Who } ... on Node { id } }
fragment Who on Node { id ... on User { teams { name } } }"""


async def test_one_field_selected_through_several_fragments(both, acme):
    body = await _agree(both, FRAGMENTS, None, acme)
    apps = body["data"]["viewer"]["portal"]["connectedApps"]
    assert list(apps) == ["nodes", "totalCount"] and len(apps["nodes"]) == 4


DIRECTIVES = """query ($yes: Boolean!, $no: Boolean = false) {
  viewer {
    user { name @include(if: $yes) email @skip(if: $yes) ...Teams @include(if: $no) }
    portal @skip(if: $no) {
      name @skip(if: $no) @include(if: $yes)
      connectedApps(first: 2) { nodes { name @include(if: $no) status } }
      ... @include(if: $yes) { tier }
      ... on Portal @skip(if: $yes) { timezone }
    }
  }
}
fragment Teams on User { teams { name } }"""


@pytest.mark.parametrize(
    "variables",
    [{"yes": True}, {"yes": False}, {"yes": True, "no": True}, {"yes": False, "no": False}],
)
async def test_skip_and_include(both, acme, variables):
    await _agree(both, DIRECTIVES, variables, acme)


@pytest.mark.parametrize(
    "query",
    [
        "query ($no: Boolean = false) { viewer @include(if: $no) { user { name } } }",
        "query ($no: Boolean = false) { viewer { user { name @include(if: $no) email } } }",
        "query ($no: Boolean = false) { viewer { user @skip(if: $no) { name } } }",
    ],
    ids=["root", "leaf", "object"],
)
async def test_a_null_variable_where_a_directive_needs_a_boolean(both, acme, query):
    # Given a nullable variable with a default, used where @include/@skip need a Boolean!
    # (valid: the default covers a missing value), when it is sent as an explicit null
    await _agree(both, query, {"no": None}, acme)


SPREADS = """query ($first: Int = 2, $activities: [AppActivity!]) {
  viewer { portal { ... on Portal {
    connectedApps(first: $first) { nodes { ... on ConnectedApp { name } ...Log } }
  } } }
}
fragment Log on ConnectedApp {
  log(first: $first, filter: {activities: $activities}) { totalCount nodes { activity user { name } } }
}"""


@pytest.mark.parametrize(
    "variables",
    [{}, {"first": 4}, {"first": None}, {"activities": ["INSTALLED", "RECONNECTED"]}],
)
async def test_inline_fragments_and_spreads_with_variables(both, acme, variables):
    await _agree(both, SPREADS, variables, acme)


NODE = """query ($id: ID!) {
  node(id: $id) {
    __typename id
    ... on Portal { name appSummary { total errored } }
    ... on User { name teams { name } }
    ... on Team { name members(first: 3) { totalCount nodes { name } } }
    ... on ConnectedApp { name status viewerCanManage scopes { name state } connections { totalCount } }
    ... on AppConnection { accountName user { name } }
    ... on AppAlert { code severity resolvedAt acknowledgedBy { name } viewerCanAcknowledge }
    ... on AppLogEntry { activity app { name } user { name } alertReason { severity } alert { code } }
    ... on NotificationRule { name viewerCanEdit apps { name } users { name } teams { name } }
    ... on Notification { type entryCount entries { activity app { name status } } rule { name } }
    ... on Delivery { channel deliveryStatus: status recipient { name } notification { type } }
    ... on MarketplaceListing { slug requestedScopes { name state } learningResources { title } }
    ... on LearningResource { title durationSeconds }
    ... on InstallRequest { requestStatus: status scopeNames: scopes listing { name } requestedBy { name } requestApp: app { name } }
  }
}"""

NODES = NODE.replace("($id: ID!)", "($ids: [ID!]!)").replace("node(id: $id)", "nodes(ids: $ids)")


async def test_node_and_nodes_over_ids_of_every_type_foreign_and_garbage(both, acme, edges, demo):
    # Given ids of every type (Acme's, Globex's and the edge portals'), and garbage; Acme's
    # own first, so its viewers find some whatever other tests created before this one
    own = [
        to_global_id("Portal", demo.acme_portal_id),
        to_global_id("User", demo.user_ids[d.ADMIN_EMAIL]),
        to_global_id("ConnectedApp", next(iter(demo.app_ids.values()))),
        to_global_id("MarketplaceListing", next(iter(demo.listing_ids.values()))),
    ]
    ids = own + await known_ids() + GARBAGE_IDS
    # When each is asked for alone and all together, as each viewer
    for id_ in ids:
        await _agree(both, NODE, {"id": id_}, acme)
    body = await _agree(both, NODES, {"ids": ids[:100]}, acme)
    # Then both agree, and the batch did find objects of several types
    found = {n["__typename"] for n in body["data"]["nodes"] if n} if body.get("data") else set()
    assert {"Portal", "User", "ConnectedApp", "MarketplaceListing"} <= found, body


async def test_nodes_with_foreign_and_garbage_ids_only(both, acme, demo):
    foreign = [to_global_id("ConnectedApp", pk) for pk in demo.globex_app_ids.values()]
    for ids in (foreign, GARBAGE_IDS, [], [*foreign, ""]):
        await _agree(both, NODES, {"ids": ids}, acme)


DEFAULTS = """query ($first: Int = 3, $filter: AppLogFilter, $after: String = null, $search: String) {
  viewer { portal {
    appLog(first: $first, after: $after, filter: $filter) { totalCount nodes { activity } pageInfo { hasNextPage } }
    connectedApps(first: $first, filter: {search: $search}) { nodes { name } }
  } }
}"""


@pytest.mark.parametrize(
    "variables",
    [
        {},
        {"first": None},
        {"filter": None},
        {"filter": {"activities": None, "since": None}},
        {"filter": {"activities": ["INSTALLED"], "since": "2026-10-01T00:00:00Z"}},
        {"search": None, "after": None},
        {"search": "chirp"},
    ],
)
async def test_variables_with_defaults_and_nulls(both, acme, variables):
    await _agree(both, DEFAULTS, variables, acme)


@pytest.mark.parametrize(
    "variables",
    [
        {"first": "abc"},
        {"first": 1.5},
        {"first": -1},
        {"first": 101},
        {"filter": {"activities": ["NOPE"]}},
        {"filter": {"activities": "INSTALLED"}},
        {"filter": {"since": "not a date"}},
        {"filter": {"since": "2026-10-01T00:00:00"}},
        {"filter": {"appIds": ["garbage"]}},
        {"filter": {"unknown": 1}},
        {"after": "not a cursor"},
        {"search": "x" * 10_000},
    ],
)
async def test_input_coercion_errors(both, acme, variables):
    await _agree(both, DEFAULTS, variables, acme)


LITERAL_ERRORS = [
    '{ viewer { portal { appLog(first: "x") { totalCount } } } }',
    "{ viewer { portal { appLog(first: -1) { totalCount } } } }",
    "{ viewer { portal { appLog(filter: {activities: [NOPE]}) { totalCount } } } }",
    "query ($id: ID!) { node(id: $id) { id } }",
    "query ($id: ID) { node(id: $id) { id } }",
    "{ node { id } }",
    "{ viewer { nope } }",
    "{ viewer }",
    "query { viewer { user { name } } } query B { viewer { user { name } } }",
    # Over the document limits: 16 aliases, 13 deep, more than 50,000 possible nodes.
    "{ %s }" % " ".join(f"a{i}: viewer {{ user {{ name }} }}" for i in range(16)),
    "{ viewer { portal { connectedApps(first: 1) { nodes { log(first: 1) { nodes { app {"
    " log(first: 1) { nodes { app { log(first: 1) { nodes { app { id } } } } } } } } } } } } } }",
    "{ viewer { portal { connectedApps(first: 100) { nodes { log(first: 100) { nodes { app {"
    " connections(first: 10) { nodes { id } } } } } } } } } }",
    # Introspection, which our executor leaves to graphql-core.
    "{ __schema { queryType { name } } }",
    '{ __type(name: "Node") { name possibleTypes { name } } viewer { user { name } } }',
]


@pytest.mark.parametrize("query", LITERAL_ERRORS)
async def test_refused_documents(both, acme, query):
    body = await _agree(both, query, None, acme)
    assert body.get("errors"), body


TYPENAMES = """query ($app: ID!) {
  __typename
  viewer { __typename
    user { __typename teams { __typename } }
    portal { __typename appSummary { __typename }
      connectedApps(first: 3) { __typename
        edges { __typename cursor node { __typename status listing { __typename } } }
        pageInfo { __typename hasNextPage } }
    }
    notifications(first: 2) { __typename nodes { __typename entries { __typename } } }
  }
  node(id: $app) { __typename ... on ConnectedApp { __typename scopes { __typename } } }
  nodes(ids: [$app, "garbage"]) { __typename }
}"""


async def test_typename_everywhere(both, acme, demo):
    app = to_global_id("ConnectedApp", demo.app_ids[d.ERROR_SLUG])
    await _agree(both, TYPENAMES, {"app": app}, acme)


EVERYTHING = """{ viewer {
  user { name teams { name } }
  notifications(first: 5) { totalCount nodes { entries { activity } installRequestNotice
    installRequests { status listing { name } } } }
  portal {
    appSummary { total connected disconnected errored updateAvailable upgradeAvailable }
    connectedApps(first: 20) { totalCount pageInfo { hasNextPage startCursor endCursor }
      nodes { name status installLevel updateAvailable upgradeAvailable manageConnectionsUrl
        uninstalledAt viewerCanManage viewerCanReauthorize installedBy { name }
        pendingScopeChanges { added removed }
        alerts { code resolvedAt acknowledgedAt acknowledgedBy { name } viewerCanAcknowledge }
        scopes { name state required } learningResources { title }
        log(first: 3) { totalCount nodes { activity user { name } alertReason { code message }
          alert { code acknowledgeNote } scopeChanges { added removed } } }
        connections(first: 3) { totalCount nodes { accountName user { name } } } } }
    appLog(first: 30) { totalCount nodes { activity app { name status } user { name }
      scopeChanges { added removed } } }
    notificationRules { totalCount nodes { name apps { name } users { name } teams { name }
      channels webhookUrl slackWebhookUrl webhookHost
      lastDelivery { channel status attempts lastError target isTest periodStart periodEnd
        rule { name } recipient { name } notification { isTest entryCount } } } }
    users(first: 10) { totalCount nodes { name teams { name } } }
    teams { totalCount nodes { name members { totalCount nodes { name } } } }
    deliveries(first: 5) { totalCount nodes { status channel target isTest rule { name }
      recipient { name } notification { isTest } } }
    marketplace(first: 30) { totalCount nodes { name requestedScopes { name state }
      viewerCanInstall viewerCanRequest viewerPendingRequest { status accountName } } }
    installRequestPolicy { durationDays remindersEnabled }
    installRequests(first: 10) { totalCount pageInfo { hasNextPage endCursor }
      nodes { status justification scopes accountName createdAt expiresAt decidedAt decisionNote
        listing { name } requestedBy { name } decidedBy { name } app { name status }
        viewerCanDecide viewerCanCancel } }
  }
} }"""


async def test_empty_lists_and_odd_apps(both, edges):
    # Given a portal with nothing in it, and one with an app with no log, an uninstalled app,
    # MULTI_ACCOUNT apps with and without accounts, an unconnected USER app, an empty team
    for label, tenant in (("empty", edges.empty), ("odd", edges.odd)):
        tokens = {role: tenant.token(person) for person, role in PEOPLE.items()}
        # When everything on the page is asked for, as each of its people
        body = await _agree(both, EVERYTHING, None, tokens)
        # Then both executors agree (on empty lists too)
        portal = body["data"]["viewer"]["portal"]
        if label == "empty":
            assert portal["connectedApps"] == {
                "totalCount": 0,
                "pageInfo": {"hasNextPage": False, "startCursor": None, "endCursor": None},
                "nodes": [],
            }
        else:
            quiet = [a for a in portal["connectedApps"]["nodes"] if a["name"] == "Quiet App"]
            assert quiet[0]["log"] == {"totalCount": 0, "nodes": []}
            # (scope changes of every kind are among them, and a stale grant is pending)
            changes = [n["scopeChanges"] for n in portal["appLog"]["nodes"] if n["scopeChanges"]]
            assert {"added": [], "removed": []} in changes and len(changes) == 4
            pending = [a["pendingScopeChanges"] for a in portal["connectedApps"]["nodes"]]
            assert {"added": [], "removed": ["legacy.write"]} in pending
            # (the webhook rule's newest delivery is the test's in-app one, for those who may
            # see deliveries; its URLs for those who may read them)
            rules = {r["name"]: r for r in portal["notificationRules"]["nodes"]}
            hooked = rules["Hooked Rule"]
            assert hooked["webhookHost"] == "hooks.example.com"
            assert hooked["channels"] == ["IN_APP", "WEBHOOK", "SLACK"]
            assert rules["Quiet Rule"]["lastDelivery"] is None


NESTED = """{ viewer {
  notifications(first: 3) { nodes { entries { app { scopes { name } alerts { code } connections { nodes { user { teams { name } } } } } } } }
  portal {
    notificationRules { nodes { apps { scopes { name state } learningResources { title } } users { teams { name } } teams { members { nodes { teams { name } } } } } }
    connectedApps(first: 30) { edges { node { listing { requestedScopes { name } learningResources { topic } } } } }
  }
} }"""


async def test_nested_lists(both, acme):
    await _agree(both, NESTED, None, acme)


ERRORS = """query ($portal: ID!, $app: ID!) {
  bad: node(id: "garbage") { id }
  a: node(id: $portal) { ... on Portal { appLog(first: -1) { totalCount } name } }
  b: node(id: $portal) { ... on Portal { users(first: 1000) { totalCount } } }
  c: node(id: $app) { ... on ConnectedApp { name log(first: -5) { totalCount } } }
  d: nodes(ids: [$app, "garbage", $portal]) { id ... on ConnectedApp { connections(first: -1) { totalCount } } }
  e: node(id: $app) { ... on ConnectedApp { name log(after: "bad cursor") { totalCount } } }
  viewer { user { name } }
}"""


async def test_several_errors_in_one_document(both, acme, demo):
    variables = {
        "portal": to_global_id("Portal", demo.acme_portal_id),
        "app": to_global_id("ConnectedApp", demo.app_ids[d.ERROR_SLUG]),
    }
    body = await _agree(both, ERRORS, variables, acme)
    assert len(body["errors"]) >= 4


@pytest.fixture(scope="module")
async def big(settings: Settings, demo: Any) -> Tenant:
    """A portal with 60 apps and 500 log entries."""
    tenant = await make_tenant(settings, people=PEOPLE, apps=[f"App {i:02}" for i in range(60)])
    admin = tenant.people["Ada Admin"]
    apps = list(tenant.apps.values())
    activities = [AppActivity.DISCONNECTED, AppActivity.RECONNECTED, AppActivity.REAUTHORIZED]
    entries = []
    for i in range(500 - len(apps)):
        app = apps[i % len(apps)]
        at = app.installed_at + timedelta(minutes=i + 1)
        entries.append(
            m.AppLogEntry(
                portal_id=tenant.portal.id,
                app=app,
                user=admin if i % 3 else None,
                activity=activities[i % 3],
                occurred_at=at,
                recorded_at=at,
            )
        )
    await m.AppLogEntry.bulk_create(entries)
    return tenant


ROWS = """query ($first: Int!) { viewer { portal {
  appLog(first: $first) { totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id activity occurredAt user { name } app { name status log(first: 2) { nodes { activity } } } } } }
  connectedApps(first: $first) { totalCount nodes { id name status viewerCanManage scopes { name state } installedBy { name } } }
} } }"""


@pytest.mark.parametrize("rows", [5, 500])
async def test_results_of_5_and_500_rows(settings, big, rows):
    # Given both executors with pages of up to 500 rows
    async with executors(settings.with_(max_page_size=500)) as wide:
        tokens = {role: big.token(person) for person, role in PEOPLE.items()}
        # When a page of that many rows is asked for
        body = await _agree(wide, ROWS, {"first": rows}, tokens)
    # Then both agree, row for row
    portal = body["data"]["viewer"]["portal"]
    assert len(portal["appLog"]["edges"]) == rows and portal["appLog"]["totalCount"] == 500
    assert len(portal["connectedApps"]["nodes"]) == min(rows, 60)


# ---- several mutations in one document

APP = """id name status uninstalledAt installLevel
  scopes { name state } connections { totalCount }
  log(first: 5) { totalCount nodes { activity user { name } } }"""

MUTATIONS = """mutation ($app: ID!, $listing: ID!) {
  uninstall: uninstallApp(input: {appId: $app}) { app { %(app)s } userErrors { field message code } }
  again: uninstallApp(input: {appId: $app}) { app { id } userErrors { field message code } }
  reinstall: installApp(input: {listingId: $listing}) { app { %(app)s } userErrors { field message code } }
  twice: installApp(input: {listingId: $listing}) { __typename app { id } userErrors { field message code } }
  last: uninstallApp(input: {appId: $app}) { app { %(app)s } userErrors { field message code } }
  portalAfter: reauthorizeApp(input: {appId: $app}) { app { id status } userErrors { field message code } }
}""" % {"app": APP}

_TIMES = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


def _normalised(value: Any, ids: dict[str, str]) -> Any:
    """Ids of the tenant's own objects by order of appearance, and timestamps (the time of the
    request) as a mark: the two tenants differ in nothing else."""
    if isinstance(value, dict):
        return {k: _normalised(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalised(v, ids) for v in value]
    if isinstance(value, str) and _TIMES.match(value):
        return "<time>"
    if isinstance(value, str) and value in ids:
        return ids[value]
    return value


async def test_several_mutations_in_one_document_each_on_its_own_tenant(settings, both, demo):
    # Given two identical portals, one for each executor, each with one installed app
    listing = await make_listing("Twice Installed")
    answers = {}
    for side in ("fast", "reference"):
        tenant = await make_tenant(settings, people=PEOPLE, apps=[listing])
        app = tenant.app_gid()
        variables = {"app": app, "listing": to_global_id("MarketplaceListing", listing.id)}
        client = both.fast if side == "fast" else both.reference
        # When one document uninstalls it, reinstalls it and uninstalls it again
        response = await client.post(
            "/graphql",
            json={"query": MUTATIONS, "variables": variables},
            headers={
                "Authorization": f"Bearer {tenant.token('Ada Admin')}",
                "X-Request-ID": "several-mutations",
            },
        )
        assert response.status_code == 200
        answers[side] = _normalised(response.json(), {app: "<app>"})
    # Then each payload shows the state after its own mutation, the same on both executors
    assert answers["fast"] == answers["reference"]
    data = answers["fast"]["data"]
    assert data["uninstall"]["app"]["status"] is None
    assert data["reinstall"]["app"]["status"] == "CONNECTED"
    assert [e["activity"] for e in data["reinstall"]["app"]["log"]["nodes"]] == [
        "REINSTALLED",
        "UNINSTALLED",
        "INSTALLED",
    ]
    assert data["again"]["userErrors"][0]["code"] == "CONFLICT"
    assert data["twice"]["userErrors"][0]["code"] == "CONFLICT"
    assert data["last"]["app"]["log"]["totalCount"] == 4


# ---- the reference's per-object resolvers are the batch functions behind a loader


class _Parent:
    def __init__(self, value: int) -> None:
        self.value = value


async def _values(_context: object, parents: list[_Parent]) -> list[int]:
    return [parent.value for parent in parents]


async def test_a_batch_loader_answers_for_the_object_it_is_given():
    # Given one request's loader of a batch function (graphql-core's way to the function)
    from gateway.loaders import Loaders

    loader = Loaders().batch(_values, {}, None)
    # When objects come and go during the request, as pages and rows do while it completes
    answers = []
    for value in range(20):
        parent = _Parent(value)
        answers.append(await loader.load(parent))
    # Then each object gets its own value, never one cached for an object gone before it
    assert answers == list(range(20))


# ---- createAppLogExport: its payload, refused and made

EXPORT = """mutation ($app: ID!) {
  refused: createAppLogExport(input: {format: CSV, filter: {appIds: [$app, "nope"], userIds: []}}) {
    url expiresAt userErrors { field message code }
  }
  made: createAppLogExport(input: {format: NDJSON, filter: {appIds: [$app], activities: [INSTALLED]}, bom: true}) {
    __typename url expiresAt userErrors { field message code }
  }
}"""

_LINK_TOKEN = re.compile(r"token=[A-Za-z0-9_.-]+")


async def test_create_app_log_export_answers_alike_on_both_executors(settings, both, demo):
    tenant = await make_tenant(settings, people=PEOPLE, apps=["Exported"])
    answers = {}
    for side, client in (("fast", both.fast), ("reference", both.reference)):
        response = await client.post(
            "/graphql",
            json={"query": EXPORT, "variables": {"app": tenant.app_gid()}},
            headers={"Authorization": f"Bearer {tenant.token('Ada Admin')}"},
        )
        assert response.status_code == 200
        # Each link has a nonce of its own, and its expiry is the time of the request.
        text = _LINK_TOKEN.sub("token=<token>", response.text)
        answers[side] = _normalised(json.loads(text), {})
    assert answers["fast"] == answers["reference"]
    data = answers["fast"]["data"]
    assert data["refused"]["url"] is None and len(data["refused"]["userErrors"]) == 2
    assert data["made"]["userErrors"] == [] and data["made"]["expiresAt"] == "<time>"
    assert data["made"]["url"] == (
        f"/export/app-log?format=ndjson&activities=INSTALLED&appIds={tenant.app_gid().replace('=', '%3D')}"
        "&bom=1&token=<token>"
    )
