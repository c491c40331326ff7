"""The four permissions (DESIGN §6 "Permissions"): super admins set the others', each governs
exactly its own actions, refusals name the permission, and the old flags keep their promise."""

from __future__ import annotations

from typing import Any

import httpx

from gateway.auth import mint_token
from gateway.models import User
from gateway.models.enums import InstallLevel, Permission, SubscriptionTier
from tests import factories as f
from tests.helpers import data, gid, gql

SET = """mutation($input: SetUserPermissionsInput!) { setUserPermissions(input: $input) {
  user { id permissions permissionsChangedAt permissionsChangedBy { name } canManageApps }
  userErrors { code message field } } }"""
PERSON = """query($id: ID!) { node(id: $id) { ... on User {
  permissions permissionsChangedAt canManageApps } } }"""
APP = """query($id: ID!) { node(id: $id) { ... on ConnectedApp {
  viewerCanUninstall viewerCanReauthorize viewerCanManage } } }"""
INSTALL = """mutation($input: InstallAppInput!) { installApp(input: $input) {
  app { id } userErrors { code message } } }"""
UNINSTALL = """mutation($input: UninstallAppInput!) { uninstallApp(input: $input) {
  app { id } userErrors { code message } } }"""
REAUTHORIZE = """mutation($input: ReauthorizeAppInput!) { reauthorizeApp(input: $input) {
  app { id } userErrors { code message } } }"""
CREATE_RULE = """mutation($input: CreateNotificationRuleInput!) {
  createNotificationRule(input: $input) { rule { id viewerCanEdit } userErrors { code message } } }"""
RULE = {
    "name": "Installs",
    "type": "APP_INSTALL",
    "frequency": "DAILY",
    "allApps": True,
    "audience": "SUPER_ADMINS",
    "channels": ["IN_APP"],
}


async def payload(client: httpx.AsyncClient, mutation: str, token: str, **input: Any) -> Any:
    body = await gql(client, mutation, {"input": input}, token=token)
    assert "errors" not in body, body
    (result,) = body["data"].values()
    return result


async def test_a_super_admin_sets_a_users_permissions_and_it_is_recorded(client, settings):
    tenant = await f.make_tenant(settings, people={"Ada Admin": "admin", "Mia Member": "member"})
    member = gid("User", tenant.people["Mia Member"].id)
    # when a super admin gives a member two permissions
    result = await payload(
        client,
        SET,
        tenant.token("Ada Admin"),
        userId=member,
        permissions=["UNINSTALL_APPS", "INSTALL_APPS", "INSTALL_APPS"],
    )
    # then the member holds exactly those, in the enum's order, and who and when is recorded
    assert result["userErrors"] == []
    user = result["user"]
    assert user["permissions"] == ["INSTALL_APPS", "UNINSTALL_APPS"]
    assert user["permissionsChangedBy"] == {"name": "Ada Admin"}
    assert user["permissionsChangedAt"] is not None
    assert user["canManageApps"] is False  # the old flag promises all three
    # and setting them again replaces them
    result = await payload(client, SET, tenant.token("Ada Admin"), userId=member, permissions=[])
    assert result["user"]["permissions"] == []
    # and a super admin holds every permission
    admin = await data(
        client,
        PERSON,
        {"id": gid("User", tenant.people["Ada Admin"].id)},
        token=tenant.token("Mia Member"),
    )
    assert admin["node"] == {
        "permissions": [p.value for p in Permission],
        "permissionsChangedAt": None,
        "canManageApps": True,
    }


WHO_MAY = """{ viewer { portal { users(first: 10) {
  nodes { name viewerCanSetPermissions } } } } }"""


async def test_viewer_can_set_permissions_says_whose_a_viewer_may_set(client, settings):
    tenant = await f.make_tenant(
        settings,
        people={
            "Ada Admin": "admin",
            "Abe Admin": "admin",
            "Max Manager": "manager",
            "Mia Member": "member",
        },
    )

    async def may(viewer: str) -> dict[str, bool]:
        users = (await data(client, WHO_MAY, token=tenant.token(viewer)))["viewer"]["portal"]
        return {u["name"]: u["viewerCanSetPermissions"] for u in users["users"]["nodes"]}

    # a super admin: everyone but themselves and other super admins; anyone else: nobody
    assert await may("Ada Admin") == {
        "Abe Admin": False,
        "Ada Admin": False,
        "Max Manager": True,
        "Mia Member": True,
    }
    assert set((await may("Max Manager")).values()) == {False}
    assert set((await may("Mia Member")).values()) == {False}


async def test_only_super_admins_set_permissions_never_their_own_nor_a_super_admins(
    client, settings
):
    tenant = await f.make_tenant(
        settings,
        people={"Ada Admin": "admin", "Bo Admin": "admin", "Max Manager": "manager"},
    )
    other = await f.make_tenant(settings)
    people = {name: gid("User", user.id) for name, user in tenant.people.items()}
    cases = [
        # (who asks, for whom, code, message)
        ("Max Manager", people["Bo Admin"], "FORBIDDEN", "Only super admins set permissions"),
        ("Ada Admin", people["Ada Admin"], "CONFLICT", "Nobody sets their own permissions"),
        ("Ada Admin", people["Bo Admin"], "CONFLICT", "A super admin holds every permission"),
        ("Ada Admin", gid("User", other.people["Ada Admin"].id), "NOT_FOUND", "No such user"),
        ("Ada Admin", gid("Portal", tenant.portal.id), "INVALID", "Not a valid User id"),
    ]
    for asker, target, code, message in cases:
        result = await payload(
            client, SET, tenant.token(asker), userId=target, permissions=["INSTALL_APPS"]
        )
        assert result["user"] is None
        (error,) = result["userErrors"]
        assert (error["code"], error["field"]) == (code, ["input", "userId"])
        assert error["message"].startswith(message), error["message"]
    # and nothing changed for anyone
    for user in await User.filter(portal_id__in=[tenant.portal.id, other.portal.id]):
        assert user.permissions_changed_at is None
    manager = await User.get(id=tenant.people["Max Manager"].id)
    assert manager.permissions == (
        Permission.INSTALL_APPS,
        Permission.APPROVE_SCOPES,
        Permission.UNINSTALL_APPS,
    )


async def test_each_permission_allows_its_own_actions_and_refusals_name_it(client, settings):
    # given a portal with an app that has a scope to reauthorize, and a person per permission
    tenant = await f.make_tenant(settings, people={"Ada Admin": "admin"})
    listing = await f.make_listing(
        scopes=[
            ("basic.read", SubscriptionTier.FREE, True),
            ("extra.write", SubscriptionTier.FREE, False),
        ]
    )
    app = await f.install(tenant.portal, listing, tenant.people["Ada Admin"], grant=["basic.read"])
    app_id = gid("ConnectedApp", app.id)
    tokens = {}
    for permission in Permission:
        user = await f.make_user(tenant.portal, permission.value.title(), permissions=[permission])
        tokens[permission] = mint_token(user, settings)
    nobody = mint_token(await f.make_user(tenant.portal, "Nobody"), settings)

    async def refusal(mutation: str, token: str, **input: Any) -> tuple[str, str] | None:
        errors = (await payload(client, mutation, token, **input))["userErrors"]
        return (errors[0]["code"], errors[0]["message"]) if errors else None

    def requires(permission: Permission) -> tuple[str, str]:
        return ("FORBIDDEN", f"Requires the {permission.value} permission")

    # viewerCan… answers per permission, before anything changes
    seen = {
        p: (await data(client, APP, {"id": app_id}, token=token))["node"]
        for p, token in tokens.items()
    }
    assert seen[Permission.APPROVE_SCOPES] == {
        "viewerCanUninstall": False,
        "viewerCanReauthorize": True,
        "viewerCanManage": False,
    }
    assert seen[Permission.UNINSTALL_APPS] == {
        "viewerCanUninstall": True,
        "viewerCanReauthorize": False,
        "viewerCanManage": False,
    }
    for permission in (Permission.INSTALL_APPS, Permission.MANAGE_NOTIFICATIONS):
        assert set(seen[permission].values()) == {False}

    # installing a portal-wide app: INSTALL_APPS only
    other = await f.make_listing()
    install = {"listingId": gid("MarketplaceListing", other.id)}
    assert await refusal(INSTALL, nobody, **install) == requires(Permission.INSTALL_APPS)
    assert await refusal(INSTALL, tokens[Permission.UNINSTALL_APPS], **install) == requires(
        Permission.INSTALL_APPS
    )
    assert await refusal(INSTALL, tokens[Permission.INSTALL_APPS], **install) is None
    # reauthorizing: APPROVE_SCOPES only
    for permission in (Permission.INSTALL_APPS, Permission.UNINSTALL_APPS):
        assert await refusal(REAUTHORIZE, tokens[permission], appId=app_id) == requires(
            Permission.APPROVE_SCOPES
        )
    assert await refusal(REAUTHORIZE, tokens[Permission.APPROVE_SCOPES], appId=app_id) is None
    # notification rules: MANAGE_NOTIFICATIONS only
    assert await refusal(CREATE_RULE, tokens[Permission.INSTALL_APPS], **RULE) == requires(
        Permission.MANAGE_NOTIFICATIONS
    )
    made = await payload(client, CREATE_RULE, tokens[Permission.MANAGE_NOTIFICATIONS], **RULE)
    assert made["userErrors"] == [] and made["rule"]["viewerCanEdit"] is True
    # uninstalling: UNINSTALL_APPS only (last: it takes the app away)
    for permission in (Permission.INSTALL_APPS, Permission.APPROVE_SCOPES):
        assert await refusal(UNINSTALL, tokens[permission], appId=app_id) == requires(
            Permission.UNINSTALL_APPS
        )
    assert await refusal(UNINSTALL, tokens[Permission.UNINSTALL_APPS], appId=app_id) is None


async def test_a_user_level_app_needs_no_permission_and_a_multi_account_one_install_apps(
    client, settings
):
    tenant = await f.make_tenant(settings, people={"Ada Admin": "admin", "Mia Member": "member"})
    token = tenant.token("Mia Member")
    user_app = await f.make_listing(level=InstallLevel.USER)
    multi = await f.make_listing(level=InstallLevel.MULTI_ACCOUNT)
    connected = await payload(
        client, INSTALL, token, listingId=gid("MarketplaceListing", user_app.id)
    )
    assert connected["userErrors"] == []
    refused = await payload(
        client,
        INSTALL,
        token,
        listingId=gid("MarketplaceListing", multi.id),
        accountName="@acme",
    )
    assert [(e["code"], e["message"]) for e in refused["userErrors"]] == [
        ("FORBIDDEN", "Requires the INSTALL_APPS permission")
    ]
