"""GraphQL types of the tenant: Viewer, Portal, User, Team and the app summary."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from gateway import models as m
from gateway.context import Info
from gateway.executor.batch import batch_field, batched, load, reads_viewer
from gateway.resolvers import install_requests as requests_r
from gateway.resolvers import log as log_r
from gateway.resolvers import portal as r
from gateway.resolvers.inputs import enum_set
from gateway.schema.base import Connection, Node, id_field, node_type, row
from gateway.schema.enums import (
    DeliveryStatus,
    InstallRequestStatus,
    Permission,
    SubscriptionTier,
)
from gateway.services.apps import AppFilter

if TYPE_CHECKING:
    from gateway.schema.apps import (
        ConnectedApp,
        ConnectedAppFilter,
        LearningResource,
        MarketplaceListing,
    )
    from gateway.schema.install_requests import InstallRequest, InstallRequestPolicy
    from gateway.schema.log import AppLogEntry, AppLogFilter
    from gateway.schema.notifications import Delivery, Notification, NotificationRule

_apps = strawberry.lazy("gateway.schema.apps")
_log = strawberry.lazy("gateway.schema.log")
_notifications = strawberry.lazy("gateway.schema.notifications")
ConnectedAppT = Annotated["ConnectedApp", _apps]
ConnectedAppFilterT = Annotated["ConnectedAppFilter", _apps]
MarketplaceListingT = Annotated["MarketplaceListing", _apps]
LearningResourceT = Annotated["LearningResource", _apps]
AppLogEntryT = Annotated["AppLogEntry", _log]
AppLogFilterT = Annotated["AppLogFilter", _log]
NotificationRuleT = Annotated["NotificationRule", _notifications]
NotificationT = Annotated["Notification", _notifications]
DeliveryT = Annotated["Delivery", _notifications]
_requests = strawberry.lazy("gateway.schema.install_requests")
InstallRequestT = Annotated["InstallRequest", _requests]
InstallRequestPolicyT = Annotated["InstallRequestPolicy", _requests]


@strawberry.type(description="A named group of users in one portal.")
class Team(Node):
    is_type_of = node_type(m.Team)

    id: strawberry.ID = id_field("Team", "team")

    name: str = strawberry.field(description="Name of the team.")

    @strawberry.field(description="Members of the team, by name.")
    async def members(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[User]:
        return await r.team_members(row(self, m.Team), info, first, after)  # type: ignore[return-value]  # a row stands for its GraphQL type


@strawberry.type(description="A person in one portal.")
class User(Node):
    is_type_of = node_type(m.User)

    id: strawberry.ID = id_field("User", "user")

    name: str = strawberry.field(description="Full name.")
    email: str = strawberry.field(description="Email address.")
    is_super_admin: bool = strawberry.field(
        description="Super admins may do everything, including managing notification rules."
    )
    can_manage: bool = strawberry.field(
        name="canManageApps",
        description="Holds the three app permissions (INSTALL_APPS, APPROVE_SCOPES and "
        'UNINSTALL_APPS), which replaced the "app marketplace access" permission; true for '
        "super admins.",
        deprecation_reason="Use `permissions`: the app permissions are separate now.",
    )

    permissions: list[Permission] = strawberry.field(
        description="What the user may do besides reading: every permission for a super admin."
    )
    permissions_changed_at: datetime | None = strawberry.field(
        description="When a super admin last set the user's permissions; null if never."
    )
    permissions_changed_by: User | None = batch_field(
        r.permission_setters,
        description="Who last set the user's permissions; null if never (or since deleted).",
    )
    viewer_can_set_permissions: bool = batch_field(
        r.viewer_can_set_permissions,
        description=(
            "The viewer may set this user's permissions (setUserPermissions): they are a super "
            "admin, and this is neither themselves nor another super admin."
        ),
        viewer_facts=("id", "is_super_admin"),
    )

    @strawberry.field(description="Teams the user belongs to, by name.")
    async def teams(self, info: Info) -> list[Team]:
        return await r.user_teams(row(self, m.User), info)  # type: ignore[return-value]  # a row stands for its GraphQL type


@strawberry.type(
    description="Counts over installed apps other than MULTI_ACCOUNT: total = connected + disconnected + errored."
)
class AppSummary:
    total: int = strawberry.field(description="Installed apps that have a status.")
    connected: int = strawberry.field(description="Apps with status CONNECTED.")
    disconnected: int = strawberry.field(description="Apps with status DISCONNECTED.")
    errored: int = strawberry.field(description="Apps with status ERROR.")
    update_available: int = strawberry.field(description="Apps with a scope to reauthorize.")
    upgrade_available: int = strawberry.field(
        description="Apps with a scope that needs a higher tier."
    )


@strawberry.type(description="One customer account (tenant).")
class Portal(Node):
    is_type_of = node_type(m.Portal)

    id: strawberry.ID = id_field("Portal", "portal")

    name: str = strawberry.field(description="Name of the account.")
    tier: SubscriptionTier = strawberry.field(description="Subscription tier.")
    timezone: str = strawberry.field(description="IANA timezone; digests align to it.")

    @strawberry.field(description="Counts of the installed apps by health.")
    async def app_summary(self, info: Info) -> AppSummary:
        return await r.app_summary(row(self, m.Portal), info)  # type: ignore[return-value]  # a row stands for its GraphQL type

    @strawberry.field(description="Installed apps, by name.")
    async def connected_apps(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: ConnectedAppFilterT | None = None,
    ) -> Connection[ConnectedAppT]:
        flt = AppFilter()
        if filter is not None:
            flt = AppFilter(
                statuses=enum_set(filter.statuses),
                install_levels=enum_set(filter.install_levels),
                search=filter.search,
                needs_attention=filter.needs_attention,
                unused_for_days=filter.unused_for_days,
            )
        return await r.connected_apps(row(self, m.Portal), info, first, after, flt)  # type: ignore[return-value]  # a row stands for its GraphQL type

    @strawberry.field(
        description="The portal's app log, newest first.",
        metadata=batched(log_r.portal_app_logs),
    )
    async def app_log(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: AppLogFilterT | None = None,
    ) -> Connection[AppLogEntryT]:
        return await load(
            info, log_r.portal_app_logs, self, first=first, after=after, filter=filter
        )

    @strawberry.field(description="Notification rules, by name.")
    async def notification_rules(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[NotificationRuleT]:
        return await r.notification_rules(row(self, m.Portal), info, first, after)  # type: ignore[return-value]  # a row stands for its GraphQL type

    @strawberry.field(
        description="Listings not installed in this portal (including uninstalled ones), by name."
    )
    async def marketplace(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        search: str | None = None,
        category: str | None = None,
    ) -> Connection[MarketplaceListingT]:
        return await r.marketplace(row(self, m.Portal), info, first, after, search, category)  # type: ignore[return-value]  # a row stands for its GraphQL type

    @strawberry.field(description="General learning resources about integrations.")
    async def learning_resources(
        self, info: Info, first: int | None = None
    ) -> list[LearningResourceT]:
        return await r.learning_resources(info, first)  # type: ignore[return-value]  # a row stands for its GraphQL type

    @strawberry.field(description="People in the portal, by name.")
    async def users(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        search: str | None = None,
    ) -> Connection[User]:
        return await r.users(row(self, m.Portal), info, first, after, search)  # type: ignore[return-value]  # a row stands for its GraphQL type

    @strawberry.field(description="Teams in the portal, by name.")
    async def teams(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Team]:
        return await r.teams(row(self, m.Portal), info, first, after)  # type: ignore[return-value]  # a row stands for its GraphQL type

    @strawberry.field(
        description="Digest deliveries, newest first. For holders of MANAGE_NOTIFICATIONS (super "
        "admins hold it): empty for anyone else.",
        metadata=reads_viewer("can_manage_notifications"),
    )
    async def deliveries(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        status: DeliveryStatus | None = None,
    ) -> Connection[DeliveryT]:
        return await r.deliveries(row(self, m.Portal), info, first, after, status)  # type: ignore[return-value]  # a row stands for its GraphQL type

    @strawberry.field(
        description="Install requests, newest first: every one for reviewers (INSTALL_APPS "
        "holders and super admins), the viewer's own for anyone else.",
        metadata=reads_viewer("id", "can_install"),
    )
    async def install_requests(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        status: InstallRequestStatus | None = None,
    ) -> Connection[InstallRequestT]:
        return await requests_r.portal_requests(row(self, m.Portal), info, first, after, status)  # type: ignore[return-value]  # a row stands for its GraphQL type

    @strawberry.field(description="How install requests are handled (super admins change it).")
    def install_request_policy(self) -> InstallRequestPolicyT:
        return requests_r.policy(row(self, m.Portal))  # type: ignore[return-value]  # the service's dataclass stands for it


@strawberry.type(description="The signed-in user and their portal.")
class Viewer:
    @strawberry.field(description="The signed-in user.", metadata=reads_viewer("id"))
    def user(self, info: Info) -> User:
        return info.context.viewer  # type: ignore[return-value]  # a row stands for its GraphQL type

    @strawberry.field(description="The signed-in user's portal.")
    def portal(self, info: Info) -> Portal:
        return info.context.portal  # type: ignore[return-value]  # a row stands for its GraphQL type

    @strawberry.field(
        description="The viewer's in-app digests, newest first.", metadata=reads_viewer("id")
    )
    async def notifications(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        unread_only: bool | None = None,
    ) -> Connection[NotificationT]:
        return await r.inbox(info, first, after, unread_only)  # type: ignore[return-value]  # a row stands for its GraphQL type
