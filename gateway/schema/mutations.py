"""Mutations: one `input`, a payload with the changed object and `userErrors` (DESIGN §2)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from gateway.context import Info
from gateway.ids import to_global_id
from gateway.resolvers import app_mutations as am
from gateway.resolvers import export_mutations as em
from gateway.resolvers import notification_mutations as nm
from gateway.schema.apps import AppAlert, ConnectedApp
from gateway.schema.enums import (
    Format,
    NotificationAudience,
    NotificationChannel,
    NotificationFrequency,
    NotificationType,
    Permission,
    UserErrorCode,
)
from gateway.schema.install_requests import InstallRequestMutations
from gateway.schema.log import AppLogFilter
from gateway.schema.notifications import Delivery, Notification, NotificationRule
from gateway.schema.portal import User
from gateway.services.problems import Problem


@strawberry.type(description="Why a mutation was refused. A refused mutation changes nothing.")
class UserError:
    field: list[str] | None = strawberry.field(
        description='Path into the input, e.g. ["input", "scopes", "1"]; null when it is the whole request.'
    )
    message: str = strawberry.field(description="What is wrong, for people.")
    code: UserErrorCode = strawberry.field(description="What is wrong, for programs.")


def user_errors(problems: list[Problem]) -> list[UserError]:
    return [
        UserError(field=list(p.field) if p.field else None, message=p.message, code=p.code)
        for p in problems
    ]


@strawberry.input(
    description="Install a marketplace listing, or connect to a user-level or multi-account app."
)
class InstallAppInput:
    listing_id: strawberry.ID = strawberry.field(description="The listing to install.")
    scopes: list[str] | None = strawberry.field(
        default=None,
        description="Scopes to grant; all the tier allows when left out. Required scopes cannot be left out.",
    )
    account_name: str | None = strawberry.field(
        default=None,
        description="The external account to connect (MULTI_ACCOUNT apps only, and required there).",
    )


@strawberry.type(description="Result of installApp.")
class InstallAppPayload:
    app: ConnectedApp | None = strawberry.field(description="The installed app; null when refused.")
    user_errors: list[UserError] = strawberry.field(
        description="Why it was refused; empty on success."
    )


@strawberry.input(description="Uninstall an app as a whole.")
class UninstallAppInput:
    app_id: strawberry.ID = strawberry.field(description="The app to uninstall.")


@strawberry.type(description="Result of uninstallApp.")
class UninstallAppPayload:
    app: ConnectedApp | None = strawberry.field(
        description="The uninstalled app (its `uninstalledAt` is set)."
    )
    user_errors: list[UserError] = strawberry.field(
        description="Why it was refused; empty on success."
    )


@strawberry.input(description="Remove one connection; removing the last one uninstalls the app.")
class RemoveAppConnectionInput:
    connection_id: strawberry.ID = strawberry.field(description="The connection to remove.")


@strawberry.type(description="Result of removeAppConnection.")
class RemoveAppConnectionPayload:
    app: ConnectedApp | None = strawberry.field(description="The app after the removal.")
    removed_connection_id: strawberry.ID | None = strawberry.field(
        description="Id of the removed connection."
    )
    user_errors: list[UserError] = strawberry.field(
        description="Why it was refused; empty on success."
    )


@strawberry.input(description='Grant scopes an app still needs ("Reauthorize to enable").')
class ReauthorizeAppInput:
    app_id: strawberry.ID = strawberry.field(description="The app to reauthorize.")
    scopes: list[str] | None = strawberry.field(
        default=None,
        description=(
            "Scopes to grant; every NEEDS_REAUTHORIZATION scope when left out. Either way, "
            "grants of scopes the listing no longer requests are dropped."
        ),
    )


@strawberry.type(description="Result of reauthorizeApp.")
class ReauthorizeAppPayload:
    app: ConnectedApp | None = strawberry.field(description="The app with its new scope states.")
    user_errors: list[UserError] = strawberry.field(
        description="Why it was refused; empty on success."
    )


# --- notification rules and the inbox ------------------------------------------------------

_APPS = (
    "Apps of this portal the rule covers (uninstalled ones too: a reinstall is an APP_INSTALL "
    "event); needs `allApps: false` and at least one app."
)
_USERS = "Users of this portal to notify; only a SPECIFIC audience takes users."
_TEAMS = "Teams of this portal whose members to notify; only a SPECIFIC audience takes teams."
_WEBHOOK_URL = (
    "The URL WEBHOOK digests are posted to (signed JSON): https, and every address its host "
    "resolves to public (within 2 s). Giving it turns WEBHOOK on; the save that gives the rule "
    "its first webhook returns its signing secret, once."
)
_SLACK_URL = (
    "The Slack incoming webhook SLACK digests are posted to: https, every address public. "
    "Giving it turns SLACK on."
)
_SECRET = (
    "The webhook's signing secret, shown only here, when this save gave the rule its first "
    "webhook URL (else null); keep it to check X-Gateway-Signature."
)


@strawberry.input(
    description=(
        "A new notification rule (super admins only). The name is unique in the portal, ignoring "
        "case; the rule covers log entries recorded from its creation on."
    )
)
class CreateNotificationRuleInput:
    name: str = strawberry.field(description="Name of the rule: 1 to 120 characters, trimmed.")
    type: NotificationType = strawberry.field(description="Which events the rule reports.")
    frequency: NotificationFrequency = strawberry.field(description="How often digests go out.")
    all_apps: bool = strawberry.field(
        description="Cover every app (then leave `appIds` out), or only `appIds`."
    )
    app_ids: list[strawberry.ID] | None = strawberry.field(default=None, description=_APPS)
    audience: NotificationAudience = strawberry.field(
        description="Who receives the digests; SPECIFIC needs at least one of `userIds` and `teamIds`."
    )
    user_ids: list[strawberry.ID] | None = strawberry.field(default=None, description=_USERS)
    team_ids: list[strawberry.ID] | None = strawberry.field(default=None, description=_TEAMS)
    channels: list[NotificationChannel] = strawberry.field(
        description=(
            "Where digests go: at least one channel. WEBHOOK needs `webhookUrl`, SLACK "
            "`slackWebhookUrl`; a rule with only those needs no audience (SPECIFIC with nobody)."
        )
    )
    webhook_url: str | None = strawberry.field(default=None, description=_WEBHOOK_URL)
    slack_webhook_url: str | None = strawberry.field(default=None, description=_SLACK_URL)


@strawberry.type(description="Result of createNotificationRule.")
class CreateNotificationRulePayload:
    rule: NotificationRule | None = strawberry.field(description="The new rule; null when refused.")
    webhook_secret: str | None = strawberry.field(description=_SECRET)
    user_errors: list[UserError] = strawberry.field(
        description="Why it was refused; empty on success."
    )


@strawberry.input(
    description=(
        "Change a notification rule (super admins only). A field left out or null keeps its value; "
        "the result is checked as a whole. Setting `allApps: true` clears the apps, and an audience "
        "other than SPECIFIC clears the users and teams. An edit changes what later digests match; "
        "it never re-sends what earlier digests covered."
    )
)
class UpdateNotificationRuleInput:
    id: strawberry.ID = strawberry.field(description="The rule to change.")
    name: str | None = strawberry.field(
        default=None, description="New name: 1 to 120 characters, trimmed."
    )
    type: NotificationType | None = strawberry.field(
        default=None, description="Which events the rule reports."
    )
    frequency: NotificationFrequency | None = strawberry.field(
        default=None, description="How often digests go out."
    )
    all_apps: bool | None = strawberry.field(
        default=None, description="Cover every app, or only the selected apps."
    )
    app_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description=_APPS + " When given, replaces the selection."
    )
    audience: NotificationAudience | None = strawberry.field(
        default=None, description="Who receives the digests."
    )
    user_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description=_USERS + " When given, replaces the users."
    )
    team_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description=_TEAMS + " When given, replaces the teams."
    )
    channels: list[NotificationChannel] | None = strawberry.field(
        default=None,
        description=(
            "Where digests go; when given, replaces the channels (at least one). Leaving out "
            "WEBHOOK or SLACK removes its URL."
        ),
    )
    webhook_url: str | None = strawberry.field(
        default=None, description=_WEBHOOK_URL + " An empty string removes the webhook."
    )
    slack_webhook_url: str | None = strawberry.field(
        default=None, description=_SLACK_URL + " An empty string removes it."
    )


@strawberry.type(description="Result of updateNotificationRule.")
class UpdateNotificationRulePayload:
    rule: NotificationRule | None = strawberry.field(
        description="The rule after the change (`updatedAt` moves only when something changed); null when refused."
    )
    webhook_secret: str | None = strawberry.field(description=_SECRET)
    user_errors: list[UserError] = strawberry.field(
        description="Why it was refused; empty on success."
    )


@strawberry.input(description="Give a rule's webhook a new signing secret.")
class RotateNotificationRuleSecretInput:
    rule_id: strawberry.ID = strawberry.field(description="The rule, which has a webhook URL.")


@strawberry.type(description="Result of rotateNotificationRuleSecret.")
class RotateNotificationRuleSecretPayload:
    rule: NotificationRule | None = strawberry.field(description="The rule; null when refused.")
    webhook_secret: str | None = strawberry.field(
        description=(
            "The new signing secret, shown only here; in effect at once (the old one stops "
            "working, and a delivery retried from now on is signed with this one)."
        )
    )
    user_errors: list[UserError] = strawberry.field(
        description="Why it was refused; empty on success."
    )


@strawberry.input(description="Send a sample of a rule's digest on each of its channels.")
class SendTestNotificationInput:
    rule_id: strawberry.ID = strawberry.field(description="The rule to test.")


@strawberry.type(description="Result of sendTestNotification.")
class SendTestNotificationPayload:
    deliveries: list[Delivery] = strawberry.field(
        description=(
            "The sample's deliveries, one per channel, as they stand after one attempt "
            "(a failed one is retried like any delivery); empty when refused."
        )
    )
    user_errors: list[UserError] = strawberry.field(
        description="Why it was refused; empty on success."
    )


@strawberry.input(description="Delete a notification rule (super admins only).")
class DeleteNotificationRuleInput:
    id: strawberry.ID = strawberry.field(description="The rule to delete.")


@strawberry.type(description="Result of deleteNotificationRule.")
class DeleteNotificationRulePayload:
    deleted_rule_id: strawberry.ID | None = strawberry.field(
        description="Id of the deleted rule; null when refused."
    )
    user_errors: list[UserError] = strawberry.field(
        description="Why it was refused; empty on success."
    )


@strawberry.input(
    description="Mark the viewer's notifications read: give either `ids` or `all: true`."
)
class MarkNotificationsReadInput:
    ids: list[strawberry.ID] | None = strawberry.field(
        default=None,
        description="The viewer's notifications to mark (at most 100); anyone else's is NOT_FOUND.",
    )
    all: bool | None = strawberry.field(
        default=None, description="Mark every unread notification of the viewer's inbox."
    )


@strawberry.type(description="Result of markNotificationsRead.")
class MarkNotificationsReadPayload:
    notifications: list[Notification] = strawberry.field(
        description=(
            "With `ids`: the notifications named, in the order named, one per id. With `all`: the "
            "ones this request marked (unread before, read now), newest first, at most the newest "
            "100. A notification read before keeps its `readAt`. Empty when refused."
        )
    )
    user_errors: list[UserError] = strawberry.field(
        description="Why it was refused; empty on success."
    )


@strawberry.input(description="Set what a user may do (super admins only).")
class SetUserPermissionsInput:
    user_id: strawberry.ID = strawberry.field(
        description="A user of the portal: neither the viewer nor a super admin."
    )
    permissions: list[Permission] = strawberry.field(
        description="Every permission the user holds from now on (the others are taken away)."
    )


@strawberry.type(description="Result of setUserPermissions.")
class SetUserPermissionsPayload:
    user: User | None = strawberry.field(description="The user as now; null when refused.")
    user_errors: list[UserError] = strawberry.field(
        description="Why it was refused; empty on success."
    )


@strawberry.input(description="Acknowledge an open alert: you have seen the problem.")
class AcknowledgeAlertInput:
    alert_id: strawberry.ID = strawberry.field(description="An open alert of the portal's apps.")
    note: str | None = strawberry.field(
        default=None, description="Why, or what is being done (at most 500 characters)."
    )


@strawberry.type(description="Result of acknowledgeAlert.")
class AcknowledgeAlertPayload:
    alert: AppAlert | None = strawberry.field(
        description="The alert as now, acknowledged; null when refused."
    )
    user_errors: list[UserError] = strawberry.field(
        description="Why it was refused; empty on success."
    )


@strawberry.input(description="Ask for a one-time link to download the App log.")
class CreateAppLogExportInput:
    format: Format = strawberry.field(description="CSV or NDJSON.")
    filter: AppLogFilter | None = strawberry.field(
        default=None,
        description="The entries to export, as `Portal.appLog` takes them; all when left out.",
    )
    bom: bool | None = strawberry.field(
        default=None,
        description="CSV: start with a UTF-8 byte order mark, for spreadsheet programs (off by default).",
    )


@strawberry.type(description="Result of createAppLogExport.")
class CreateAppLogExportPayload:
    url: str | None = strawberry.field(
        description=(
            "The export's path and query (`/export/app-log?…`, on the API's origin): a GET of "
            "it downloads the file without a bearer token, once, until `expiresAt`, for this "
            "viewer, filter and format only. A credential: do not log or share it. Null when "
            "refused."
        )
    )
    expires_at: datetime | None = strawberry.field(
        description="When the link stops working (60 seconds after it was made)."
    )
    user_errors: list[UserError] = strawberry.field(
        description="Why it was refused; empty on success."
    )


@strawberry.type(description="Everything the console changes.")
class Mutation(InstallRequestMutations):
    @strawberry.mutation(
        description="Install a listing (PORTAL, MULTI_ACCOUNT: managers) or connect to a USER app (anyone)."
    )
    async def install_app(self, info: Info, input: InstallAppInput) -> InstallAppPayload:
        app, problems = await am.install_app(
            info, input.listing_id, input.scopes, input.account_name
        )
        return InstallAppPayload(app=app, user_errors=user_errors(problems))

    @strawberry.mutation(
        description="Uninstall an app as a whole (managers): connections and grants go, history stays."
    )
    async def uninstall_app(self, info: Info, input: UninstallAppInput) -> UninstallAppPayload:
        app, problems = await am.uninstall_app(info, input.app_id)
        return UninstallAppPayload(app=app, user_errors=user_errors(problems))

    @strawberry.mutation(
        description="Remove your own connection to a USER app, or any connection (managers)."
    )
    async def remove_app_connection(
        self, info: Info, input: RemoveAppConnectionInput
    ) -> RemoveAppConnectionPayload:
        result, problems = await am.remove_app_connection(info, input.connection_id)
        app, removed = result if result else (None, None)
        return RemoveAppConnectionPayload(
            app=app,
            removed_connection_id=strawberry.ID(to_global_id("AppConnection", removed))
            if removed
            else None,
            user_errors=user_errors(problems),
        )

    @strawberry.mutation(
        description=(
            "Grant the scopes that need reauthorization and drop grants the listing no longer "
            "requests (APPROVE_SCOPES); the REAUTHORIZED entry tells both."
        )
    )
    async def reauthorize_app(
        self, info: Info, input: ReauthorizeAppInput
    ) -> ReauthorizeAppPayload:
        app, problems = await am.reauthorize_app(info, input.app_id, input.scopes)
        return ReauthorizeAppPayload(app=app, user_errors=user_errors(problems))

    @strawberry.mutation(description="Create a notification rule (super admins only).")
    async def create_notification_rule(
        self, info: Info, input: CreateNotificationRuleInput
    ) -> CreateNotificationRulePayload:
        saved, problems = await nm.create_notification_rule(info, input)
        return CreateNotificationRulePayload(
            rule=saved.rule if saved else None,
            webhook_secret=saved.webhook_secret if saved else None,
            user_errors=user_errors(problems),
        )

    @strawberry.mutation(
        description="Change a notification rule (super admins only); what is left out stays."
    )
    async def update_notification_rule(
        self, info: Info, input: UpdateNotificationRuleInput
    ) -> UpdateNotificationRulePayload:
        saved, problems = await nm.update_notification_rule(info, input)
        return UpdateNotificationRulePayload(
            rule=saved.rule if saved else None,
            webhook_secret=saved.webhook_secret if saved else None,
            user_errors=user_errors(problems),
        )

    @strawberry.mutation(
        description=(
            "Give a rule's webhook a new signing secret, in effect at once "
            "(MANAGE_NOTIFICATIONS holders)."
        )
    )
    async def rotate_notification_rule_secret(
        self, info: Info, input: RotateNotificationRuleSecretInput
    ) -> RotateNotificationRuleSecretPayload:
        saved, problems = await nm.rotate_notification_rule_secret(info, input.rule_id)
        return RotateNotificationRuleSecretPayload(
            rule=saved.rule if saved else None,
            webhook_secret=saved.webhook_secret if saved else None,
            user_errors=user_errors(problems),
        )

    @strawberry.mutation(
        description=(
            "Send a sample digest of a rule (its five newest matching entries) on each of its "
            "channels, marked isTest: EMAIL and IN_APP to the viewer only, WEBHOOK and SLACK to "
            "the rule's URLs. At most once a minute per rule (CONFLICT says when the next may "
            "go); MANAGE_NOTIFICATIONS holders."
        )
    )
    async def send_test_notification(
        self, info: Info, input: SendTestNotificationInput
    ) -> SendTestNotificationPayload:
        sent, problems = await nm.send_test_notification(info, input.rule_id)
        return SendTestNotificationPayload(
            deliveries=sent.deliveries if sent else [],
            user_errors=user_errors(problems),
        )

    @strawberry.mutation(
        description="Delete a notification rule (super admins only); its past digests stay, with no rule."
    )
    async def delete_notification_rule(
        self, info: Info, input: DeleteNotificationRuleInput
    ) -> DeleteNotificationRulePayload:
        deleted, problems = await nm.delete_notification_rule(info, input.id)
        return DeleteNotificationRulePayload(
            deleted_rule_id=strawberry.ID(to_global_id("NotificationRule", deleted))
            if deleted
            else None,
            user_errors=user_errors(problems),
        )

    @strawberry.mutation(
        description="Mark the viewer's own notifications read (by id, or all of the inbox)."
    )
    async def mark_notifications_read(
        self, info: Info, input: MarkNotificationsReadInput
    ) -> MarkNotificationsReadPayload:
        marked, problems = await nm.mark_notifications_read(info, input.ids, input.all)
        return MarkNotificationsReadPayload(
            notifications=marked or [], user_errors=user_errors(problems)
        )

    @strawberry.mutation(
        description=(
            "Set a user's permissions (super admins only; FORBIDDEN otherwise): never your own "
            "nor a super admin's (CONFLICT). Takes effect on the user's open sockets within a "
            "minute."
        )
    )
    async def set_user_permissions(
        self, info: Info, input: SetUserPermissionsInput
    ) -> SetUserPermissionsPayload:
        user, problems = await am.set_user_permissions(info, input.user_id, input.permissions)
        return SetUserPermissionsPayload(user=user, user_errors=user_errors(problems))

    @strawberry.mutation(
        description=(
            "Acknowledge an open alert (holders of APPROVE_SCOPES or UNINSTALL_APPS): the app "
            "stays ERROR but leaves needsAttention until the alert's reason changes. CONFLICT "
            "when the alert is resolved or acknowledged already."
        )
    )
    async def acknowledge_alert(
        self, info: Info, input: AcknowledgeAlertInput
    ) -> AcknowledgeAlertPayload:
        alert, problems = await am.acknowledge_alert(info, input.alert_id, input.note)
        return AcknowledgeAlertPayload(alert=alert, user_errors=user_errors(problems))

    @strawberry.mutation(
        description=(
            "A one-time signed link to the App log export (GET /export/app-log) of this filter "
            "and format, for a browser download, which cannot send a bearer token: valid for "
            "60 seconds and one download, for the viewer only. Anyone who reads the log may "
            "export it; the download costs 100 points of the rate budget."
        )
    )
    async def create_app_log_export(
        self, info: Info, input: CreateAppLogExportInput
    ) -> CreateAppLogExportPayload:
        made, problems = em.create_app_log_export(info, input.format, input.filter, input.bom)
        url, expires_at = made if made is not None else (None, None)
        return CreateAppLogExportPayload(
            url=url, expires_at=expires_at, user_errors=user_errors(problems)
        )
