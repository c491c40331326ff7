"""`sendTestNotification` (DESIGN §6 "More channels and 'send test'"): a sample digest of a rule
on each of its channels, marked as a test, so an editor sees what the rule sends and whether
its webhook works.

- Who: holders of MANAGE_NOTIFICATIONS. EMAIL and IN_APP reach the viewer only (whatever the
  rule's audience); WEBHOOK and SLACK go to the rule's URLs.
- What: the rule's five newest matching entries, whenever recorded (none: the sample says so);
  the period is from the oldest of them (or now) to now. Tests never touch the rule's cut.
- How often: at most once a minute per rule, across processes: a compare-and-set UPDATE of the
  rule's `test_sent_at`, in the transaction that writes the sample, so a refused or failed send
  leaves it as it was. Too soon → CONFLICT saying when the next may go.
- Then the sample's email and messages are sent at once through the outboxes (one attempt
  each, with the outboxes' leases; a failure is retried by the worker like any other), and the
  deliveries are returned as they stand.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.expressions import Q

from gateway import models as m
from gateway.models.enums import (
    ACTIVITIES_BY_TYPE,
    DeliveryStatus,
    NotificationChannel,
    Permission,
)
from gateway.services import channel_outbox, mail
from gateway.services.access import require
from gateway.services.digests import channel_delivery
from gateway.services.envelopes import unit_of_work
from gateway.services.lifecycle import Actor
from gateway.services.problems import Refused, conflict, not_found
from gateway.services.webhooks import host_of
from gateway.settings import Settings

SAMPLE_SIZE = 5
INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True)
class TestSend:
    deliveries: list[m.Delivery]


async def _sample(rule: m.NotificationRule) -> tuple[list[int], list[datetime]]:
    entries = m.AppLogEntry.filter(
        portal_id=rule.portal_id, activity__in=list(ACTIVITIES_BY_TYPE[rule.type])
    )
    if not rule.all_apps:
        apps = await m.RuleApp.filter(rule_id=rule.id).values_list("app_id", flat=True)
        entries = entries.filter(app_id__in=list(apps)) if apps else entries.filter(id__in=[])
    rows = (
        await entries.order_by("-occurred_at", "-id")
        .limit(SAMPLE_SIZE)
        .values_list("id", "occurred_at")
    )
    return [r[0] for r in rows], [r[1] for r in rows]


def _too_soon(last: datetime) -> Refused:
    next_at = last + INTERVAL
    if next_at.microsecond:  # said to the second, never too early
        next_at = next_at.replace(microsecond=0) + timedelta(seconds=1)
    return Refused(
        [
            conflict(
                "A test of this rule was sent less than a minute ago; the next may go at "
                f"{next_at.strftime('%H:%M:%S')} UTC",
                "input",
                "ruleId",
            )
        ]
    )


async def send_test(actor: Actor, rule_id: int, settings: Settings) -> TestSend:
    rule = await m.NotificationRule.get_or_none(id=rule_id, portal_id=actor.portal.id)
    if rule is None:
        if not actor.user.can_manage_notifications:
            require(actor.user, Permission.MANAGE_NOTIFICATIONS, "input", "ruleId")
        raise Refused([not_found("notification rule", "input", "ruleId")])
    require(actor.user, Permission.MANAGE_NOTIFICATIONS, "input", "ruleId")
    now = actor.now
    if rule.test_sent_at is not None and rule.test_sent_at > now - INTERVAL:
        raise _too_soon(rule.test_sent_at)
    ids, times = await _sample(rule)
    start = min(times) if times else now
    made: list[int] = []
    async with unit_of_work(actor.publisher) as changes:
        # The check that counts, whichever process asks: only one UPDATE in a minute matches.
        taken = (
            await m.NotificationRule.filter(id=rule.id)
            .filter(Q(test_sent_at__isnull=True) | Q(test_sent_at__lte=now - INTERVAL))
            .update(test_sent_at=now)
        )
        if taken != 1:
            current = await m.NotificationRule.get_or_none(id=rule.id)
            if current is None or current.test_sent_at is None:
                raise Refused([not_found("notification rule", "input", "ruleId")])
            raise _too_soon(current.test_sent_at)
        rows: list[m.Delivery] = []
        if rule.email or rule.in_app:
            notification = await m.Notification.create(
                portal_id=rule.portal_id,
                recipient_id=actor.user.id,
                rule_id=rule.id,
                type=rule.type,
                period_start=start,
                period_end=now,
                entry_count=len(ids),
                in_app=rule.in_app,
                created_at=now,
                cut_at=None,
                is_test=True,
            )
            await m.NotificationEntry.bulk_create(
                [m.NotificationEntry(notification_id=notification.id, entry_id=e) for e in ids]
            )
            for channel, wanted in (
                (NotificationChannel.IN_APP, rule.in_app),
                (NotificationChannel.EMAIL, rule.email),
            ):
                if not wanted:
                    continue
                in_app = channel is NotificationChannel.IN_APP
                rows.append(
                    await m.Delivery.create(
                        portal_id=rule.portal_id,
                        rule_id=rule.id,
                        notification_id=notification.id,
                        recipient_id=actor.user.id,
                        channel=channel,
                        # In the inbox once this commits; the email goes through the outbox.
                        status=DeliveryStatus.SENT if in_app else DeliveryStatus.PENDING,
                        attempts=1 if in_app else 0,
                        sent_at=now if in_app else None,
                        next_attempt_at=None if in_app else now,
                        created_at=now,
                        is_test=True,
                    )
                )
            if rule.in_app:
                changes.notified(rule.portal_id, notification.id)
        for channel, url in (
            (NotificationChannel.WEBHOOK, rule.webhook_url),
            (NotificationChannel.SLACK, rule.slack_webhook_url),
        ):
            if url:
                row = channel_delivery(
                    rule, channel, host_of(url), now, None, now, ids, len(ids), start=start
                )
                row.is_test = True
                await row.save()
                rows.append(row)
        made = [r.id for r in rows]
    owner = f"test-send:{uuid.uuid4().hex[:12]}"
    outgoing = [r.id for r in rows if r.status is DeliveryStatus.PENDING]
    if outgoing:
        await mail.send_due(now, settings, owner, ids=outgoing)
        await channel_outbox.send_due(now, settings, owner, ids=outgoing)
    by_id = {d.id: d for d in await m.Delivery.filter(id__in=made)}
    return TestSend([by_id[i] for i in made if i in by_id])
