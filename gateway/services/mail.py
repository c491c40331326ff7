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

import asyncio
import html
import logging
import os
import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qsl, unquote, urlsplit
from zoneinfo import ZoneInfo

import aiosmtplib
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from gateway import models as m
from gateway.models.enums import AppActivity, DeliveryStatus, NotificationChannel, NotificationType
from gateway.services.digests import MAX_ENTRIES
from gateway.services.faults import pause_point
from gateway.services.leases import lease_free
from gateway.settings import Settings, SettingsError

logger = logging.getLogger(__name__)

# The console page a digest links to: the Notifications tab of the Connected apps settings.
CONSOLE_PATH = "/settings/connected-apps/notifications"
# Longer server answers are cut when recorded.
MAX_ERROR = 1000
_OPEN = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class MailResult:
    """What one `send_due` call recorded."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0


# --- configuration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpConfig:
    hostname: str
    port: int
    use_tls: bool  # smtps://: TLS from the first byte
    start_tls: bool  # smtp://…?starttls=1: STARTTLS required (no silent fallback to plain text)
    username: str | None = None
    password: str | None = None


_URL_FORM = "smtp://[user:pass@]host[:port][?starttls=1] or smtps://[user:pass@]host[:port]"


def parse_smtp_url(url: str) -> SmtpConfig:
    """`GATEWAY_SMTP_URL` → connection settings; a `SettingsError` says what is wrong.

    Default ports: 25 for smtp://, 465 for smtps://. Credentials are percent-decoded. The
    messages never repeat the URL: it may hold a password.
    """

    def bad(problem: str) -> SettingsError:
        return SettingsError(f"GATEWAY_SMTP_URL is invalid: {problem} (expected {_URL_FORM})")

    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise bad(str(exc)) from None
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps"):
        raise bad(f"the scheme must be smtp or smtps, not {scheme!r}" if scheme else "no scheme")
    if not parts.hostname:
        raise bad("no host")
    if parts.path not in ("", "/") or parts.fragment:
        raise bad("a path or fragment is not allowed")
    start_tls = False
    try:
        query = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise bad("the query string cannot be parsed") from None
    for key, value in query:
        if key != "starttls":
            raise bad(f"unknown parameter {key!r}")
        if value.lower() in _TRUE:
            start_tls = True
        elif value.lower() in _FALSE:
            start_tls = False
        else:
            raise bad(f"starttls must be 1 or 0, not {value!r}")
    if scheme == "smtps" and start_tls:
        raise bad("smtps:// already uses TLS; starttls=1 is for smtp://")
    if port == 0:
        raise bad("port 0")
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    if password is not None and not username:
        raise bad("a password without a user name")
    return SmtpConfig(
        hostname=parts.hostname,
        port=port or (465 if scheme == "smtps" else 25),
        use_tls=scheme == "smtps",
        start_tls=start_tls,
        username=username or None,
        password=password if username else None,
    )


def check_smtp_url(settings: Settings) -> SmtpConfig | None:
    """Validate the mail settings at start-up (serve and worker), so a typo stops the process
    instead of failing every email for days: `GATEWAY_SMTP_URL` (None: the file outbox) and
    `GATEWAY_MAIL_FROM` (an address with a domain, optionally with a display name)."""
    address = parseaddr(settings.mail_from)[1]
    local, _, domain = address.rpartition("@")
    if not local or not domain or any(c.isspace() for c in address):
        raise SettingsError(
            f"GATEWAY_MAIL_FROM must be an email address such as notifications@example.com "
            f"or 'Name <notifications@example.com>', got {settings.mail_from!r}"
        )
    if settings.smtp_url is None:
        return None
    return parse_smtp_url(settings.smtp_url)


# --- the message -----------------------------------------------------------------------------

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_ACTIVITY = {
    AppActivity.INSTALLED: "Installed",
    AppActivity.REINSTALLED: "Reinstalled",
    AppActivity.UNINSTALLED: "Uninstalled",
    AppActivity.DISCONNECTED: "Disconnected",
    AppActivity.RECONNECTED: "Reconnected",
    AppActivity.REAUTHORIZED: "Reauthorized",
}
_WHAT = {
    NotificationType.APP_INSTALL: ("app install", "app installs"),
    NotificationType.APP_DISCONNECT: ("app disconnection", "app disconnections"),
    NotificationType.APP_UNINSTALL: ("app uninstall", "app uninstalls"),
}
# A digest whose rule was deleted since no longer knows the rule's name.
_NO_RULE = "Connected apps digest"
# Who did it, when the entry names no user: the platform reported it (DESIGN §3 events).
PLATFORM = "the integration platform"


def _day(d: datetime) -> str:
    return f"{_WEEKDAYS[d.weekday()]} {d.day} {_MONTHS[d.month - 1]} {d.year}"


def _is_midnight(d: datetime) -> bool:
    return (d.hour, d.minute, d.second, d.microsecond) == (0, 0, 0, 0)


def describe_period(start: datetime, end: datetime, tz: tzinfo) -> str:
    """The period a digest covers, in the portal's timezone (end exclusive): "Mon 2 Nov 2026",
    "Mon 2 Nov – Sun 8 Nov 2026", "November 2026", "Mon 2 Nov 2026, 09:00–10:00"."""
    s, e = start.astimezone(tz), end.astimezone(tz)
    if _is_midnight(s) and _is_midnight(e) and e.date() > s.date():
        last = e - timedelta(days=1)  # the last day covered
        if s.date() == last.date():
            return _day(s)
        months = (e.year * 12 + e.month) - (s.year * 12 + s.month)
        if s.day == 1 and e.day == 1 and months == 1:
            return f"{_MONTH_NAMES[s.month - 1]} {s.year}"
        if s.year == last.year:
            return f"{_WEEKDAYS[s.weekday()]} {s.day} {_MONTHS[s.month - 1]} – {_day(last)}"
        return f"{_day(s)} – {_day(last)}"
    # Name the offsets when they differ (the hour a DST change repeats: 01:00 EDT–01:00 EST).
    zones = s.utcoffset() != e.utcoffset()
    s_time = f"{s:%H:%M}" + (f" {s.tzname()}" if zones else "")
    e_time = f"{e:%H:%M}" + (f" {e.tzname()}" if zones else "")
    if s.date() == e.date():
        return f"{_day(s)}, {s_time}–{e_time}"
    if _is_midnight(e) and e.date() - s.date() == timedelta(days=1):
        return f"{_day(s)}, {s_time}–24:00" + (f" {e.tzname()}" if zones else "")
    return f"{_day(s)} {s_time} – {_day(e)} {e_time}"


def _when(at: datetime, tz: tzinfo) -> str:
    local = at.astimezone(tz)
    return f"{_day(local)}, {local:%H:%M} {local.tzname()}"


def _one_line(text: str) -> str:
    # Header values and list items stay on one line whatever a name holds.
    return " ".join(text.split())


def _domain(mail_from: str) -> str:
    address = parseaddr(mail_from)[1]
    domain = address.rpartition("@")[2] if "@" in address else ""
    return re.sub(r"[^A-Za-z0-9.\-\[\]:]", "", domain) or "localhost"


def message_id(notification: m.Notification, mail_from: str) -> str:
    """Stable for a digest: the same on every attempt, so a duplicate can be dropped.

    Derived from (rule, cut, recipient), which the digest scheduler makes once; a digest with
    no rule (deleted since) or no cut falls back to its own id.
    """
    domain = _domain(mail_from)
    if notification.rule_id is not None and notification.cut_at is not None:
        cut = notification.cut_at.astimezone(UTC)
        stamp = int(cut.timestamp())
        cut_part = str(stamp) if cut.microsecond == 0 else f"{stamp}.{cut.microsecond:06d}"
        return f"<digest.{notification.rule_id}.{cut_part}.{notification.recipient_id}@{domain}>"
    return f"<digest.n{notification.id}@{domain}>"


@dataclass(frozen=True)
class _Line:
    app: str
    activity: str
    who: str
    when: str


async def build_message(delivery: m.Delivery, settings: Settings) -> EmailMessage:
    """The digest email for one delivery: plain text and HTML alternatives."""
    notification = await m.Notification.get(id=delivery.notification_id).select_related(
        "portal", "rule"
    )
    recipient = await m.User.get(id=delivery.recipient_id)
    portal = notification.portal
    tz = ZoneInfo(portal.timezone)
    entries = await (
        m.AppLogEntry.filter(notification_entries__notification_id=notification.id)
        .select_related("app", "user")
        .order_by("-occurred_at", "-id")
        .limit(MAX_ENTRIES)
    )
    lines = [
        _Line(
            app=_one_line(e.app.name),
            activity=_ACTIVITY.get(e.activity, str(e.activity.value).capitalize()),
            who=_one_line(e.user.name) if e.user is not None else PLATFORM,
            when=_when(e.occurred_at, tz),
        )
        for e in entries
    ]
    more = max(notification.entry_count - len(lines), 0)
    rule_name = _one_line(notification.rule.name) if notification.rule is not None else _NO_RULE
    one, many = _WHAT[notification.type]
    count = f"{notification.entry_count} {one if notification.entry_count == 1 else many}"
    period = f"{describe_period(notification.period_start, notification.period_end, tz)} ({portal.timezone})"
    link = settings.console_url.rstrip("/") + CONSOLE_PATH
    portal_name = _one_line(portal.name)

    msg = EmailMessage()
    msg["Subject"] = f"{rule_name}: {count}, {period}"
    msg["From"] = settings.mail_from
    msg["To"] = Address(display_name=_one_line(recipient.name), addr_spec=recipient.email)
    # When the digest was made: the same on every attempt, as the Message-ID is.
    msg["Date"] = format_datetime(notification.created_at.astimezone(UTC))
    msg["Message-ID"] = message_id(notification, settings.mail_from)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a digest
    msg.set_content(_text(rule_name, count, period, portal_name, lines, more, link))
    msg.add_alternative(
        _html(rule_name, count, period, portal_name, lines, more, link), subtype="html"
    )
    return msg


def _text(
    rule: str, count: str, period: str, portal: str, lines: Sequence[_Line], more: int, link: str
) -> str:
    out = [rule, "", f"{count} in {portal}, {period}. Newest first:", ""]
    out += [f"- {ln.app}: {ln.activity} by {ln.who}, {ln.when}" for ln in lines]
    if more:
        out.append(f"- and {more} more")
    out += [
        "",
        f"Notification rules and the app log: {link}",
        "",
        f'You receive this email because the notification rule "{rule}" in {portal} names you.',
        "",
    ]
    return "\n".join(out)


def _html(
    rule: str, count: str, period: str, portal: str, lines: Sequence[_Line], more: int, link: str
) -> str:
    e = html.escape
    rows = "".join(
        "<tr>"
        f'<td style="padding:4px 12px 4px 0">{e(ln.app)}</td>'
        f'<td style="padding:4px 12px 4px 0">{e(ln.activity)}</td>'
        f'<td style="padding:4px 12px 4px 0">{e(ln.who)}</td>'
        f'<td style="padding:4px 0">{e(ln.when)}</td>'
        "</tr>\n"
        for ln in lines
    )
    more_html = f"<p>and {more} more</p>\n" if more else ""
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{e(rule)}</title></head>\n"
        '<body style="font-family:Arial,Helvetica,sans-serif;color:#33475b">\n'
        f'<h1 style="font-size:20px">{e(rule)}</h1>\n'
        f"<p>{e(count)} in {e(portal)}, {e(period)}. Newest first:</p>\n"
        '<table style="border-collapse:collapse">\n'
        '<thead><tr><th align="left">App</th><th align="left">Activity</th>'
        '<th align="left">By</th><th align="left">When</th></tr></thead>\n'
        f"<tbody>\n{rows}</tbody></table>\n"
        f"{more_html}"
        f'<p><a href="{e(link)}">Notification rules and the app log</a></p>\n'
        f'<p style="color:#7c98b6;font-size:12px">You receive this email because the notification '
        f"rule &quot;{e(rule)}&quot; in {e(portal)} names you.</p>\n"
        "</body></html>\n"
    )


# --- transports ------------------------------------------------------------------------------


class _ConnectFailed(Exception):
    """No conversation with the server (refused, timeout, TLS, greeting or login failure)."""


class _Transport(Protocol):
    async def send(self, message: EmailMessage, sender: str, recipient: str) -> None: ...

    async def close(self) -> None: ...


class _SmtpTransport:
    """One SMTP session per pass, reused for its messages (reconnecting after a drop).

    Once connecting has failed in a pass, the pass's other messages record the same failure
    without trying again: a server that is down would otherwise cost a timeout per message.
    """

    def __init__(self, config: SmtpConfig, timeout: float) -> None:
        self._config = config
        self._timeout = timeout
        self._client: aiosmtplib.SMTP | None = None
        self._unreachable: str | None = None

    async def send(self, message: EmailMessage, sender: str, recipient: str) -> None:
        if self._unreachable is not None:
            raise _ConnectFailed(self._unreachable)
        if self._client is None or not self._client.is_connected:
            c = self._config
            client = aiosmtplib.SMTP(
                hostname=c.hostname,
                port=c.port,
                use_tls=c.use_tls,
                start_tls=c.start_tls,
                username=c.username,
                password=c.password,
                timeout=self._timeout,
            )
            try:
                await client.connect()
            except Exception as exc:
                self._unreachable = _describe(exc)
                raise _ConnectFailed(self._unreachable) from exc
            self._client = client
        try:
            await self._client.send_message(message, sender=sender, recipients=[recipient])
        finally:
            if not self._client.is_connected:
                self._client = None

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and client.is_connected:
            try:
                await client.quit()
            except Exception:
                client.close()


class _FileTransport:
    """Embedded mode without SMTP: each message becomes `<Message-ID>.eml` in `mail_dir`; a
    resend overwrites its file (written to a temporary name, then renamed)."""

    def __init__(self, directory: str) -> None:
        self._directory = Path(directory)

    async def send(self, message: EmailMessage, sender: str, recipient: str) -> None:
        await asyncio.to_thread(self._write, message)

    def _write(self, message: EmailMessage) -> None:
        self._directory.mkdir(parents=True, exist_ok=True)
        path = self._directory / eml_name(str(message["Message-ID"]))
        fd, tmp = tempfile.mkstemp(dir=self._directory, prefix=".tmp-", suffix=".eml")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(message.as_bytes())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def close(self) -> None:
        return None


def eml_name(message_id_: str) -> str:
    """The outbox file of a Message-ID: `<digest.3.1793577600.7@localhost>` →
    `digest.3.1793577600.7@localhost.eml`."""
    return re.sub(r"[^A-Za-z0-9.@_\-]", "_", message_id_.strip().strip("<>")) + ".eml"


def _transport(settings: Settings) -> _Transport:
    config = check_smtp_url(settings)
    if config is None:
        return _FileTransport(settings.mail_dir)
    return _SmtpTransport(config, settings.smtp_timeout)


# --- outcomes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Failure:
    error: str
    permanent: bool


def _describe(exc: BaseException) -> str:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        return _describe(exc.recipients[0])
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"{exc.code} {exc.message}".strip()
    text = str(exc).strip()
    return text if text else type(exc).__name__


def _failure(exc: BaseException) -> _Failure:
    """A 5xx answer to the message is permanent; anything else may pass (RFC 5321 §4.2.1)."""
    error = _describe(exc)[:MAX_ERROR]
    if isinstance(exc, _ConnectFailed):
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


# --- the pass --------------------------------------------------------------------------------


async def _claim(
    now: datetime, at: datetime, after_id: int, settings: Settings, owner: str
) -> list[m.Delivery]:
    """Lease the next due messages (ids above `after_id`); those another sender holds are skipped."""
    until = at + timedelta(seconds=settings.mail_lease_seconds)
    claimed: list[m.Delivery] = []
    async with in_transaction():
        candidates = await (
            m.Delivery.filter(channel=NotificationChannel.EMAIL, status__in=_OPEN, id__gt=after_id)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
            .filter(lease_free(at))
            .order_by("id")
            .limit(settings.mail_batch_size)
            .select_for_update(skip_locked=True)
        )
        for delivery in candidates:
            taken = await (
                m.Delivery.filter(id=delivery.id, status__in=_OPEN)
                .filter(lease_free(at))
                .update(lease_owner=owner, lease_until=until)
            )
            if taken == 1:
                claimed.append(delivery)
    return claimed


async def _renew(delivery: m.Delivery, at: datetime, settings: Settings, owner: str) -> bool:
    """Extend our lease to cover this message's send (a batch may take a while)."""
    until = at + timedelta(seconds=settings.mail_lease_seconds)
    return await m.Delivery.filter(id=delivery.id, lease_owner=owner).update(lease_until=until) == 1


async def _record(delivery: m.Delivery, owner: str, **values: object) -> bool:
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


async def send_due(now: datetime, settings: Settings, owner: str) -> MailResult:
    """Send every due email (PENDING or RETRYING, `next_attempt_at` ≤ `now` or unset).

    `owner` names this sender in leases (unique per process, at most 100 characters). Times
    recorded are `now`; leases also advance with the real time the pass takes.
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
    transport = _transport(settings)
    sent = retrying = failed = 0
    last_id = 0
    try:
        while batch := await _claim(now, clock(), last_id, settings, owner):
            last_id = batch[-1].id
            for delivery in batch:
                if not await _renew(delivery, clock(), settings, owner):
                    continue
                failure: _Failure | None = None
                try:
                    message = await build_message(delivery, settings)
                    await transport.send(message, sender, str(message["To"].addresses[0].addr_spec))
                except Exception as exc:
                    failure = _failure(exc)
                    if not isinstance(exc, (aiosmtplib.SMTPException, _ConnectFailed, OSError)):
                        logger.exception("mail: delivery %s failed unexpectedly", delivery.id)
                else:
                    # Test-only fault point: a sender killed here has sent without recording it;
                    # another resends after the lease expires (at-least-once, same Message-ID).
                    await pause_point("mail:after-send")
                if failure is None:
                    if await _record(
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
                    if await _record(
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
                elif await _record(
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
    return MailResult(sent=sent, retrying=retrying, failed=failed)
