"""GraphQL types of notification rules, digests and their deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from gateway import models as m
from gateway.context import Info
from gateway.executor.batch import batch_field, reads_viewer
from gateway.resolvers import install_requests as requests_r
from gateway.resolvers import notifications as r
from gateway.schema.base import Node, id_field, node_type, row
from gateway.schema.enums import (
    DeliveryStatus,
    InstallRequestNotice,
    NotificationAudience,
    NotificationChannel,
    NotificationFrequency,
    NotificationType,
)
from gateway.services.digests import MAX_ENTRIES

if TYPE_CHECKING:
    from gateway.schema.apps import ConnectedApp
    from gateway.schema.install_requests import InstallRequest
    from gateway.schema.log import AppLogEntry
    from gateway.schema.portal import Team, User

ConnectedAppT = Annotated["ConnectedApp", strawberry.lazy("gateway.schema.apps")]
AppLogEntryT = Annotated["AppLogEntry", strawberry.lazy("gateway.schema.log")]
UserT = Annotated["User", strawberry.lazy("gateway.schema.portal")]
TeamT = Annotated["Team", strawberry.lazy("gateway.schema.portal")]
InstallRequestT = Annotated["InstallRequest", strawberry.lazy("gateway.schema.install_requests")]


@strawberry.type(description="Who is told about which app events, and how often.")
class NotificationRule(Node):
    is_type_of = node_type(m.NotificationRule)

    id: strawberry.ID = id_field("NotificationRule", "rule")

    name: str = strawberry.field(description="Name of the rule, unique in the portal.")
    type: NotificationType = strawberry.field(description="Which events the rule reports.")
    frequency: NotificationFrequency = strawberry.field(description="How often digests go out.")
    all_apps: bool = strawberry.field(description="The rule covers every app (else only `apps`).")

    @strawberry.field(description="The selected apps when `allApps` is false, by name.")
    async def apps(self, info: Info) -> list[ConnectedAppT]:
        return await r.rule_apps(row(self, m.NotificationRule), info)  # type: ignore[return-value]  # a row stands for its GraphQL type

    audience: NotificationAudience = strawberry.field(description="Who receives the digests.")

    @strawberry.field(description="Named recipients of a SPECIFIC audience, by name.")
    async def users(self, info: Info) -> list[UserT]:
        return await r.rule_users(row(self, m.NotificationRule), info)  # type: ignore[return-value]  # a row stands for its GraphQL type

    @strawberry.field(
        description="Teams whose members receive a SPECIFIC audience's digests, by name."
    )
    async def teams(self, info: Info) -> list[TeamT]:
        return await r.rule_teams(row(self, m.NotificationRule), info)  # type: ignore[return-value]  # a row stands for its GraphQL type

    channels: list[NotificationChannel] = strawberry.field(
        description=(
            "Where digests are delivered. WEBHOOK and SLACK are on exactly when their URL is set."
        )
    )

    webhook_url: str | None = batch_field(
        r.webhook_urls,
        description=(
            "The URL WEBHOOK digests are posted to (signed JSON, see the README). A credential: "
            "null for anyone without MANAGE_NOTIFICATIONS (they see `webhookHost`)."
        ),
        viewer_facts=("can_manage_notifications",),
    )
    slack_webhook_url: str | None = batch_field(
        r.slack_webhook_urls,
        description=(
            "The Slack incoming webhook SLACK digests are posted to. A credential: null for "
            "anyone without MANAGE_NOTIFICATIONS."
        ),
        viewer_facts=("can_manage_notifications",),
    )
    webhook_host: str | None = batch_field(
        r.webhook_hosts,
        description="The host of `webhookUrl`, for everyone; null without a webhook.",
    )
    last_delivery: Delivery | None = batch_field(
        r.last_deliveries,
        description=(
            "The rule's newest delivery on any channel (a digest's or a test's), so editors see "
            "a failing webhook; null when there is none, and for anyone without "
            "MANAGE_NOTIFICATIONS."
        ),
        viewer_facts=("can_manage_notifications",),
    )

    @strawberry.field(description="Who created the rule.")
    async def created_by(self, info: Info) -> UserT | None:
        return await r.user_by_id(row(self, m.NotificationRule).created_by_id, info)  # type: ignore[return-value]  # a row stands for its GraphQL type

    created_at: datetime = strawberry.field(description="When the rule was created.")
    updated_at: datetime = strawberry.field(description="When the rule was last changed.")

    @strawberry.field(
        description="The viewer may edit or delete the rule: holders of MANAGE_NOTIFICATIONS "
        "(super admins hold it).",
        metadata=reads_viewer("can_manage_notifications"),
    )
    def viewer_can_edit(self, info: Info) -> bool:
        return bool(info.context.viewer.can_manage_notifications)


@strawberry.type(description="One digest for one recipient.")
class Notification(Node):
    is_type_of = node_type(m.Notification)

    id: strawberry.ID = id_field("Notification", "notification")

    @strawberry.field(description="The rule that produced it; null once the rule is deleted.")
    async def rule(self, info: Info) -> NotificationRule | None:
        return await r.notification_rule(row(self, m.Notification), info)  # type: ignore[return-value]  # a row stands for its GraphQL type

    type: NotificationType = strawberry.field(description="Which events the digest reports.")
    period_start: datetime = strawberry.field(description="Start of the covered period.")
    period_end: datetime = strawberry.field(description="End of the covered period.")
    entry_count: int = strawberry.field(description="How many log entries the digest covers.")

    @strawberry.field(
        description=f"The newest {MAX_ENTRIES} covered entries, newest first; see `entryCount`."
    )
    async def entries(self, info: Info) -> list[AppLogEntryT]:
        return await r.notification_entries(row(self, m.Notification), info)  # type: ignore[return-value]  # a row stands for its GraphQL type

    read_at: datetime | None = strawberry.field(
        description="When the recipient read it; null if unread."
    )
    is_test: bool = strawberry.field(
        description="A sample from sendTestNotification, not a digest of the rule's period."
    )

    install_requests: list[InstallRequestT] = batch_field(
        requests_r.notification_requests,
        description=(
            "For an INSTALL_REQUEST notification, the requests it is about (a reminder lists "
            "every request waiting then); empty for digests."
        ),
        viewer_facts=("id", "can_install"),
    )
    install_request_notice: InstallRequestNotice | None = batch_field(
        requests_r.notification_notices,
        description="Why an INSTALL_REQUEST notification was sent; null for digests.",
    )


@strawberry.type(
    description=(
        "One digest sent on one channel, with its delivery state: for EMAIL and IN_APP one "
        "recipient's notification; for WEBHOOK and SLACK one message per digest to the rule's URL."
    )
)
class Delivery(Node):
    is_type_of = node_type(m.Delivery)

    id: strawberry.ID = id_field("Delivery", "delivery")

    notification: Notification | None = batch_field(
        r.delivery_notifications,
        description="The digest delivered; null for WEBHOOK and SLACK deliveries.",
    )
    recipient: UserT | None = batch_field(
        r.delivery_recipients,
        description="Who it is for; null for WEBHOOK and SLACK deliveries.",
    )
    rule: NotificationRule | None = batch_field(
        r.delivery_rules,
        description="The rule whose digest (or test) this is; null once the rule is deleted.",
    )
    period_start: datetime | None = strawberry.field(
        description="WEBHOOK and SLACK: start of the period the message covers."
    )
    period_end: datetime | None = strawberry.field(
        description="WEBHOOK and SLACK: end of the period the message covers."
    )
    target: str | None = strawberry.field(
        description="WEBHOOK and SLACK: the host of the URL the message goes to."
    )
    is_test: bool = strawberry.field(description="Sent by sendTestNotification.")

    channel: NotificationChannel = strawberry.field(description="Email, in-app, webhook or Slack.")
    status: DeliveryStatus = strawberry.field(description="Where the delivery stands.")
    attempts: int = strawberry.field(description="Send attempts so far.")
    next_attempt_at: datetime | None = strawberry.field(
        description="When RETRYING, the next attempt."
    )
    last_error: str | None = strawberry.field(
        description=(
            "On failure, the mail server's last answer, or for WEBHOOK and SLACK the HTTP status "
            "and at most 1 KiB of the answer (or why the destination was refused)."
        )
    )
    sent_at: datetime | None = strawberry.field(description="When it was sent.")
