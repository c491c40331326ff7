"""The Slack message of a digest (an incoming webhook's `{text, blocks}`), made from the
webhook body (gateway/services/channel_outbox.py), so both channels say the same thing."""

from __future__ import annotations

from typing import Any

# Slack allows 50 blocks a message; a digest shows its newest entries and counts the rest.
MAX_LINES = 20


def _escape(text: str) -> str:
    # Slack's mrkdwn gives &, < and > meanings (links, mentions): these make them plain.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _period(body: dict[str, Any]) -> str:
    start, end = body.get("periodStart") or "", body.get("periodEnd") or ""
    return f"{start[:16].replace('T', ' ')} – {end[:16].replace('T', ' ')} UTC"


def _line(entry: dict[str, Any]) -> str:
    who = entry["user"]["name"] if entry.get("user") else "the platform"
    activity = entry["activity"].replace("_", " ").capitalize()
    reason = entry.get("alertReason")
    if reason:
        activity += f" ({reason['severity']} {reason['code']}: {reason['message']})"
    when = (entry.get("occurredAt") or "")[:16].replace("T", " ")
    return _escape(f"• {entry['app']['name']}: {activity} by {who}, {when} UTC")


def slack_message(body: dict[str, Any]) -> dict[str, Any]:
    """`{text, blocks}` naming the rule, the period and the entries; "[Test]" first for a
    sendTestNotification sample."""
    test = "[Test] " if body.get("isTest") else ""
    count = body.get("entryCount", 0)
    entries = body.get("entries", [])
    name = _escape(body["rule"]["name"])
    summary = f"{test}{name}: {count} {'entry' if count == 1 else 'entries'}, {_period(body)}"
    if not entries:
        summary += " (no matching entries yet)" if body.get("isTest") else ""
    lines = [_line(e) for e in entries[:MAX_LINES]]
    more = count - len(lines)
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{summary}*"}}
    ]
    if lines:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}})
    if more > 0:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"and {more} more"}]}
        )
    return {"text": summary, "blocks": blocks}
