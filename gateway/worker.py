"""The digest worker: makes due digests, expires install requests and reminds their
reviewers, then sends the email outbox and the webhook and Slack messages (DESIGN §3 "Digest worker", §6 "Install requests").

The same loop runs as `gateway worker` (scale-out: any number of them, next to the servers) and
inside the server in embedded mode (`create_app`'s lifespan). Every pass is safe to run
concurrently with others: digests are claimed with leases and made exactly once by unique keys
(gateway/services/digests.py); emails are leased one by one (gateway/services/mail/outbox.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gateway.metrics import Metrics
from gateway.services import channel_outbox, digests, install_requests
from gateway.services.envelopes import Publisher
from gateway.settings import Settings
from gateway.tracing import Tracing, span

log = logging.getLogger("gateway.worker")

# What a pass may be limited to (`gateway worker --once --only …`); None: all three, in order.
PARTS = ("digests", "install-requests", "mail")


@dataclass
class PassResult:
    """What one pass did: digests made (and notifications in them), and emails sent."""

    digests: int = 0
    notifications: int = 0
    empty: int = 0
    skipped: int = 0
    errors: int = 0
    emails_sent: int = 0
    emails_retrying: int = 0
    emails_failed: int = 0
    # WEBHOOK and SLACK messages (gateway/services/channel_outbox.py).
    messages_sent: int = 0
    messages_retrying: int = 0
    messages_failed: int = 0
    requests_expired: int = 0
    request_reminders: int = 0

    def count(self, metrics: Metrics) -> None:
        """Adds this pass to the worker's series (gateway/metrics.py)."""
        for outcome, n in (
            ("made", self.digests),
            ("empty", self.empty),
            ("skipped", self.skipped),
            ("failed", self.errors),
        ):
            if n:
                metrics.digests.labels(outcome).inc(n)
        for status, n in (
            ("sent", self.emails_sent),
            ("retrying", self.emails_retrying),
            ("failed", self.emails_failed),
        ):
            if n:
                metrics.emails.labels(status).inc(n)
        for status, n in (
            ("sent", self.messages_sent),
            ("retrying", self.messages_retrying),
            ("failed", self.messages_failed),
        ):
            if n:
                metrics.webhooks.labels(status).inc(n)

    def summary(self) -> str:
        return (
            f"{self.digests} digests, {self.notifications} notifications "
            f"({self.empty} rules with nothing new, {self.skipped} done by another worker, "
            f"{self.errors} failed); emails: {self.emails_sent} sent, "
            f"{self.emails_retrying} retrying, {self.emails_failed} failed; webhook and Slack "
            f"messages: {self.messages_sent} sent, {self.messages_retrying} retrying, "
            f"{self.messages_failed} failed; install requests: "
            f"{self.requests_expired} expired, {self.request_reminders} reminders"
        )


def worker_owner() -> str:
    """This worker's name in leases: unique per process (and per worker in a process)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


async def run_pass(
    now: datetime,
    settings: Settings,
    publisher: Publisher,
    owner: str,
    *,
    portal_ids: Collection[int] | None = None,
    settle: timedelta | None = None,
    send_mail: bool = True,
    should_stop: Callable[[], bool] | None = None,
    only: str | None = None,
) -> PassResult:
    """One pass as of `now`: every due digest, then install requests (expiry, reminders),
    then every due email and webhook or Slack message. `only` runs one of the three alone (`PARTS`): expiring requests and
    reminding reviewers never move a rule's cut, and neither does sending mail.

    `portal_ids` limits digests and install requests to those portals (the outbox is sent
    whole). `settle`
    defaults to `settings.digest_settle_seconds` (see gateway/services/digests.py). Once
    `should_stop()` says so (the process is shutting down), nothing more is claimed: the job
    or email in hand is finished, the rest is left for the next pass (any worker's).
    """
    if only is not None and only not in PARTS:
        raise ValueError(f"only is one of {', '.join(PARTS)}, not {only!r}")
    if settle is None:
        settle = timedelta(seconds=settings.digest_settle_seconds)
    result = PassResult()
    if only in (None, "digests"):
        made = await digests.make_due_digests(
            now,
            publisher,
            owner,
            lease=timedelta(seconds=settings.digest_lease_seconds),
            settle=settle,
            portal_ids=portal_ids,
            should_stop=should_stop,
        )
        result.digests, result.notifications = made.digests, made.notifications
        result.empty, result.skipped, result.errors = made.empty, made.skipped, made.errors

    def stopping() -> bool:
        return should_stop is not None and should_stop()

    if only in (None, "install-requests") and not stopping():
        asked = await install_requests.run_pass(
            now, publisher, portal_ids=portal_ids, should_stop=should_stop
        )
        result.requests_expired, result.request_reminders = asked.expired, asked.reminders
        result.skipped += asked.skipped
        result.errors += asked.errors
    if only in (None, "mail") and send_mail and not stopping():
        from gateway.services import mail

        sent = await mail.send_due(now, settings, owner, should_stop=should_stop)
        result.emails_sent, result.emails_retrying, result.emails_failed = (
            sent.sent,
            sent.retrying,
            sent.failed,
        )
        if not stopping():
            posted = await channel_outbox.send_due(now, settings, owner, should_stop=should_stop)
            result.messages_sent, result.messages_retrying, result.messages_failed = (
                posted.sent,
                posted.retrying,
                posted.failed,
            )
    return result


async def run_forever(
    settings: Settings,
    publisher: Publisher,
    stop_event: asyncio.Event,
    interval: float | None = None,
    *,
    owner: str | None = None,
    metrics: Metrics | None = None,
    tracing: Tracing | None = None,
) -> None:
    """Run a pass every `interval` seconds (default `settings.worker_interval`) until
    `stop_event` is set. A failing pass is logged and the next one runs as planned."""
    interval = settings.worker_interval if interval is None else interval
    owner = owner or worker_owner()
    log.info("digest worker %s started (a pass every %ss)", owner, interval)
    while not stop_event.is_set():
        started = time.monotonic()
        try:
            with span(tracing, "digest pass", attributes={"worker.owner": owner}):
                result = await run_pass(
                    datetime.now(UTC),
                    settings,
                    publisher,
                    owner,
                    should_stop=stop_event.is_set,  # stopping: claim nothing more
                )
        except Exception:
            log.exception("digest worker pass failed")
        else:
            if metrics is not None:
                result.count(metrics)
            if (
                result.digests
                or result.requests_expired
                or result.request_reminders
                or result.errors
                or result.emails_sent
                or result.emails_retrying
                or result.emails_failed
                or result.messages_sent
                or result.messages_retrying
                or result.messages_failed
            ):
                log.info("digest worker pass: %s", result.summary())
        wait = max(interval - (time.monotonic() - started), 0.0)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop_event.wait(), timeout=wait)
    log.info("digest worker %s stopped", owner)
