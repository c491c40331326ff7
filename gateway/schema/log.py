"""GraphQL types of the app log."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from gateway import models as m
from gateway.executor.batch import batch_field
from gateway.resolvers import alerts as alerts_r
from gateway.resolvers import log as r
from gateway.resolvers import scope_changes as scope_changes_r
from gateway.schema.base import Node, id_field, node_type
from gateway.schema.enums import AlertSeverity, AppActivity
from gateway.services.log import LogFilter

if TYPE_CHECKING:
    from gateway.schema.apps import AppAlert, ConnectedApp
    from gateway.schema.portal import User

ConnectedAppT = Annotated["ConnectedApp", strawberry.lazy("gateway.schema.apps")]
UserT = Annotated["User", strawberry.lazy("gateway.schema.portal")]
AppAlertT = Annotated["AppAlert", strawberry.lazy("gateway.schema.apps")]


@strawberry.type(description="Why an alert was raised or resolved, as it was reported then.")
class AlertReason:
    severity: AlertSeverity = strawberry.field(description="How serious the problem was.")
    code: str = strawberry.field(description="The problem's machine-readable code.")
    message: str = strawberry.field(description="The problem's description at the time.")


@strawberry.type(description="Scope names added and removed by a change, or by one to come.")
class ScopeChanges:
    added: list[str] = strawberry.field(
        description="Scopes granted, or newly requested (SCOPES_CHANGED), in the listing's order."
    )
    removed: list[str] = strawberry.field(
        description="Scopes whose grant was taken away, or no longer requested (SCOPES_CHANGED)."
    )


@strawberry.type(description="One lifecycle event of an app.")
class AppLogEntry(Node):
    is_type_of = node_type(m.AppLogEntry)

    id: strawberry.ID = id_field("AppLogEntry", "entry")

    activity: AppActivity = strawberry.field(description="What happened.")
    occurred_at: datetime = strawberry.field(description="When it happened, as reported.")

    app: ConnectedAppT = batch_field(
        r.entry_apps, description="The app it happened to (also when since uninstalled)."
    )
    user: UserT | None = batch_field(
        r.entry_users, description="Who did it, if a person did; null for platform events."
    )
    alert: AppAlertT | None = batch_field(
        alerts_r.entry_alerts,
        description="ERROR_RAISED and ERROR_RESOLVED: the alert, as it is now.",
    )
    alert_reason: AlertReason | None = batch_field(
        alerts_r.entry_alert_reasons,
        description=(
            "ERROR_RAISED and ERROR_RESOLVED: the reason the entry announces (the alert's "
            "message may have changed since)."
        ),
    )
    scope_changes: ScopeChanges | None = batch_field(
        scope_changes_r.entry_scope_changes,
        description=(
            "The scopes the change added and removed: INSTALLED and REINSTALLED, what was "
            "granted (a reinstall's `removed`: what the app held before its uninstall and not "
            "now); REAUTHORIZED, what was granted and the grants dropped as no longer requested; "
            "UNINSTALLED, the grants revoked; SCOPES_CHANGED, the scope names the listing "
            "started and stopped requesting. Null for other activities and for entries "
            "recorded before scope changes were kept."
        ),
    )


@strawberry.input(description="Narrows a log; all given conditions apply.")
class AppLogFilter:
    activities: list[AppActivity] | None = strawberry.field(
        default=None, description="Only these activities."
    )
    user_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Only entries by these users."
    )
    app_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Only entries of these apps."
    )
    since: datetime | None = strawberry.field(
        default=None, description="Only entries that occurred at or after this time (inclusive)."
    )
    until: datetime | None = strawberry.field(
        default=None, description="Only entries that occurred before this time (exclusive)."
    )

    def to_filter(self) -> LogFilter:
        return r.log_filter(self.activities, self.user_ids, self.app_ids, self.since, self.until)
