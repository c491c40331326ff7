"""The WEBHOOK and SLACK outbox: one message per digest (or test) and channel, posted to the
rule's URL (DESIGN §6 "More channels").

Deliveries are claimed, leased and recorded exactly as emails are (gateway/services/mail/
outbox.py: `claim`, `renew`, `record`), and retried with the same backoff (`retry_at`), so one
rule says how long a failing destination is tried. Outcomes:
- 2xx → SENT.
- No answer (connection refused or failed, timeout), 408, 429, 5xx → RETRYING with the email
  backoff; a 429's Retry-After (seconds or a date, at most 1 h) sets the next attempt instead.
  At the give-up time → FAILED.
- Any other answer (4xx, a redirect, which is never followed) → FAILED, with the status and at
  most 1 KiB of the answer.
- A destination refused at this attempt (it now resolves to a private address, or the URL was
  removed, or the rule deleted) → FAILED; a name that does not resolve is retried.

Each attempt reads the rule as it is then: its URL, and its secret, so a delivery retried
after `rotateNotificationRuleSecret` is signed with the new one. Logs name the delivery and the
host, never the URL (it is a credential) nor the secret.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from gateway import models as m
from gateway.ids import to_global_id
from gateway.models.enums import URL_CHANNELS, DeliveryStatus, NotificationChannel
from gateway.services import secrets, webhooks
from gateway.services.mail.outbox import SendResult, claim, record, release, renew, retry_at
from gateway.services.slack import slack_message
from gateway.services.webhooks import DELIVERY_HEADER, Answer, Refusal
from gateway.settings import Settings

logger = logging.getLogger("gateway.services.channel_outbox")


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    error: str = ""
    permanent: bool = False
    retry_after: float | None = None


def _iso(at: datetime | None) -> str | None:
    # The API's DateTime strings (Strawberry serializes with isoformat), in UTC.
    return at.astimezone(UTC).isoformat() if at is not None else None


async def message(delivery: m.Delivery, rule: m.NotificationRule) -> dict[str, Any]:
    """The webhook body (DESIGN §6): the rule, the portal, the period and the entries."""
    portal = await m.Portal.get(id=delivery.portal_id)
    ids = list(delivery.entry_ids or [])
    entries = (
        await m.AppLogEntry.filter(id__in=ids)
        .select_related("app", "user")
        .order_by("-occurred_at", "-id")
        if ids
        else []
    )
    reasons = {r.entry_id: r for r in await m.LoggedAlert.filter(entry_id__in=ids)} if ids else {}
    changes = (
        {r.entry_id: r for r in await m.LoggedScopeChange.filter(entry_id__in=ids)} if ids else {}
    )
    return {
        "rule": {
            "id": to_global_id("NotificationRule", rule.id),
            "name": rule.name,
            "type": rule.type.value,
        },
        "portal": {"id": to_global_id("Portal", portal.id), "name": portal.name},
        "periodStart": _iso(delivery.period_start),
        "periodEnd": _iso(delivery.period_end),
        "entryCount": delivery.entry_count or 0,
        "isTest": delivery.is_test,
        "entries": [_entry(e, reasons.get(e.id), changes.get(e.id)) for e in entries],
    }


def _entry(
    e: m.AppLogEntry, reason: m.LoggedAlert | None, change: m.LoggedScopeChange | None
) -> dict[str, Any]:
    return {
        "id": to_global_id("AppLogEntry", e.id),
        "activity": e.activity.value,
        "occurredAt": _iso(e.occurred_at),
        "app": {"id": to_global_id("ConnectedApp", e.app.id), "name": e.app.name},
        "user": (
            {"id": to_global_id("User", e.user.id), "name": e.user.name, "email": e.user.email}
            if e.user is not None
            else None
        ),
        "alertReason": (
            {"severity": reason.severity.value, "code": reason.code, "message": reason.message}
            if reason is not None
            else None
        ),
        "scopeChanges": (
            {"added": list(change.added), "removed": list(change.removed)}
            if change is not None
            else None
        ),
    }


async def _attempt(delivery: m.Delivery, settings: Settings) -> _Outcome:
    rule = await m.NotificationRule.get_or_none(id=delivery.rule_id) if delivery.rule_id else None
    if rule is None:
        return _Outcome(False, "The rule was deleted", permanent=True)
    webhook = delivery.channel is NotificationChannel.WEBHOOK
    url = rule.webhook_url if webhook else rule.slack_webhook_url
    if not url:
        return _Outcome(False, "The rule has no URL for this channel any more", permanent=True)
    try:
        destination = await webhooks.check(url, settings)
    except Refusal as refusal:
        return _Outcome(False, refusal.message, permanent=not refusal.transient)
    body_json = await message(delivery, rule)
    headers = {DELIVERY_HEADER: to_global_id("Delivery", delivery.id)}
    if webhook:
        if rule.webhook_secret is None:
            return _Outcome(False, "The rule has no signing secret", permanent=True)
        try:
            secret = secrets.decrypt(settings, rule.webhook_secret)
        except secrets.SecretsUnavailable as exc:
            # The operator's to fix (the key): worth trying again later.
            return _Outcome(False, f"Cannot sign: {exc}")
        body = orjson.dumps(body_json)
        headers.update(webhooks.signed_headers(secret, body, time.time()))
    else:
        body = orjson.dumps(slack_message(body_json))
    answer: Answer = await webhooks.post(destination, body, headers, settings)
    if answer.ok:
        return _Outcome(True)
    return _Outcome(
        False,
        answer.describe(),  # the status and at most 1 KiB of the answer
        permanent=not answer.transient,
        retry_after=answer.retry_after,
    )


def _next_attempt(
    delivery: m.Delivery, outcome: _Outcome, attempts: int, now: datetime, settings: Settings
) -> datetime | None:
    """When to try again, or None: FAILED. Retry-After stands in for the backoff's delay, but
    not beyond the give-up time."""
    if outcome.permanent:
        return None
    backoff = retry_at(delivery.created_at, attempts, now, settings)
    if backoff is None or outcome.retry_after is None:
        return backoff
    deadline = delivery.created_at + timedelta(seconds=settings.mail_give_up_seconds)
    return min(now + timedelta(seconds=outcome.retry_after), deadline)


async def send_due(
    now: datetime,
    settings: Settings,
    owner: str,
    *,
    should_stop: Callable[[], bool] | None = None,
    ids: Collection[int] | None = None,
) -> SendResult:
    """Post every due WEBHOOK and SLACK message (all, or those among `ids`), as of `now`."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC)
    started = time.monotonic()

    def clock() -> datetime:
        return now + timedelta(seconds=time.monotonic() - started)

    sent = retrying = failed = 0
    last_id = 0
    while batch := await claim(
        now, clock(), last_id, settings, owner, channels=URL_CHANNELS, ids=ids
    ):
        last_id = batch[-1].id
        for delivery in batch:
            if should_stop is not None and should_stop():
                await release([d for d in batch if d.id >= delivery.id], owner)
                return SendResult(sent, retrying, failed)
            if not await renew(delivery, clock(), settings, owner):
                continue
            try:
                outcome = await _attempt(delivery, settings)
            except Exception as exc:
                logger.exception("channel: delivery %s failed unexpectedly", delivery.id)
                outcome = _Outcome(False, f"Internal error: {type(exc).__name__}")
            context = {"delivery_id": delivery.id, "target": delivery.target}
            if outcome.ok:
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
            next_at = _next_attempt(delivery, outcome, attempts, now, settings)
            if next_at is None:
                error = outcome.error
                if not outcome.permanent:
                    error = f"{error} (gave up after {attempts} attempts)"
                if await record(
                    delivery,
                    owner,
                    status=DeliveryStatus.FAILED,
                    next_attempt_at=None,
                    last_error=error,
                ):
                    failed += 1
                    logger.warning(
                        "channel: delivery %s to %s failed: %s",
                        delivery.id,
                        delivery.target,
                        error,
                        extra=context,
                    )
            elif await record(
                delivery,
                owner,
                status=DeliveryStatus.RETRYING,
                next_attempt_at=next_at,
                last_error=outcome.error,
            ):
                retrying += 1
                logger.info(
                    "channel: delivery %s to %s will be retried at %s: %s",
                    delivery.id,
                    delivery.target,
                    next_at.isoformat(),
                    outcome.error,
                    extra=context,
                )
    return SendResult(sent, retrying, failed)
