"""Acknowledging an app's alert (DESIGN §6 "Errors in the log, alerts acknowledged, told
once"): someone who may act on the app says they have seen the problem, with an optional note.

The app stays ERROR (that is the truth) but stops counting toward `needsAttention` for it
until the alert's reason changes, which clears the acknowledgement (services/ingestion.py).
"""

from __future__ import annotations

from gateway import models as m
from gateway.models.enums import Permission
from gateway.services import text
from gateway.services.access import may_acknowledge
from gateway.services.apps import current_status
from gateway.services.envelopes import StatusChange, unit_of_work
from gateway.services.lifecycle import Actor
from gateway.services.problems import (
    Problem,
    Refused,
    conflict,
    forbidden,
    not_found,
    refuse_if,
)


def acknowledge_input_problems(note: str | None) -> list[Problem]:
    if note is None:
        return []
    problem = text.input_problem(note, text.ACKNOWLEDGE_NOTE, "input", "note")
    return [problem] if problem else []


async def acknowledge(actor: Actor, alert_id: int, note: str | None) -> m.AppAlert:
    """The alert, acknowledged by the actor now; an `appStatusChanged` with the app's
    unchanged status tells open consoles."""
    refuse_if(acknowledge_input_problems(note))
    alert = await m.AppAlert.get_or_none(id=alert_id, app__portal_id=actor.portal.id)
    if alert is None:
        raise Refused([not_found("alert", "input", "alertId")])
    if not may_acknowledge(actor.user):
        names = " or ".join(p.value for p in (Permission.APPROVE_SCOPES, Permission.UNINSTALL_APPS))
        raise Refused([forbidden(f"Requires the {names} permission", "input", "alertId")])
    async with unit_of_work(actor.publisher) as changes:
        # The app's lock orders this with the events that change its alerts.
        app = await m.ConnectedApp.filter(id=alert.app_id).select_for_update().first()
        assert app is not None
        current = await m.AppAlert.get(id=alert.id)
        if current.resolved_at is not None:
            raise Refused([conflict("The alert is resolved", "input", "alertId")])
        if current.acknowledged_at is not None:
            raise Refused([conflict("The alert is acknowledged already", "input", "alertId")])
        await m.AppAlert.filter(id=alert.id).update(
            acknowledged_at=actor.now,
            acknowledged_by_id=actor.user.id,
            acknowledge_note=note or None,
        )
        status = await current_status(app)
        changes.status_touched(
            app.portal_id, StatusChange(app.id, status, status, actor.now, alert.id)
        )
    return await m.AppAlert.get(id=alert.id)
