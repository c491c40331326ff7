"""Digests: each notification rule's due (rule, cut) job, claimed with a lease and produced in
one transaction (DESIGN §1 "Digests", §3 "Digest worker").

A rule's cut C is the recorded time up to which it has covered the log. Its next boundary is
the end of the period (of its frequency, in its portal's timezone) containing C. Once that
boundary has passed, the job covers the entries recorded in (C, E], where E is the start of the
period containing "now" (the end of the last completed period): a worker that was down makes
one digest for the whole gap. Then the cut moves to E, also when nothing matched (no entries,
no digest, and nothing is scanned twice).

Exactly once, whatever workers race or die:
- Claim: a lease on the rule, taken with a compare-and-set UPDATE that succeeds only while the
  cut is still C and nobody holds an unexpired lease; on PostgreSQL the row is first picked
  `FOR UPDATE SKIP LOCKED`, so a worker never waits on a rule another is busy with.
- Produce: the notifications, their entries and deliveries (IN_APP sent at once, EMAIL queued in
  the outbox) are written in one transaction that ends by moving the cut from C to E with
  another compare-and-set. If the cut is no longer C (someone finished first), or the unique
  keys (rule, cut, recipient) and (notification, channel) refuse a row (someone is finishing
  right now, e.g. after our lease expired under us), everything rolls back.
- A worker that dies after claiming leaves only a lease, which expires; one that dies after
  committing leaves a moved cut: the next worker finds nothing to redo.

`settle`: the pass treats `now - settle` as the current instant for deciding which periods are
complete, because an entry's recorded time is set when its request starts and the row only
becomes visible when the request commits: right at a boundary, an entry recorded just before
it may still be on its way, and the cut must not move past it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from gateway import models as m
from gateway.models.enums import (
    ACTIVITIES_BY_TYPE,
    DeliveryStatus,
    NotificationAudience,
    NotificationChannel,
)
from gateway.services.envelopes import Publisher, unit_of_work
from gateway.services.faults import pause_point
from gateway.services.leases import lease_free
from gateway.services.periods import period_start
from gateway.services.webhooks import host_of

log = logging.getLogger("gateway.digests")

# A digest keeps its newest this many entries (by occurredAt, as `Notification.entries` lists
# them); `entryCount` still counts them all. Emails, the API and the demo data follow this.
MAX_ENTRIES = 100
# Rows per INSERT: keeps each statement under SQLite's parameter limit.
_BATCH = 500


@dataclass(frozen=True)
class Job:
    """One due digest of one rule: the entries recorded in (cut, end]."""

    rule_id: int
    portal_id: int
    cut: datetime
    end: datetime


@dataclass
class DigestResult:
    """What one scheduling pass did."""

    digests: int = 0  # jobs that made notifications
    notifications: int = 0
    empty: int = 0  # jobs with nothing to report: the cut moved, nobody was notified
    skipped: int = 0  # jobs another worker held or finished first
    errors: int = 0  # jobs that failed (logged; retried on a later pass)


class _Lost(Exception):
    """The job is no longer ours to do: the cut moved, or the rule is gone."""


async def due_jobs(
    now: datetime, *, settle: timedelta = timedelta(0), portal_ids: Collection[int] | None = None
) -> list[Job]:
    """The jobs due at `now`, oldest cut first; rules under another worker's lease are left out."""
    as_of = now - settle
    # A due rule's cut lies before the start of the current period, so before `as_of`: a
    # cheap prefilter in SQL; the boundary itself depends on the portal's timezone.
    rules = m.NotificationRule.filter(cut_at__lt=as_of).filter(lease_free(now))
    if portal_ids is not None:
        rules = rules.filter(portal_id__in=list(portal_ids))
    rows = await rules.order_by("cut_at", "id").values(
        "id", "portal_id", "frequency", "cut_at", "portal__timezone"
    )
    jobs = []
    for row in rows:
        try:
            end = period_start(row["frequency"], row["portal__timezone"], as_of)
        except Exception:
            log.exception(
                "rule %s: cannot compute its period", row["id"], extra={"rule_id": row["id"]}
            )
            continue
        if row["cut_at"] < end:
            jobs.append(Job(row["id"], row["portal_id"], row["cut_at"], end))
    return jobs


async def claim(job: Job, now: datetime, owner: str, lease: timedelta) -> bool:
    """Take the lease on `job`'s rule; False when another worker has it or has done the job."""
    async with in_transaction():
        wanted = m.NotificationRule.filter(lease_free(now), id=job.rule_id, cut_at=job.cut)
        # PostgreSQL: skip a rule whose row another worker has locked (it is claiming it or
        # committing its digest) instead of queueing behind it. SQLite ignores this (it
        # serializes writers), and the compare-and-set below decides alone.
        if await wanted.select_for_update(skip_locked=True).first() is None:
            return False
        taken = await wanted.update(lease_owner=owner, lease_until=now + lease)
    return taken == 1


async def release(job: Job, owner: str) -> None:
    """Give the lease back after a failure, so the next pass retries at once."""
    await m.NotificationRule.filter(id=job.rule_id, lease_owner=owner).update(
        lease_owner=None, lease_until=None
    )


async def recipients(rule: m.NotificationRule) -> list[int]:
    """User ids the rule notifies, each person once, in id order."""
    users = m.User.filter(portal_id=rule.portal_id)
    if rule.audience is NotificationAudience.SUPER_ADMINS:
        users = users.filter(is_super_admin=True)
    elif rule.audience is NotificationAudience.SPECIFIC:
        named = set(await m.RuleUser.filter(rule_id=rule.id).values_list("user_id", flat=True))
        teams = await m.RuleTeam.filter(rule_id=rule.id).values_list("team_id", flat=True)
        if teams:
            named |= set(
                await m.TeamMembership.filter(team_id__in=teams).values_list("user_id", flat=True)
            )
        if not named:
            return []
        users = users.filter(id__in=sorted(named))
    ids: list[int] = await users.order_by("id").values_list("id", flat=True)  # type: ignore[assignment]  # Tortoise types flat values_list() as tuples
    return ids


async def produce(job: Job, now: datetime, publisher: Publisher) -> int:
    """Make the job's digest in one transaction; the number of notifications and channel
    messages made (0: nothing
    matched, the cut moved all the same). Raises `_Lost` or `IntegrityError` when another
    worker made it; nothing is written then."""
    async with unit_of_work(publisher) as changes:
        # The rule as it is now (an edit since the last digest applies from this one on);
        # on PostgreSQL an edit or delete arriving meanwhile waits for this digest.
        rule = await m.NotificationRule.filter(id=job.rule_id).select_for_update().first()
        if rule is None or rule.cut_at != job.cut:
            raise _Lost
        entries = m.AppLogEntry.filter(
            portal_id=rule.portal_id,
            recorded_at__gt=job.cut,
            recorded_at__lte=job.end,
            activity__in=list(ACTIVITIES_BY_TYPE[rule.type]),
        )
        if not rule.all_apps:
            apps = await m.RuleApp.filter(rule_id=rule.id).values_list("app_id", flat=True)
            entries = entries.filter(app_id__in=list(apps)) if apps else entries.filter(id__in=[])
        count = await entries.count()
        people = await recipients(rule) if count and rule.person_channels else []
        urls = _url_channels(rule) if count else []
        newest: list[int] = (
            await entries.order_by("-occurred_at", "-id")  # type: ignore[assignment]  # Tortoise types flat values_list() as tuples
            .limit(MAX_ENTRIES)
            .values_list("id", flat=True)
            if people or urls
            else []
        )
        if urls:
            # One message per channel whatever the audience, unique by (rule, cut, channel).
            await m.Delivery.bulk_create(
                [
                    channel_delivery(rule, channel, target, now, job.cut, job.end, newest, count)
                    for channel, target in urls
                ]
            )
        if people:
            await m.Notification.bulk_create(
                [
                    m.Notification(
                        portal_id=rule.portal_id,
                        recipient_id=user_id,
                        rule_id=rule.id,
                        type=rule.type,
                        period_start=job.cut,
                        period_end=job.end,
                        entry_count=count,
                        in_app=rule.in_app,
                        created_at=now,
                        cut_at=job.cut,
                    )
                    for user_id in people
                ],
                batch_size=_BATCH,
            )
            made = dict(
                await m.Notification.filter(rule_id=rule.id, cut_at=job.cut).values_list(
                    "recipient_id", "id"
                )
            )
            if sorted(made) != people:
                raise _Lost  # rows from another worker's attempt (cannot commit alongside ours)
            await m.NotificationEntry.bulk_create(
                [
                    m.NotificationEntry(notification_id=made[u], entry_id=e)
                    for u in people
                    for e in newest
                ],
                batch_size=_BATCH,
            )
            await m.Delivery.bulk_create(
                [d for u in people for d in _deliveries(rule, made[u], u, now)], batch_size=_BATCH
            )
            if rule.in_app:
                for user_id in people:
                    changes.notified(rule.portal_id, made[user_id])
        moved = await m.NotificationRule.filter(id=rule.id, cut_at=job.cut).update(
            cut_at=job.end, lease_owner=None, lease_until=None
        )
        if moved != 1:
            raise _Lost
    return len(people) + len(urls)


def _url_channels(rule: m.NotificationRule) -> list[tuple[NotificationChannel, str | None]]:
    """The rule's WEBHOOK and SLACK channels, with each URL's host."""
    return [
        (channel, host_of(url))
        for channel, url in (
            (NotificationChannel.WEBHOOK, rule.webhook_url),
            (NotificationChannel.SLACK, rule.slack_webhook_url),
        )
        if url
    ]


def channel_delivery(
    rule: m.NotificationRule,
    channel: NotificationChannel,
    target: str | None,
    now: datetime,
    cut: datetime | None,
    end: datetime,
    entry_ids: list[int],
    count: int,
    *,
    start: datetime | None = None,
    is_test: bool = False,
) -> m.Delivery:
    """A WEBHOOK or SLACK message in the outbox (gateway/services/channel_outbox.py): no
    recipient, no notification; the rule, the cut (None for a test) and the entries."""
    return m.Delivery(
        portal_id=rule.portal_id,
        rule_id=rule.id,
        channel=channel,
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        cut_at=cut,
        period_start=start if start is not None else cut,
        period_end=end,
        target=target,
        entry_ids=entry_ids,
        entry_count=count,
        is_test=is_test,
    )


def _deliveries(
    rule: m.NotificationRule, notification_id: int, user_id: int, now: datetime
) -> list[m.Delivery]:
    out = []
    if rule.in_app:
        # In the inbox as soon as this commits: delivered.
        out.append(
            m.Delivery(
                portal_id=rule.portal_id,
                rule_id=rule.id,
                notification_id=notification_id,
                recipient_id=user_id,
                channel=NotificationChannel.IN_APP,
                status=DeliveryStatus.SENT,
                attempts=1,
                sent_at=now,
                created_at=now,
            )
        )
    if rule.email:
        # The outbox: the mail sender picks it up (gateway/services/mail/outbox.py).
        out.append(
            m.Delivery(
                portal_id=rule.portal_id,
                rule_id=rule.id,
                notification_id=notification_id,
                recipient_id=user_id,
                channel=NotificationChannel.EMAIL,
                status=DeliveryStatus.PENDING,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
    return out


async def make_due_digests(
    now: datetime,
    publisher: Publisher,
    owner: str,
    *,
    lease: timedelta,
    settle: timedelta = timedelta(0),
    portal_ids: Collection[int] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> DigestResult:
    """Claim and produce every job due at `now`; one failing job does not stop the others.
    Once `should_stop()` is true (shutting down) no further job is claimed."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC)
    result = DigestResult()
    for job in await due_jobs(now, settle=settle, portal_ids=portal_ids):
        if should_stop is not None and should_stop():
            break  # the jobs left are due for the next pass, this worker's or another's
        context = {"rule_id": job.rule_id, "portal_id": job.portal_id}
        try:
            if not await claim(job, now, owner, lease):
                result.skipped += 1
                continue
            # Test-only fault point: a worker killed here leaves a lease and nothing else.
            await pause_point("digest:after-claim")
            made = await produce(job, now, publisher)
        except asyncio.CancelledError:
            # Cancelled (a shutdown whose grace ended) holding the lease: give it back, so
            # the next worker need not wait for it to expire (`produce` rolled back).
            with contextlib.suppress(Exception):
                await release(job, owner)
            raise
        except (_Lost, IntegrityError):
            result.skipped += 1
            log.info(
                "rule %s: digest from %s made by another worker",
                job.rule_id,
                job.cut.isoformat(),
                extra=context,
            )
            continue
        except Exception:
            result.errors += 1
            log.exception(
                "rule %s: digest from %s failed", job.rule_id, job.cut.isoformat(), extra=context
            )
            try:
                await release(job, owner)
            except Exception:
                log.exception("rule %s: releasing the lease failed", job.rule_id, extra=context)
            continue
        if made:
            result.digests += 1
            result.notifications += made
            log.info(
                "rule %s: digest of %s..%s to %d recipients",
                job.rule_id,
                job.cut.isoformat(),
                job.end.isoformat(),
                made,
                extra=context,
            )
        else:
            result.empty += 1
        # Test-only fault point: a worker killed here has committed the digest, but not sent
        # its emails.
        await pause_point("digest:after-write")
    return result
