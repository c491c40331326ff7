"""GraphQL types of connected apps and the marketplace catalogue."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from gateway import models as m
from gateway.context import Context, Info
from gateway.executor.batch import batch_field, batched, derive, load
from gateway.resolvers import alerts as alerts_r
from gateway.resolvers import apps as r
from gateway.resolvers import install_requests as ir
from gateway.resolvers import log as log_r
from gateway.resolvers import scope_changes as scope_changes_r
from gateway.resolvers import usage as usage_r
from gateway.schema.base import Connection, Node, id_field, node_type
from gateway.schema.enums import (
    AlertSeverity,
    AppStatus,
    InstallLevel,
    ScopeState,
    SubscriptionTier,
)
from gateway.services.usage import DEFAULT_WINDOW

if TYPE_CHECKING:
    from gateway.schema.install_requests import InstallRequest
    from gateway.schema.log import AppLogEntry, AppLogFilter, ScopeChanges
    from gateway.schema.portal import User

UserT = Annotated["User", strawberry.lazy("gateway.schema.portal")]
AppLogEntryT = Annotated["AppLogEntry", strawberry.lazy("gateway.schema.log")]
AppLogFilterT = Annotated["AppLogFilter", strawberry.lazy("gateway.schema.log")]
ScopeChangesT = Annotated["ScopeChanges", strawberry.lazy("gateway.schema.log")]
InstallRequestT = Annotated["InstallRequest", strawberry.lazy("gateway.schema.install_requests")]


@strawberry.type(description="One permission an app asks for, as seen from this portal.")
class Scope:
    name: str = strawberry.field(description="Technical name of the scope.")
    description: str = strawberry.field(description="What the scope lets the app do.")
    state: ScopeState = strawberry.field(description="Granted, or what it takes to grant it.")
    required_tier: SubscriptionTier = strawberry.field(
        description="Lowest subscription tier that allows this scope."
    )
    required: bool = strawberry.field(description="The app cannot be installed without this scope.")


@strawberry.type(description="A problem raised on an app by the integration platform.")
class AppAlert(Node):
    is_type_of = node_type(m.AppAlert)

    id: strawberry.ID = id_field("AppAlert", "alert")

    severity: AlertSeverity = strawberry.field(description="How serious the problem is.")
    code: str = strawberry.field(
        description="Machine-readable problem code (one open alert per code)."
    )
    message: str = strawberry.field(description="Human-readable description of the problem.")
    raised_at: datetime = strawberry.field(description="When the problem was first reported.")
    resolved_at: datetime | None = strawberry.field(
        description="When the problem was resolved; null while it is open."
    )
    acknowledged_at: datetime | None = strawberry.field(
        description="When someone acknowledged the problem; cleared when its reason changes."
    )
    acknowledged_by: UserT | None = batch_field(
        alerts_r.acknowledgers, description="Who acknowledged the problem."
    )
    acknowledge_note: str | None = strawberry.field(
        description="What they said when acknowledging it, if anything."
    )
    viewer_can_acknowledge: bool = batch_field(
        alerts_r.viewer_can_acknowledge,
        description=(
            "The viewer may acknowledge this alert now: it is open and unacknowledged, and they "
            "hold APPROVE_SCOPES or UNINSTALL_APPS (super admins hold both)."
        ),
        viewer_facts=("can_approve", "can_uninstall"),
    )


@strawberry.type(description="One UTC day of an app's usage.")
class AppUsageDay:
    date: str = strawberry.field(description="The day, YYYY-MM-DD (UTC).")
    calls: int = strawberry.field(description="Calls the app made that day.")
    errors: int = strawberry.field(description="Of those calls, how many failed.")


@strawberry.type(
    description="An app's calls over a window of UTC days, as the platform reports them."
)
class AppUsage:
    calls: int = strawberry.field(description="Calls over the window.")
    errors: int = strawberry.field(description="Failed calls over the window.")
    error_rate: float = strawberry.field(
        description="errors / calls over the window; 0 when there were no calls."
    )
    days: list[AppUsageDay] = strawberry.field(
        description="Each day of the window, today first; days without a report show 0."
    )


@strawberry.type(description="An educational video or article.")
class LearningResource(Node):
    is_type_of = node_type(m.LearningResource)

    id: strawberry.ID = id_field("LearningResource", "resource")

    title: str = strawberry.field(description="Title of the video or article.")
    url: str = strawberry.field(description="Where to watch or read it.")
    duration_seconds: int | None = strawberry.field(
        description="Length of a video in seconds; null for articles."
    )
    topic: str = strawberry.field(description="What it teaches about.")


@strawberry.type(description="An app of the global marketplace catalogue.")
class MarketplaceListing(Node):
    is_type_of = node_type(m.MarketplaceListing)

    id: strawberry.ID = id_field("MarketplaceListing", "listing")

    slug: str = strawberry.field(description="Stable URL-friendly key of the listing.")
    name: str = strawberry.field(description="Name of the app.")
    vendor: str = strawberry.field(description="Who makes the app.")
    category: str = strawberry.field(description="Marketplace category.")
    description: str = strawberry.field(description="What the app does.")
    install_level: InstallLevel = strawberry.field(description="How the app is installed.")

    requested_scopes: list[Scope] = batch_field(
        r.requested_scopes,
        description=(
            "The scopes the app requests, as this portal would get them: the installed app's "
            "states, or for a listing not installed, GRANTED where the tier allows, else "
            "NEEDS_UPGRADE."
        ),
    )

    learning_resources: list[LearningResource] = batch_field(
        r.learning_resources, description="Learning resources about this app."
    )

    viewer_can_install: bool = batch_field(
        r.viewer_can_install,
        description=(
            "The viewer's install would be taken now: USER apps by anyone, the others with "
            "INSTALL_APPS (super admins hold it); every required scope within the "
            "portal's tier; not a portal-wide app already installed, nor a user app the viewer "
            "is already connected to (a multi-account app takes more accounts)."
        ),
        viewer_facts=("id", "can_install"),
    )
    viewer_can_request: bool = batch_field(
        ir.viewer_can_request,
        description=(
            "The viewer may ask for it to be installed (requestAppInstall): they lack "
            "INSTALL_APPS, every required scope is within the portal's tier, and it is a PORTAL "
            "listing not installed with no pending request of theirs, or a MULTI_ACCOUNT one."
        ),
        viewer_facts=("id", "can_install"),
    )
    viewer_pending_request: InstallRequestT | None = batch_field(
        ir.viewer_pending_requests,
        description="The viewer's pending install request for this listing (the newest), if any.",
        viewer_facts=("id",),
    )


@strawberry.type(
    description="A user's (USER app) or an external account's (MULTI_ACCOUNT app) connection."
)
class AppConnection(Node):
    is_type_of = node_type(m.AppConnection)

    id: strawberry.ID = id_field("AppConnection", "connection")

    user: UserT | None = batch_field(
        r.connection_users, description="Who connected (for MULTI_ACCOUNT: who added the account)."
    )

    account_name: str | None = strawberry.field(
        description="The external account, for MULTI_ACCOUNT apps; null otherwise."
    )
    connected_at: datetime = strawberry.field(description="When the connection was made.")


def _viewer_can_manage(ctx: Context, apps: Sequence[m.ConnectedApp]) -> list[bool]:
    return [r.viewer_can_manage(ctx)] * len(apps)


@strawberry.type(description="A marketplace listing installed in the viewer's portal.")
class ConnectedApp(Node):
    is_type_of = node_type(m.ConnectedApp)

    id: strawberry.ID = id_field("ConnectedApp", "app")

    name: str = strawberry.field(description="Name of the app (from its listing).")

    listing: MarketplaceListing = batch_field(
        r.listings, description="The marketplace listing this app was installed from."
    )

    install_level: InstallLevel = strawberry.field(description="How the app is installed.")

    status: AppStatus | None = batch_field(
        r.statuses,
        description=(
            "Derived health: DISCONNECTED if marked disconnected, else ERROR with an open alert, "
            "else CONNECTED. Null for MULTI_ACCOUNT apps and uninstalled apps."
        ),
    )

    alerts: list[AppAlert] = batch_field(
        r.alerts, description="Open alerts on the app, newest first."
    )

    installed_at: datetime = strawberry.field(
        description="When the app was first installed (a reinstall keeps the first date)."
    )

    installed_by: UserT | None = batch_field(
        r.installers, description="Who first installed the app (a reinstall keeps them)."
    )
    update_available: bool = batch_field(
        r.updates_available,
        description="Some scope is NEEDS_REAUTHORIZATION: reauthorize to enable it.",
    )
    upgrade_available: bool = batch_field(
        r.upgrades_available,
        description="Some scope is NEEDS_UPGRADE: a higher tier would enable it.",
    )
    scopes: list[Scope] = batch_field(
        r.scopes, description="Every scope the listing requests, with its state here."
    )
    pending_scope_changes: ScopeChangesT = batch_field(
        scope_changes_r.pending_scope_changes,
        description=(
            "What reauthorizing the app would do now: `added`, the NEEDS_REAUTHORIZATION "
            "scopes; `removed`, the granted scopes the listing no longer requests. Both empty "
            "for an uninstalled app."
        ),
    )

    @strawberry.field(description="The app's log, newest first.", metadata=batched(log_r.app_logs))
    def log(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: AppLogFilterT | None = None,
    ) -> Connection[AppLogEntryT]:
        return derive(info, log_r.app_logs, self, first=first, after=after, filter=filter)

    @strawberry.field(
        description="The app's connections, oldest first (the first is the first installer's).",
        metadata=batched(r.connections),
    )
    def connections(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[AppConnection]:
        return derive(info, r.connections, self, first=first, after=after)

    manage_connections_url: str | None = batch_field(
        r.manage_connections_urls,
        description="MULTI_ACCOUNT apps: where to manage the connected accounts.",
    )
    learning_resources: list[LearningResource] = batch_field(
        r.learning_resources, description="Learning resources about this app."
    )

    viewer_can_uninstall: bool = batch_field(
        r.viewer_can_uninstall,
        description=(
            "The viewer may uninstall this app now: it is installed, and they hold "
            "UNINSTALL_APPS (super admins hold it)."
        ),
        viewer_facts=("can_uninstall",),
    )
    viewer_can_reauthorize: bool = batch_field(
        r.viewer_can_reauthorize,
        description=(
            "The viewer may reauthorize this app now: it is installed, a reauthorize would "
            "change something (pendingScopeChanges: a scope needs reauthorization, or a grant is "
            "no longer requested), and they hold APPROVE_SCOPES (super admins hold it)."
        ),
        viewer_facts=("can_approve",),
    )

    @strawberry.field(
        description="The viewer holds both UNINSTALL_APPS and APPROVE_SCOPES, the old "
        "promise of this field.",
        deprecation_reason="Use viewerCanUninstall and viewerCanReauthorize.",
        metadata=batched(_viewer_can_manage, viewer_facts=("can_uninstall", "can_approve")),
    )
    def viewer_can_manage(self, info: Info) -> bool:
        return r.viewer_can_manage(info.context)

    uninstalled_at: datetime | None = strawberry.field(
        description="Set while uninstalled: the app is gone from lists but reachable by id and from its log."
    )

    last_used_at: datetime | None = batch_field(
        usage_r.last_used,
        description=(
            "When the app was last used, as the platform reports it: the newest lastCallAt, "
            "else the last second of the newest UTC day with calls; null if never used."
        ),
    )

    @strawberry.field(
        description=(
            "The app's calls over the last `days` UTC days (today and the days before it; "
            "1 to 90), as the platform reports them."
        ),
        metadata=batched(usage_r.usage),
    )
    async def usage(self, info: Info, days: int = DEFAULT_WINDOW) -> AppUsage:
        return await load(info, usage_r.usage, self, days=days)


@strawberry.input(description="Narrows the list of connected apps; all given conditions apply.")
class ConnectedAppFilter:
    statuses: list[AppStatus] | None = strawberry.field(
        default=None,
        description="Only apps with one of these statuses (MULTI_ACCOUNT apps have none).",
    )
    install_levels: list[InstallLevel] | None = strawberry.field(
        default=None, description="Only apps of these install levels."
    )
    search: str | None = strawberry.field(
        default=None, description="Case-insensitive substring of the app's name."
    )
    needs_attention: bool | None = strawberry.field(
        default=None,
        description=(
            "true: DISCONNECTED, ERROR with an open alert nobody has acknowledged, or an "
            "update/upgrade available; false: the others."
        ),
    )
    unused_for_days: int | None = strawberry.field(
        default=None,
        description=(
            "Only apps with no calls in the last N UTC days (today and the N-1 before) that "
            "were installed or last reinstalled before the first of them (1 to 400)."
        ),
    )
