"""Digest emails: the outbox (EMAIL `Delivery` rows) sent over SMTP, or written to a folder.

`send_due` sends every email that is due. Each message is first claimed with a lease (a
compare-and-set UPDATE on `lease_owner`/`lease_until` that succeeds only while nobody else
holds an unexpired lease; on PostgreSQL the candidates are picked `FOR UPDATE SKIP LOCKED`
in a short transaction, so concurrent senders take different rows), and its outcome is
recorded with an UPDATE that succeeds only while the lease is still ours. So several senders
never send one message at the same time, and a sender that died mid-send leaves a lease that
expires and lets another finish the job.

At the SMTP boundary delivery is at-least-once (DESIGN §1 "Digests"): a sender that dies
between the server's 250 and recording SENT sends the message again once its lease expires.
Every attempt carries the same Message-ID, derived from (rule, cut, recipient), so mail
systems can drop the duplicate; the `.eml` outbox overwrites the same file.

Outcomes (the rows always stay, so nothing is lost):
- 250 → SENT, `sent_at` = the pass's `now`, `last_error` cleared.
- A 4xx answer, or no conversation at all (refused or failed connection, timeout, TLS or
  authentication failure: problems of the link or of our configuration, not of the message)
  → RETRYING at `now` + backoff (1 min, doubling, at most 1 h by default), `last_error` = the
  server's answer or the connection error. The last attempt is made when the give-up time
  (4 days after the message was queued, by default) comes; a failure then → FAILED.
- A 5xx answer to the message (MAIL FROM, RCPT TO, DATA) → FAILED at once, never retried.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr

import aiosmtplib
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from gateway import models as m
from gateway.models.enums import DeliveryStatus, NotificationChannel
from gateway.services.faults import pause_point
from gateway.services.leases import lease_free
from gateway.services.mail.message import build_message
from gateway.services.mail.transports import ConnectFailed, describe_error, transport_for
from gateway.settings import Settings

logger = logging.getLogger("gateway.services.mail")

# Longer server answers are cut when recorded.
MAX_ERROR = 1000
OPEN = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class SendResult:
    """What one pass over an outbox recorded: this module's `send_due` (email) or
    services/channel_outbox.py's (webhooks and Slack)."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0


@dataclass(frozen=True)
class _Failure:
    error: str
    permanent: bool


def _failure(exc: BaseException) -> _Failure:
    """A 5xx answer to the message is permanent; anything else may pass (RFC 5321 §4.2.1)."""
    error = describe_error(exc)[:MAX_ERROR]
    if isinstance(exc, ConnectFailed):
        return _Failure(error, permanent=False)
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        exc = exc.recipients[0]
    if isinstance(exc, aiosmtplib.SMTPResponseException) and not isinstance(
        exc, (aiosmtplib.SMTPAuthenticationError, aiosmtplib.SMTPHeloError)
    ):
        return _Failure(error, permanent=500 <= exc.code <= 599)
    return _Failure(error, permanent=False)


def retry_at(
    created_at: datetime, attempts: int, now: datetime, settings: Settings
) -> datetime | None:
    """When to try again after the `attempts`-th attempt failed at `now`, or None: give up.

    The delay starts at `mail_retry_initial_seconds` and doubles (at most
    `mail_retry_max_seconds`); the last attempt is made at the give-up time itself.
    """
    deadline = created_at + timedelta(seconds=settings.mail_give_up_seconds)
    if now >= deadline:
        return None
    exponent = min(max(attempts - 1, 0), 60)
    delay = min(settings.mail_retry_initial_seconds * 2**exponent, settings.mail_retry_max_seconds)
    return min(now + timedelta(seconds=delay), deadline)


async def claim(
    now: datetime,
    at: datetime,
    after_id: int,
    settings: Settings,
    owner: str,
    *,
    channels: Collection[NotificationChannel] = (NotificationChannel.EMAIL,),
    ids: Collection[int] | None = None,
) -> list[m.Delivery]:
    """Lease the next due messages of `channels` (ids above `after_id`, and among `ids` when
    given); those another sender holds are skipped. The webhook sender shares this
    (gateway/services/channel_outbox.py)."""
    until = at + timedelta(seconds=settings.mail_lease_seconds)
    claimed: list[m.Delivery] = []
    async with in_transaction():
        due = m.Delivery.filter(channel__in=list(channels), status__in=OPEN, id__gt=after_id)
        if ids is not None:
            due = due.filter(id__in=list(ids))
        candidates = await (
            due.filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
            .filter(lease_free(at))
            .order_by("id")
            .limit(settings.mail_batch_size)
            .select_for_update(skip_locked=True)
        )
        for delivery in candidates:
            taken = await (
                m.Delivery.filter(id=delivery.id, status__in=OPEN)
                .filter(lease_free(at))
                .update(lease_owner=owner, lease_until=until)
            )
            if taken == 1:
                claimed.append(delivery)
    return claimed


async def renew(delivery: m.Delivery, at: datetime, settings: Settings, owner: str) -> bool:
    """Extend our lease to cover this message's send (a batch may take a while)."""
    until = at + timedelta(seconds=settings.mail_lease_seconds)
    return await m.Delivery.filter(id=delivery.id, lease_owner=owner).update(lease_until=until) == 1


async def record(delivery: m.Delivery, owner: str, **values: object) -> bool:
    """Write the outcome and release the lease, only if the lease is still ours."""
    done = await m.Delivery.filter(id=delivery.id, lease_owner=owner).update(
        lease_owner=None, lease_until=None, attempts=delivery.attempts + 1, **values
    )
    if done != 1:
        logger.warning(
            "mail: lease on delivery %s lost before recording; another sender owns it",
            delivery.id,
            extra={"delivery_id": delivery.id, "owner": owner},
        )
    return done == 1


async def release(deliveries: list[m.Delivery], owner: str) -> None:
    """Give back leases on messages not attempted, so another sender need not wait for them."""
    await m.Delivery.filter(id__in=[d.id for d in deliveries], lease_owner=owner).update(
        lease_owner=None, lease_until=None
    )


async def send_due(
    now: datetime,
    settings: Settings,
    owner: str,
    *,
    should_stop: Callable[[], bool] | None = None,
    ids: Collection[int] | None = None,
) -> SendResult:
    """Send every due email (PENDING or RETRYING, `next_attempt_at` ≤ `now` or unset).

    `owner` names this sender in leases (unique per process, at most 100 characters). Times
    recorded are `now`; leases also advance with the real time the pass takes. Once
    `should_stop()` is true (shutting down), the messages claimed but not yet sent are given
    back and the pass ends. `ids` limits the pass to those messages (a test send's).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if not 0 < len(owner) <= 100:
        raise ValueError("owner must be 1 to 100 characters")
    now = now.astimezone(UTC)
    started = time.monotonic()

    def clock() -> datetime:
        return now + timedelta(seconds=time.monotonic() - started)

    sender = parseaddr(settings.mail_from)[1] or settings.mail_from
    transport = transport_for(settings)
    sent = retrying = failed = 0
    last_id = 0
    try:
        while batch := await claim(now, clock(), last_id, settings, owner, ids=ids):
            last_id = batch[-1].id
            for index, delivery in enumerate(batch):
                if should_stop is not None and should_stop():
                    await release(batch[index:], owner)
                    return SendResult(sent=sent, retrying=retrying, failed=failed)
                if not await renew(delivery, clock(), settings, owner):
                    continue
                failure: _Failure | None = None
                try:
                    message = await build_message(delivery, settings)
                    await transport.send(message, sender, str(message["To"].addresses[0].addr_spec))
                except Exception as exc:
                    failure = _failure(exc)
                    if not isinstance(exc, (aiosmtplib.SMTPException, ConnectFailed, OSError)):
                        logger.exception("mail: delivery %s failed unexpectedly", delivery.id)
                else:
                    # Test-only fault point: a sender killed here has sent without recording it;
                    # another resends after the lease expires (at-least-once, same Message-ID).
                    await pause_point("mail:after-send")
                if failure is None:
                    if await record(
                        delivery,
                        owner,
                        status=DeliveryStatus.SENT,
                        sent_at=now,
                        next_attempt_at=None,
                        last_error=None,
                    ):
                        sent += 1
                    continue
                attempts = delivery.attempts + 1
                next_at = (
                    None
                    if failure.permanent
                    else retry_at(delivery.created_at, attempts, now, settings)
                )
                if next_at is None:
                    error = failure.error
                    if not failure.permanent:
                        error = f"{error} (gave up after {attempts} attempts)"[:MAX_ERROR]
                    if await record(
                        delivery,
                        owner,
                        status=DeliveryStatus.FAILED,
                        next_attempt_at=None,
                        last_error=error,
                    ):
                        failed += 1
                        logger.warning(
                            "mail: delivery %s failed: %s",
                            delivery.id,
                            error,
                            extra={"delivery_id": delivery.id},
                        )
                elif await record(
                    delivery,
                    owner,
                    status=DeliveryStatus.RETRYING,
                    next_attempt_at=next_at,
                    last_error=failure.error,
                ):
                    retrying += 1
                    logger.info(
                        "mail: delivery %s will be retried at %s: %s",
                        delivery.id,
                        next_at.isoformat(),
                        failure.error,
                        extra={"delivery_id": delivery.id},
                    )
    finally:
        await transport.close()
    return SendResult(sent=sent, retrying=retrying, failed=failed)
