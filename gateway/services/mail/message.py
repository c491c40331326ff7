"""The digest email: subject, headers, plain text and HTML, in the portal's timezone."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from zoneinfo import ZoneInfo

from gateway import models as m
from gateway.models.enums import AppActivity, NotificationType
from gateway.services.digests import MAX_ENTRIES
from gateway.services.mail.request_message import build_request_message
from gateway.settings import Settings

# The console page a digest links to: the Notifications tab of the Connected apps settings.
CONSOLE_PATH = "/settings/connected-apps/notifications"
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
    AppActivity.ERROR_RAISED: "Error",
    AppActivity.ERROR_RESOLVED: "Error resolved",
    AppActivity.SCOPES_CHANGED: "Scopes changed",
}
_WHAT = {
    NotificationType.APP_INSTALL: ("app install", "app installs"),
    NotificationType.APP_DISCONNECT: ("app disconnection", "app disconnections"),
    NotificationType.APP_UNINSTALL: ("app uninstall", "app uninstalls"),
    NotificationType.APP_ERROR: ("app error", "app errors"),
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


def scope_change_text(added: Sequence[str], removed: Sequence[str]) -> str:
    """What an entry's change added and removed, as a digest line tells it after the activity:
    " (added: a, b; removed: c)", or nothing when it changed no scope."""
    said = [
        f"{what}: {', '.join(names)}"
        for what, names in (("added", added), ("removed", removed))
        if names
    ]
    return f" ({'; '.join(said)})" if said else ""


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
    """The email for one delivery: plain text and HTML alternatives (a digest's, or an install
    request notice's: mail/request_message.py)."""
    notification = await m.Notification.get(id=delivery.notification_id).select_related(
        "portal", "rule"
    )
    recipient = await m.User.get(id=delivery.recipient_id)
    if notification.type is NotificationType.INSTALL_REQUEST:
        domain = _domain(settings.mail_from)
        return await build_request_message(notification, recipient, settings, domain)
    portal = notification.portal
    tz = ZoneInfo(portal.timezone)
    entries = await (
        m.AppLogEntry.filter(notification_entries__notification_id=notification.id)
        .select_related("app", "user")
        .order_by("-occurred_at", "-id")
        .limit(MAX_ENTRIES)
    )
    # An error's entry tells its reason as it was then: the alert's message may have changed.
    reasons = {
        r.entry_id: f" ({r.severity.value} {r.code}: {r.message})"
        for r in await m.LoggedAlert.filter(entry_id__in=[e.id for e in entries])
    }
    # So does a change of scopes: what it granted and revoked, or what the listing changed.
    scopes = {
        r.entry_id: scope_change_text(r.added, r.removed)
        for r in await m.LoggedScopeChange.filter(entry_id__in=[e.id for e in entries])
    }
    lines = [
        _Line(
            app=_one_line(e.app.name),
            activity=_one_line(
                _ACTIVITY.get(e.activity, str(e.activity.value).capitalize())
                + reasons.get(e.id, "")
                + scopes.get(e.id, "")
            ),
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
    # A sendTestNotification sample says so first, as the webhook and Slack messages do.
    test = "[Test] " if notification.is_test else ""
    msg["Subject"] = f"{test}{rule_name}: {count}, {period}"
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
