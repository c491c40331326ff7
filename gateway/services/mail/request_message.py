"""The email of an INSTALL_REQUEST notification: a new request (to a reviewer), the daily
reminder of waiting requests (to a reviewer), or a request's outcome (to its requester).
Plain text and HTML, times in the portal's timezone, and a link to the console's requests."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from zoneinfo import ZoneInfo

from gateway import models as m
from gateway.models.enums import InstallRequestNotice, InstallRequestStatus
from gateway.settings import Settings

# The console page the emails link to: install requests in the Connected apps settings.
REQUESTS_PATH = "/settings/connected-apps/requests"
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_OUTCOME = {
    InstallRequestStatus.APPROVED: "approved",
    InstallRequestStatus.DENIED: "denied",
    InstallRequestStatus.EXPIRED: "expired",
    InstallRequestStatus.CANCELLED: "cancelled",
    InstallRequestStatus.PENDING: "pending",
}


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _when(at: datetime, tz: tzinfo) -> str:
    local = at.astimezone(tz)
    return (
        f"{_WEEKDAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]} {local.year}, "
        f"{local:%H:%M} {local.tzname()}"
    )


@dataclass(frozen=True)
class _Item:
    """One request as the email shows it."""

    app: str
    account: str | None
    requester: str
    justification: str
    asked: str
    expires: str
    status: InstallRequestStatus
    decider: str | None
    note: str | None

    @property
    def what(self) -> str:
        return f"{self.app} (account {self.account})" if self.account else self.app


async def build_request_message(
    notification: m.Notification, recipient: m.User, settings: Settings, domain: str
) -> EmailMessage:
    """The email of one INSTALL_REQUEST notification; `domain` is the sender's, for the
    Message-ID."""
    portal = await m.Portal.get(id=notification.portal_id)
    tz = ZoneInfo(portal.timezone)
    note = await m.InstallRequestNote.get(notification_id=notification.id)
    requests = await (
        m.InstallRequest.filter(note_items__notification_id=notification.id)
        .select_related("listing", "requested_by", "decided_by")
        .order_by("created_at", "id")
    )
    items = [
        _Item(
            app=_one_line(r.listing.name),
            account=_one_line(r.account_name) if r.account_name else None,
            requester=_one_line(r.requested_by.name),
            justification=r.justification,
            asked=_when(r.created_at, tz),
            expires=_when(r.expires_at, tz),
            status=r.status,
            decider=_one_line(r.decided_by.name) if r.decided_by is not None else None,
            note=r.decision_note,
        )
        for r in requests
    ]
    portal_name = _one_line(portal.name)
    link = settings.console_url.rstrip("/") + REQUESTS_PATH
    subject, lines = _content(note.kind, items, portal_name)

    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = settings.mail_from
    msg["To"] = Address(display_name=_one_line(recipient.name), addr_spec=recipient.email)
    msg["Date"] = format_datetime(notification.created_at.astimezone(UTC))
    msg["Message-ID"] = _message_id(note.key, domain)
    msg["Auto-Submitted"] = "auto-generated"
    why = (
        "you asked for it"
        if note.kind is InstallRequestNotice.OUTCOME
        else "you review install requests (you hold INSTALL_APPS)"
    )
    footer = f"You receive this email because {why} in {portal_name}."
    msg.set_content(
        "\n".join([subject, "", *lines, "", f"Install requests: {link}", "", footer, ""])
    )
    msg.add_alternative(_html(subject, lines, link, footer), subtype="html")
    return msg


def _message_id(key: str, domain: str) -> str:
    """Stable for a notice: derived from its unique key, the same on every attempt."""
    local = "".join(c if c.isalnum() else "." for c in key)
    return f"<install-request.{local}@{domain}>"


def _content(kind: InstallRequestNotice, items: list[_Item], portal: str) -> tuple[str, list[str]]:
    """The subject and the body's lines (before the link and the footer)."""
    if kind is InstallRequestNotice.NEW and items:
        item = items[0]
        lines = [f"{item.requester} asks to install {item.what} in {portal}.", ""]
        lines += [f"Why: {_one_line(item.justification)}", f"Asked: {item.asked}"]
        lines += [f"Expires unless decided: {item.expires}"]
        return f"Install request: {item.requester} asks for {item.what}", lines
    if kind is InstallRequestNotice.REMINDER:
        count = f"{len(items)} install request{'' if len(items) == 1 else 's'}"
        lines = [f"{count} in {portal} have waited more than a day for a decision:", ""]
        lines += [
            f"- {i.what}, asked by {i.requester} on {i.asked}; expires {i.expires}" for i in items
        ]
        return f"Reminder: {count} waiting in {portal}", lines
    if items:
        item = items[0]
        outcome = _OUTCOME[item.status]
        lines = [f"Your request to install {item.what} in {portal} was {outcome}."]
        if item.decider and item.status is not InstallRequestStatus.EXPIRED:
            lines.append(f"Decided by {item.decider}.")
        if item.status is InstallRequestStatus.EXPIRED:
            lines.append("Nobody decided it in time; you may ask again.")
        if item.note:
            lines += ["", f"Note: {_one_line(item.note)}"]
        return f"Your install request for {item.what} was {outcome}", lines
    return "Install requests", ["The request is no longer there."]


def _html(subject: str, lines: list[str], link: str, footer: str) -> str:
    e = html.escape
    body = "".join(f"<p>{e(line)}</p>\n" for line in lines if line)
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{e(subject)}</title></head>\n"
        '<body style="font-family:Arial,Helvetica,sans-serif;color:#33475b">\n'
        f'<h1 style="font-size:20px">{e(subject)}</h1>\n'
        f"{body}"
        f'<p><a href="{e(link)}">Install requests</a></p>\n'
        f'<p style="color:#7c98b6;font-size:12px">{e(footer)}</p>\n'
        "</body></html>\n"
    )
