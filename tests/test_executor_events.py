"""A subscription's events executed by our executor (`FastExecutor.execute_event`) against
graphql-core's own per-event execution, under issue 9's comparison (tests/executor_support.py):
every kind of event root (status changes, log entries, notifications) from the demo data, as
three viewers, over documents with fragments, aliases, directives, variables, nested pages and
viewer-dependent fields, and events whose objects are gone."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import timedelta
from typing import Any, cast

import pytest
from graphql import parse
from strawberry.utils.await_maybe import await_maybe

from gateway import demo as d
from gateway import models as m
from gateway.context import Context
from gateway.errors import present_errors
from gateway.executor import reference_event
from gateway.ids import to_global_id
from gateway.models.enums import AppStatus
from gateway.schema.schema import GatewaySchema, build_schema
from gateway.services.envelopes import StatusChange
from gateway.settings import Settings
from tests.executor_support import Answer, differences

pytestmark = [
    pytest.mark.filterwarnings(
        # graphql-core leaves the coroutines of sibling fields unawaited when a null
        # propagates past them (the reference's habit): collected when the module ends.
        r"ignore:Exception ignored in. <coroutine object (Executor|GraphQLCoreConverter)\.:pytest.PytestUnraisableExceptionWarning"
    ),
    pytest.mark.usefixtures("abandoned_coroutines_collected"),
    # Each test builds both executors' schemas itself: the app's own executor is one of them.
    pytest.mark.parametrize("settings", ["fast"], indirect=True),
]

APP = """
  id name installLevel status installedAt uninstalledAt updateAvailable upgradeAvailable
  viewerCanManage manageConnectionsUrl
  installedBy { id name email isSuperAdmin canManageApps }
  alerts { id severity code message raisedAt resolvedAt }
  scopes { name state requiredTier required }
  listing { slug name requestedScopes { name state } }
  log(first: 2) { totalCount pageInfo { hasNextPage endCursor } nodes { id activity user { name } } }
  connections(first: 1) { totalCount }
"""

DOCUMENTS = [
    "subscription { appStatusChanged { __typename previousStatus status occurredAt } }",
    f"subscription {{ appStatusChanged {{ status app {{ {APP} }} alert {{ id code }} }} }}",
    """subscription S($ids: [ID!], $withApp: Boolean!) {
      changed: appStatusChanged(appIds: $ids) {
        ...Change
        again: app @include(if: $withApp) { id viewerCanManage }
        alert @skip(if: $withApp) { __typename severity }
      }
    }
    fragment Change on AppStatusChange { previousStatus app { name status } }""",
    f"""subscription L($filter: AppLogFilter) {{
      appLogAppended(filter: $filter) {{
        __typename id activity occurredAt user {{ id name teams {{ name }} }} app {{ {APP} }}
      }}
    }}""",
    """subscription { entry: appLogAppended { id ... on AppLogEntry { app { id } } } }""",
    """subscription {
      notificationReceived {
        __typename id type periodStart periodEnd entryCount readAt
        rule { id } entries { id activity app { name viewerCanManage } user { email } }
      }
    }""",
]

VARIABLES: list[dict[str, Any]] = [
    {"ids": None, "withApp": True},
    {"ids": [], "withApp": False},
    {"filter": {"activities": ["INSTALLED", "UNINSTALLED"]}},
    {},
]

_request_ids = itertools.count(1)


def _schema(settings: Settings, executor: str) -> GatewaySchema:
    return cast(GatewaySchema, build_schema(replace(settings, executor=executor)))


async def _events(demo: Any) -> list[Any]:
    """Every kind of event root, the odd ones included: a change of an app that is gone, an
    alert that is gone, entries and notifications of the demo data."""
    portal = demo.acme_portal_id
    apps = await m.ConnectedApp.filter(portal_id=portal).order_by("id")
    alerts = {a.app_id: a.id for a in await m.AppAlert.filter(app__portal_id=portal)}
    at = demo.anchor - timedelta(minutes=5)
    statuses = [None, *AppStatus]
    changes = [
        StatusChange(app.id, statuses[i % 4], statuses[(i + 1) % 4], at, alerts.get(app.id))
        for i, app in enumerate(apps)
    ]
    changes += [
        StatusChange(10**9, AppStatus.CONNECTED, None, at),  # an app that is gone
        StatusChange(apps[0].id, None, AppStatus.ERROR, at, 10**9),  # an alert that is gone
    ]
    entries = await m.AppLogEntry.filter(portal_id=portal).order_by("-id").limit(25)
    notifications = await m.Notification.filter(recipient__portal_id=portal).limit(10)
    assert changes and entries and notifications  # the demo data has each kind
    return [*changes, *entries, *notifications]


def _matches(document: str, event: Any) -> bool:
    """Whether `event` is what the document's subscription field yields."""
    if isinstance(event, StatusChange):
        return "appStatusChanged" in document
    if isinstance(event, m.AppLogEntry):
        return "appLogAppended" in document
    return "notificationReceived" in document


async def _answer(
    schema: Any, settings: Settings, viewer: m.User, document: str, event: Any, variables: Any
) -> Answer:
    rid = f"events-{next(_request_ids)}"
    context = Context(
        settings=settings,
        viewer=viewer,
        portal=await viewer.portal,
        request_id=rid,
        publisher=None,  # type: ignore[arg-type]  # an event publishes nothing
    )
    parsed = parse(document)
    if schema.fast_executor is not None:
        executed = schema.fast_executor.execute_event(
            schema._schema, parsed, event, context, variables
        )
    else:
        executed = reference_event(schema._schema, parsed, event, context, variables)
    result = await await_maybe(executed)
    errors = present_errors(list(result.errors or []), "events", debug=False)
    body: dict[str, Any] = {"data": result.data}
    if errors:
        body["errors"] = [e.formatted for e in errors]
    return Answer(200, body)


async def test_events_execute_as_graphql_core_executes_them(settings: Settings, demo: Any) -> None:
    # Given both executors, the demo's viewers, and events of every kind
    fast = _schema(settings, "fast")
    reference = _schema(settings, "reference")
    assert fast.fast_executor is not None and reference.fast_executor is None
    viewers = [
        await m.User.get(email=email, portal_id=demo.acme_portal_id)
        for email in (d.ADMIN_EMAIL, d.MANAGER_EMAIL, d.MEMBER_EMAIL)
    ]
    events = await _events(demo)
    some_app = to_global_id("ConnectedApp", events[0].app_id)
    variables = [*VARIABLES, {"ids": [some_app], "withApp": True}]
    compared, failures = 0, []
    # When each document runs for each event it can receive, as each viewer, on both sides
    for document, event, viewer, values in itertools.product(DOCUMENTS, events, viewers, variables):
        if not _matches(document, event) or (values and "$" not in document):
            continue
        ours = await _answer(fast, settings, viewer, document, event, values)
        theirs = await _answer(reference, settings, viewer, document, event, values)
        compared += 1
        if found := differences(ours, theirs):
            failures.append("\n".join([document, f"event {event!r}", *found]))
    # Then every answer agrees (and errors, where objects are gone, agree too)
    assert compared > 200
    assert not failures, f"{len(failures)} of {compared} differ; first:\n{failures[0]}"


async def test_our_executor_runs_events_without_falling_back(settings: Settings, demo: Any) -> None:
    # Given the fast schema's executor, which counts what it hands to graphql-core
    fast = _schema(settings, "fast")
    executor = fast.fast_executor
    assert executor is not None
    viewer = await m.User.get(email=d.ADMIN_EMAIL, portal_id=demo.acme_portal_id)
    event = (await _events(demo))[0]
    # When an event of a subscription runs
    answer = await _answer(fast, settings, viewer, DOCUMENTS[1], event, None)
    # Then our engine ran it, and it reads the app the event names
    assert executor.plans.fallbacks == 0
    app = answer.body["data"]["appStatusChanged"]["app"]
    assert app["id"] == to_global_id("ConnectedApp", event.app_id)
