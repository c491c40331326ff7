"""Errors in the log, alerts acknowledged, told once (DESIGN §6): ERROR_RAISED when an alert
opens or its reason changes, keeping the reason it announced; ERROR_RESOLVED; nothing for a
repeat, a lower severity or a stale report; APP_ERROR digests telling each reason once; and
acknowledgement: who may, what it records, `needsAttention`, its clearing and its publication."""

from __future__ import annotations

import email
import email.policy
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from gateway.auth import mint_token
from gateway.models import AppAlert, Notification
from gateway.models.enums import (
    NotificationType,
    Permission,
)
from gateway.worker import run_pass
from tests import factories as f
from tests import test_events
from tests.helpers import data, gid, gql
from tests.test_events import (
    World,
    app_event,
    change,
    envelope,
    error_event,
    now,
    published,
    send,
)
from tests.test_mail import parts

# The events tests' portal: three apps of shared listings, and Ada Admin's token.
listings = test_events.listings
world = test_events.world

LOG = """query($id: ID!) { node(id: $id) { ... on ConnectedApp { log(first: 50) { nodes {
  activity user { name } alertReason { severity code message } alert { id message resolvedAt }
} } } } }"""
ALERTS = """query($id: ID!) { node(id: $id) { ... on ConnectedApp { status alerts {
  id acknowledgedAt acknowledgedBy { name } acknowledgeNote viewerCanAcknowledge } } } }"""
ATTENTION = """query($attention: Boolean!) { viewer { portal {
  appSummary { errored }
  connectedApps(first: 50, filter: { needsAttention: $attention }) { nodes { name status } } } } }"""
ACKNOWLEDGE = """mutation($input: AcknowledgeAlertInput!) { acknowledgeAlert(input: $input) {
  alert { id acknowledgedAt acknowledgedBy { name } acknowledgeNote viewerCanAcknowledge }
  userErrors { code message field } } }"""


async def log_of(client: httpx.AsyncClient, world: World) -> list[tuple[Any, ...]]:
    """(activity, user, reason announced, the alert's message now) per entry, newest first."""
    view = await data(client, LOG, {"id": gid("ConnectedApp", world.app.id)}, token=world.token)
    return [
        (
            n["activity"],
            n["user"],
            tuple(n["alertReason"].values()) if n["alertReason"] else None,
            n["alert"]["message"] if n["alert"] else None,
        )
        for n in view["node"]["log"]["nodes"]
    ]


async def test_each_opening_and_change_of_reason_is_logged_once_with_its_reason(client, world):
    t = now() - timedelta(minutes=30)

    async def report(minutes: int, severity: str, message: str, code: str = "sync") -> None:
        at = t + timedelta(minutes=minutes)
        await send(client, error_event(world.app, code, at, severity, message))

    await report(0, "WARNING", "Sync is slow")  # opens: logged
    await report(1, "WARNING", "Sync is slow")  # the same report again: nothing
    await report(2, "INFO", "Sync is slow")  # a lower severity, same message: nothing
    await report(3, "ERROR", "Sync is slow")  # a higher severity: logged
    await report(4, "ERROR", "Sync failed")  # another message: logged
    await report(-1, "ERROR", "Stale news")  # older than the alert's last change: nothing
    await send(client, app_event("app.recovered", world.app, t + timedelta(minutes=5)))

    assert await log_of(client, world) == [
        ("ERROR_RESOLVED", None, ("ERROR", "sync", "Sync failed"), "Sync failed"),
        ("ERROR_RAISED", None, ("ERROR", "sync", "Sync failed"), "Sync failed"),
        # each entry keeps the reason it announced; its alert shows the message as it is now
        ("ERROR_RAISED", None, ("ERROR", "sync", "Sync is slow"), "Sync failed"),
        ("ERROR_RAISED", None, ("WARNING", "sync", "Sync is slow"), "Sync failed"),
        ("INSTALLED", {"name": "Ada Admin"}, None, None),
    ]
    view = await data(client, LOG, {"id": gid("ConnectedApp", world.app.id)}, token=world.token)
    alert = await AppAlert.get(app_id=world.app.id)
    linked = {n["alert"]["id"] for n in view["node"]["log"]["nodes"] if n["alert"]}
    assert linked == {gid("AppAlert", alert.id)}
    assert all(n["alert"]["resolvedAt"] for n in view["node"]["log"]["nodes"] if n["alert"])


async def test_an_app_error_rule_digest_tells_each_reason_once(
    client, world, settings, tmp_path: Path, app
):
    t = now() - timedelta(minutes=30)
    rule = await f.make_rule(world.portal, "Errors", NotificationType.APP_ERROR, t, email=True)
    for minutes, code, message in [
        (1, "sync", "Sync is slow"),
        (2, "sync", "Sync is slow"),  # a repeat: not told again
        (3, "sync", "Sync failed"),  # a new reason: told
        (4, "auth", "Token revoked"),
    ]:
        at = t + timedelta(minutes=minutes)
        await send(client, error_event(world.app, code, at, "ERROR", message))
    await send(client, app_event("app.recovered", world.app, t + timedelta(minutes=5)))

    mail = tmp_path / "mail"
    result = await run_pass(
        now() + timedelta(hours=2),
        settings.with_(smtp_url=None, mail_dir=str(mail)),
        app.state.publisher,
        "test-worker",
        portal_ids=[world.portal.id],
    )
    assert result.digests == 1
    [notification] = await Notification.filter(rule_id=rule.id)
    assert notification.entry_count == 3  # the raised entries only
    [digest] = [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in mail.glob("*.eml")
        if f"@{world.portal.id}.test" in p.read_text()
    ]
    body, _html = parts(digest)
    assert digest["Subject"].startswith("Errors: 3 app errors")
    for reason in (
        "ERROR sync: Sync is slow",
        "ERROR sync: Sync failed",
        "ERROR auth: Token revoked",
    ):
        assert body.count(reason) == 1, body
    assert "resolved" not in body


async def alerts_seen(client: httpx.AsyncClient, world: World, token: str) -> list[dict[str, Any]]:
    view = await data(client, ALERTS, {"id": gid("ConnectedApp", world.app.id)}, token=token)
    alerts: list[dict[str, Any]] = view["node"]["alerts"]
    return alerts


async def acknowledge(
    client: httpx.AsyncClient, token: str, alert_id: str, note: str | None = None
) -> dict[str, Any]:
    body = await gql(
        client, ACKNOWLEDGE, {"input": {"alertId": alert_id, "note": note}}, token=token
    )
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["acknowledgeAlert"]
    return result


async def test_holders_of_approve_scopes_or_uninstall_apps_acknowledge_once(
    client, world, settings
):
    await send(client, error_event(world.app, "sync", now(), "ERROR", "Sync failed"))
    tokens = {"Ada Admin": world.token}
    for permission in Permission:
        user = await f.make_user(world.portal, permission.value.title(), permissions=[permission])
        tokens[permission.value] = mint_token(user, settings)
    tokens["Nobody"] = mint_token(await f.make_user(world.portal, "Nobody"), settings)

    may = {
        name: (await alerts_seen(client, world, t))[0]["viewerCanAcknowledge"]
        for name, t in tokens.items()
    }
    assert may == {
        "Ada Admin": True,
        "INSTALL_APPS": False,
        "APPROVE_SCOPES": True,
        "UNINSTALL_APPS": True,
        "MANAGE_NOTIFICATIONS": False,
        "Nobody": False,
    }
    [alert] = await alerts_seen(client, world, world.token)
    for name in ("INSTALL_APPS", "MANAGE_NOTIFICATIONS", "Nobody"):
        refused = await acknowledge(client, tokens[name], alert["id"], "mine")
        assert refused == {
            "alert": None,
            "userErrors": [
                {
                    "code": "FORBIDDEN",
                    "message": "Requires the APPROVE_SCOPES or UNINSTALL_APPS permission",
                    "field": ["input", "alertId"],
                }
            ],
        }
    assert await alerts_seen(client, world, world.token) == [alert]  # unchanged

    done = await acknowledge(client, tokens["APPROVE_SCOPES"], alert["id"], "Vendor is on it")
    assert done["userErrors"] == []
    acknowledged = done["alert"]
    assert acknowledged["acknowledgedBy"] == {"name": "Approve_Scopes"}
    assert acknowledged["acknowledgeNote"] == "Vendor is on it"
    assert acknowledged["acknowledgedAt"] is not None
    assert acknowledged["viewerCanAcknowledge"] is False

    # a second acknowledgement is refused and keeps the first
    again = await acknowledge(client, tokens["UNINSTALL_APPS"], alert["id"], "me too")
    assert again["userErrors"] == [
        {
            "code": "CONFLICT",
            "message": "The alert is acknowledged already",
            "field": ["input", "alertId"],
        }
    ]
    [seen] = await alerts_seen(client, world, world.token)
    assert (seen["acknowledgedBy"], seen["acknowledgeNote"]) == (
        {"name": "Approve_Scopes"},
        "Vendor is on it",
    )


async def attention(client: httpx.AsyncClient, world: World, flag: bool) -> tuple[int, list[str]]:
    portal = (await data(client, ATTENTION, {"attention": flag}, token=world.token))["viewer"][
        "portal"
    ]
    return portal["appSummary"]["errored"], [n["name"] for n in portal["connectedApps"]["nodes"]]


async def test_an_acknowledged_error_needs_no_attention_until_its_reason_changes(
    client, world, envelopes
):
    t = now() - timedelta(minutes=30)
    await send(client, error_event(world.app, "sync", t, "ERROR", "Sync failed"))
    name = world.app.name
    assert await attention(client, world, True) == (1, [name])
    [alert] = await alerts_seen(client, world, world.token)
    (await envelopes.settled()).clear()

    assert (await acknowledge(client, world.token, alert["id"]))["userErrors"] == []
    # still ERROR and still counted as errored (that is the truth), but no longer needing attention
    assert await attention(client, world, True) == (1, [])
    assert name in (await attention(client, world, False))[1]
    view = await data(client, ALERTS, {"id": gid("ConnectedApp", world.app.id)}, token=world.token)
    assert view["node"]["status"] == "ERROR"
    # open consoles hear of it: a status change to the same status
    row = await AppAlert.get(app_id=world.app.id)
    assert row.acknowledged_at is not None
    assert published(await envelopes.settled()) == [
        envelope(
            world.portal.id, [], [change(world.app, "ERROR", "ERROR", row.acknowledged_at, row.id)]
        )
    ]

    # the same report again keeps the acknowledgement
    await send(
        client, error_event(world.app, "sync", t + timedelta(minutes=1), "ERROR", "Sync failed")
    )
    assert await attention(client, world, True) == (1, [])
    # a new reason clears it: the app needs attention again
    await send(
        client, error_event(world.app, "sync", t + timedelta(minutes=2), "ERROR", "Sync broke")
    )
    [seen] = await alerts_seen(client, world, world.token)
    assert (seen["acknowledgedAt"], seen["acknowledgedBy"], seen["viewerCanAcknowledge"]) == (
        None,
        None,
        True,
    )
    assert await attention(client, world, True) == (1, [name])
    # and so does a second, unacknowledged alert beside an acknowledged one
    assert (await acknowledge(client, world.token, seen["id"]))["userErrors"] == []
    assert await attention(client, world, True) == (1, [])
    await send(client, error_event(world.app, "auth", t + timedelta(minutes=3), "ERROR", "Revoked"))
    assert await attention(client, world, True) == (1, [name])


async def test_refused_acknowledgements_change_nothing(client, world, settings):
    await send(client, error_event(world.app, "sync", now() - timedelta(minutes=5)))
    await send(client, error_event(world.other, "old", now() - timedelta(minutes=5)))
    await send(client, app_event("app.recovered", world.other, now(), alert={"code": "old"}))
    open_alert = await AppAlert.get(app_id=world.app.id)
    resolved = await AppAlert.get(app_id=world.other.id)
    elsewhere = await f.make_tenant(settings, apps=["Foreign"])
    foreign = await f.alert(elsewhere.apps["Foreign"])
    before = await AppAlert.all().order_by("id").values()

    async def refusal(alert_id: str, note: str | None = None) -> tuple[str, str]:
        [error] = (await acknowledge(client, world.token, alert_id, note))["userErrors"]
        return error["code"], error["message"]

    assert await refusal(gid("AppAlert", resolved.id)) == ("CONFLICT", "The alert is resolved")
    assert await refusal(gid("AppAlert", foreign.id)) == ("NOT_FOUND", "No such alert")
    assert await refusal(gid("AppAlert", 10**9)) == ("NOT_FOUND", "No such alert")
    assert await refusal(gid("ConnectedApp", open_alert.id)) == (
        "INVALID",
        "Not a valid AppAlert id",
    )
    own = gid("AppAlert", open_alert.id)
    assert await refusal(own, "x" * 501) == ("INVALID", "`note` is longer than 500 characters")
    assert await refusal(own, "two\nlines") == ("INVALID", "`note` contains a control character")
    assert await AppAlert.all().order_by("id").values() == before
    # the other tenant's people cannot acknowledge this portal's alert either
    [error] = (await acknowledge(client, elsewhere.token("Ada Admin"), own))["userErrors"]
    assert error["code"] == "NOT_FOUND"
    assert await AppAlert.all().order_by("id").values() == before
