"""Subscriptions: live app status, log entries and inbox items of the viewer's portal."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry

from gateway.context import Info
from gateway.executor.batch import reads_viewer
from gateway.resolvers import subscriptions as r
from gateway.schema.apps import AppAlert, ConnectedApp
from gateway.schema.base import row
from gateway.schema.enums import AppStatus
from gateway.schema.install_requests import InstallRequest
from gateway.schema.log import AppLogEntry, AppLogFilter
from gateway.schema.notifications import Notification
from gateway.services.envelopes import StatusChange


@strawberry.type(description="A change of an app's derived status.")
class AppStatusChange:
    @strawberry.field(description="The app, as it is now.")
    async def app(self, info: Info) -> ConnectedApp:
        return await info.context.loaders.app_by_id.load(row(self, StatusChange).app_id)

    previous_status: AppStatus | None = strawberry.field(
        description="Status before the change; null when the app was just installed (or has none)."
    )
    status: AppStatus | None = strawberry.field(
        description="Status after the change; null when the app was just uninstalled."
    )

    @strawberry.field(
        description="The alert that was raised, updated or resolved, if that caused the change."
    )
    async def alert(self, info: Info) -> AppAlert | None:
        alert_id = row(self, StatusChange).alert_id
        if alert_id is None:
            return None
        return await info.context.loaders.alert_by_id.load(alert_id)

    occurred_at: datetime = strawberry.field(description="When the change happened.")


@strawberry.type(
    description="Live updates over WebSocket (graphql-transport-ws), for the viewer's portal only."
)
class Subscription:
    @strawberry.subscription(
        description="Every status change of the portal's apps, or of the named ones."
    )
    async def app_status_changed(
        self, info: Info, app_ids: list[strawberry.ID] | None = None
    ) -> AsyncGenerator[AppStatusChange, None]:
        async for change in r.app_status_changed(info, app_ids):
            yield change  # type: ignore[misc]  # a row stands for its GraphQL type

    @strawberry.subscription(
        description="New log entries as they commit, filtered like Portal.appLog."
    )
    async def app_log_appended(
        self,
        info: Info,
        filter: AppLogFilter | None = None,
    ) -> AsyncGenerator[AppLogEntry, None]:
        async for entry in r.app_log_appended(info, filter.to_filter() if filter else None):
            yield entry  # type: ignore[misc]  # a row stands for its GraphQL type

    @strawberry.subscription(
        description="The viewer's new in-app digests.",
        # Each user's own: subscribers are grouped by user (gateway/live.py).
        metadata=reads_viewer("id"),
    )
    async def notification_received(self, info: Info) -> AsyncGenerator[Notification, None]:
        async for notification in r.notification_received(info):
            yield notification  # type: ignore[misc]  # a row stands for its GraphQL type

    @strawberry.subscription(
        description=(
            "Install requests as they are made, decided, cancelled or expired: every one for "
            "reviewers (INSTALL_APPS holders and super admins), the viewer's own for anyone else."
        ),
        # Who sees which request depends on the viewer: groups per user (gateway/live.py).
        metadata=reads_viewer("id", "can_install"),
    )
    async def install_request_changed(self, info: Info) -> AsyncGenerator[InstallRequest, None]:
        async for request in r.install_request_changed(info):
            yield request  # type: ignore[misc]  # a row stands for its GraphQL type
