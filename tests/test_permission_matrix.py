"""Every permission × every governed action through the API (DESIGN §6 "Governance"): a person
holding one permission each, nobody, and a super admin try each action on targets made for
the try; exactly the holders of the action's permission succeed, and every refusal names what
is missing and changes nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.fernet import Fernet

from gateway import models as m
from gateway.auth import mint_token
from gateway.models.enums import (
    InstallLevel,
    NotificationFrequency,
    NotificationType,
    Permission,
    SubscriptionTier,
)
from gateway.settings import Settings
from tests import factories as f
from tests.helpers import gid, gql

ADMIN = "Super Admin"
NOBODY = "Nobody"
OWNER = "Owner"  # a member whose connections and requests others act on
ACTORS = (NOBODY, *(p.value for p in Permission), ADMIN)

# What is asked of each executor here is only a mutation's userErrors: one executor suffices
# (the API suite runs every field on both), and CI keeps the other's 84 runs.
pytestmark = pytest.mark.one_executor


@dataclass
class World:
    portal: m.Portal
    people: dict[str, m.User]
    tokens: dict[str, str]


@pytest.fixture(scope="module")
async def world(app, settings: Settings) -> World:
    """One portal for every case: each case makes its own targets in it."""
    portal = await f.make_portal(tier=SubscriptionTier.PROFESSIONAL)
    people = {
        ADMIN: await f.make_user(portal, ADMIN, super_admin=True),
        NOBODY: await f.make_user(portal, NOBODY),
        OWNER: await f.make_user(portal, OWNER),
    }
    for permission in Permission:
        people[permission.value] = await f.make_user(
            portal, permission.value, permissions=[permission]
        )
    return World(portal, people, {name: mint_token(u, settings) for name, u in people.items()})


# --- the targets each action needs, made afresh per case ------------------------------------


async def _app(w: World, **kw: Any) -> m.ConnectedApp:
    return await f.install(w.portal, await f.make_listing(**kw), w.people[ADMIN])


async def install_input(w: World) -> dict[str, Any]:
    return {"listingId": gid("MarketplaceListing", (await f.make_listing()).id)}


async def add_account_input(w: World) -> dict[str, Any]:
    app = await _app(w, level=InstallLevel.MULTI_ACCOUNT)
    await f.connect(app, w.people[OWNER], f.T0, "acct-one")
    return {"listingId": gid("MarketplaceListing", app.listing_id), "accountName": "acct-two"}


async def reinstall_input(w: World) -> dict[str, Any]:
    app = await _app(w)
    await m.ConnectedApp.filter(id=app.id).update(uninstalled_at=f.T0)
    await m.GrantedScope.filter(app_id=app.id).delete()  # an uninstall revokes the grants
    return {"listingId": gid("MarketplaceListing", app.listing_id)}


async def reauthorize_input(w: World) -> dict[str, Any]:
    scopes = [("basic.read", SubscriptionTier.FREE, True), ("extra", SubscriptionTier.FREE, False)]
    listing = await f.make_listing(scopes=scopes)
    app = await f.install(w.portal, listing, w.people[ADMIN], grant=["basic.read"])
    return {"appId": gid("ConnectedApp", app.id)}


async def uninstall_input(w: World) -> dict[str, Any]:
    return {"appId": gid("ConnectedApp", (await _app(w)).id)}


async def remove_connection_input(w: World) -> dict[str, Any]:
    app = await _app(w, level=InstallLevel.USER)
    connection = await f.connect(app, w.people[OWNER], f.T0)
    await f.connect(app, w.people[ADMIN], f.T0)  # not the last: the app stays
    return {"connectionId": gid("AppConnection", connection.id)}


def _rule_input() -> dict[str, Any]:
    return {
        "name": f.unique("Rule"),
        "type": "APP_INSTALL",
        "frequency": "DAILY",
        "allApps": True,
        "audience": "SUPER_ADMINS",
        "channels": ["IN_APP"],
    }


async def create_rule_input(w: World) -> dict[str, Any]:
    return _rule_input()


async def _rule(w: World) -> str:
    rule = await f.make_rule(
        w.portal,
        f.unique("Rule"),
        NotificationType.APP_INSTALL,
        datetime.now(UTC),
        frequency=NotificationFrequency.DAILY,
    )
    return gid("NotificationRule", rule.id)


async def update_rule_input(w: World) -> dict[str, Any]:
    return {"id": await _rule(w), "name": f.unique("Renamed")}


async def delete_rule_input(w: World) -> dict[str, Any]:
    return {"id": await _rule(w)}


async def send_test_input(w: World) -> dict[str, Any]:
    return {"ruleId": await _rule(w)}  # in-app: the sample reaches the viewer's inbox


async def rotate_secret_input(w: World) -> dict[str, Any]:
    rule = await f.make_rule(
        w.portal, f.unique("Hook"), NotificationType.APP_INSTALL, datetime.now(UTC)
    )
    await m.NotificationRule.filter(id=rule.id).update(webhook_url="https://hooks.example/in")
    return {"ruleId": gid("NotificationRule", rule.id)}


async def acknowledge_input(w: World) -> dict[str, Any]:
    return {"alertId": gid("AppAlert", (await f.alert(await _app(w))).id), "note": "seen"}


async def _request(w: World) -> str:
    listing = await f.make_listing()
    request = await f.make_request(w.portal, listing, w.people[OWNER], datetime.now(UTC))
    return gid("InstallRequest", request.id)


async def approve_input(w: World) -> dict[str, Any]:
    return {"requestId": await _request(w)}


async def deny_input(w: World) -> dict[str, Any]:
    return {"requestId": await _request(w), "note": "Not this quarter"}


async def set_permissions_input(w: World) -> dict[str, Any]:
    target = await f.make_user(w.portal)
    return {"userId": gid("User", target.id), "permissions": ["INSTALL_APPS"]}


async def policy_input(w: World) -> dict[str, Any]:
    return {"durationDays": 14}


# --- the actions ----------------------------------------------------------------------------


def _mutation(field: str, input_type: str) -> str:
    return (
        f"mutation($input: {input_type}!) {{ {field}(input: $input) "
        "{ userErrors { code message } } }"
    )


@dataclass(frozen=True)
class Action:
    field: str
    input_type: str
    make_input: Callable[[World], Awaitable[dict[str, Any]]]
    allowed: frozenset[str]
    refusal: tuple[str, str]  # what everyone else gets: (code, message)
    # Settings beyond the suite's that the action needs to succeed (its client's app has them).
    needs: tuple[tuple[str, Any], ...] = ()


def _holders(*permissions: Permission) -> frozenset[str]:
    return frozenset({ADMIN, *(p.value for p in permissions)})


def _requires(permission: Permission) -> tuple[str, str]:
    return ("FORBIDDEN", f"Requires the {permission.value} permission")


INSTALL, APPROVE, UNINSTALL, NOTIFY = (
    Permission.INSTALL_APPS,
    Permission.APPROVE_SCOPES,
    Permission.UNINSTALL_APPS,
    Permission.MANAGE_NOTIFICATIONS,
)
ACTIONS = {
    "install": Action(
        "installApp", "InstallAppInput", install_input, _holders(INSTALL), _requires(INSTALL)
    ),
    "add account": Action(
        "installApp", "InstallAppInput", add_account_input, _holders(INSTALL), _requires(INSTALL)
    ),
    "reinstall": Action(
        "installApp", "InstallAppInput", reinstall_input, _holders(INSTALL), _requires(INSTALL)
    ),
    "reauthorize": Action(
        "reauthorizeApp",
        "ReauthorizeAppInput",
        reauthorize_input,
        _holders(APPROVE),
        _requires(APPROVE),
    ),
    "uninstall": Action(
        "uninstallApp",
        "UninstallAppInput",
        uninstall_input,
        _holders(UNINSTALL),
        _requires(UNINSTALL),
    ),
    "remove someone's connection": Action(
        "removeAppConnection",
        "RemoveAppConnectionInput",
        remove_connection_input,
        _holders(UNINSTALL),
        _requires(UNINSTALL),
    ),
    "create rule": Action(
        "createNotificationRule",
        "CreateNotificationRuleInput",
        create_rule_input,
        _holders(NOTIFY),
        _requires(NOTIFY),
    ),
    "update rule": Action(
        "updateNotificationRule",
        "UpdateNotificationRuleInput",
        update_rule_input,
        _holders(NOTIFY),
        _requires(NOTIFY),
    ),
    "delete rule": Action(
        "deleteNotificationRule",
        "DeleteNotificationRuleInput",
        delete_rule_input,
        _holders(NOTIFY),
        _requires(NOTIFY),
    ),
    "send test notification": Action(
        "sendTestNotification",
        "SendTestNotificationInput",
        send_test_input,
        _holders(NOTIFY),
        _requires(NOTIFY),
    ),
    "rotate a webhook's secret": Action(
        "rotateNotificationRuleSecret",
        "RotateNotificationRuleSecretInput",
        rotate_secret_input,
        _holders(NOTIFY),
        _requires(NOTIFY),
        needs=(("secrets_key", Fernet.generate_key().decode()),),
    ),
    "acknowledge alert": Action(
        "acknowledgeAlert",
        "AcknowledgeAlertInput",
        acknowledge_input,
        _holders(APPROVE, UNINSTALL),
        ("FORBIDDEN", "Requires the APPROVE_SCOPES or UNINSTALL_APPS permission"),
    ),
    # Only reviewers see others' requests: to anyone else another's request does not exist.
    "approve request": Action(
        "approveInstallRequest",
        "DecideInstallRequestInput",
        approve_input,
        _holders(INSTALL),
        ("NOT_FOUND", "No such install request"),
    ),
    "deny request": Action(
        "denyInstallRequest",
        "DecideInstallRequestInput",
        deny_input,
        _holders(INSTALL),
        ("NOT_FOUND", "No such install request"),
    ),
    "set permissions": Action(
        "setUserPermissions",
        "SetUserPermissionsInput",
        set_permissions_input,
        _holders(),
        ("FORBIDDEN", "Only super admins set permissions"),
    ),
    "set request policy": Action(
        "updateInstallRequestPolicy",
        "UpdateInstallRequestPolicyInput",
        policy_input,
        _holders(),
        ("FORBIDDEN", "Only super admins set the install request policy"),
    ),
}


async def snapshot(portal_id: int) -> list[Any]:
    """Everything an action of the portal may change."""
    tables: list[Any] = [
        m.Portal.filter(id=portal_id),
        m.User.filter(portal_id=portal_id),
        m.ConnectedApp.filter(portal_id=portal_id),
        m.AppConnection.filter(app__portal_id=portal_id),
        m.GrantedScope.filter(app__portal_id=portal_id),
        m.AppAlert.filter(app__portal_id=portal_id),
        m.AppLogEntry.filter(portal_id=portal_id),
        m.NotificationRule.filter(portal_id=portal_id),
        m.Notification.filter(portal_id=portal_id),
        m.InstallRequest.filter(portal_id=portal_id),
    ]
    return [await t.order_by("id").values() for t in tables]


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("name", list(ACTIONS))
async def test_exactly_the_holders_of_an_actions_permission_may_take_it(
    client, make_client, world: World, name: str, actor: str
):
    action = ACTIONS[name]
    # given a target made for this try
    input_ = await action.make_input(world)
    before = await snapshot(world.portal.id)
    # when the person tries the action
    async with make_client(**dict(action.needs)) if action.needs else nullcontext(client) as c:
        body = await gql(
            c,
            _mutation(action.field, action.input_type),
            {"input": input_},
            token=world.tokens[actor],
        )
    assert "errors" not in body, body
    errors = body["data"][action.field]["userErrors"]
    if actor in action.allowed:
        # then its holders succeed
        assert errors == [], (name, actor)
        assert await snapshot(world.portal.id) != before
    else:
        # and everyone else is refused, told why, and nothing changes
        assert [(e["code"], e["message"]) for e in errors] == [action.refusal], (name, actor)
        assert await snapshot(world.portal.id) == before
