"""Domain events: what a committed change did, one envelope per affected portal (DESIGN §3).

Writers record their changes on a `Changes` inside `unit_of_work`; the envelopes go to the
publisher only after the transaction commits, so a rolled-back or refused change publishes
nothing. Envelopes carry ids, not objects: every process that receives one resolves the objects
itself, with fresh loaders, for its own subscribers.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from gateway.models.enums import AppStatus

log = logging.getLogger("gateway.events")


@dataclass(frozen=True)
class StatusChange:
    app_id: int
    previous_status: AppStatus | None
    status: AppStatus | None
    occurred_at: datetime
    alert_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "appId": self.app_id,
            "previousStatus": self.previous_status.value if self.previous_status else None,
            "status": self.status.value if self.status else None,
            "occurredAt": self.occurred_at.isoformat(),
            "alertId": self.alert_id,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> StatusChange:
        return cls(
            app_id=raw["appId"],
            previous_status=AppStatus(raw["previousStatus"]) if raw["previousStatus"] else None,
            status=AppStatus(raw["status"]) if raw["status"] else None,
            occurred_at=datetime.fromisoformat(raw["occurredAt"]),
            alert_id=raw.get("alertId"),
        )


@dataclass(frozen=True)
class Envelope:
    """Everything one committed change did to one portal."""

    portal_id: int
    log_entries: tuple[int, ...] = ()
    status_changes: tuple[StatusChange, ...] = ()
    notifications: tuple[int, ...] = ()
    # Install requests made or changed (installRequestChanged).
    install_requests: tuple[int, ...] = ()

    def to_json(self) -> dict[str, Any]:
        raw = {
            "portalId": self.portal_id,
            "logEntries": list(self.log_entries),
            "statusChanges": [c.to_json() for c in self.status_changes],
            "notifications": list(self.notifications),
        }
        if self.install_requests:  # only then: most envelopes have none
            raw["installRequests"] = list(self.install_requests)
        return raw

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Envelope:
        return cls(
            portal_id=raw["portalId"],
            log_entries=tuple(raw["logEntries"]),
            status_changes=tuple(StatusChange.from_json(c) for c in raw["statusChanges"]),
            notifications=tuple(raw["notifications"]),
            # Absent from envelopes of processes that predate install requests.
            install_requests=tuple(raw.get("installRequests", ())),
        )


class Publisher(Protocol):
    async def publish(self, envelope: Envelope) -> None:
        """Hand an envelope on. Must not raise or block for long: the change is committed."""


@dataclass
class _PortalChanges:
    log_entries: list[int] = field(default_factory=list)
    status_changes: list[StatusChange] = field(default_factory=list)
    notifications: list[int] = field(default_factory=list)
    install_requests: list[int] = field(default_factory=list)


class Changes:
    """Collects what a unit of work did, by portal, in order."""

    def __init__(self, connection: BaseDBAsyncClient) -> None:
        self.connection = connection
        self._portals: dict[int, _PortalChanges] = {}

    def _of(self, portal_id: int) -> _PortalChanges:
        return self._portals.setdefault(portal_id, _PortalChanges())

    def logged(self, portal_id: int, entry_id: int) -> None:
        self._of(portal_id).log_entries.append(entry_id)

    def status_changed(self, portal_id: int, change: StatusChange) -> None:
        if change.previous_status != change.status:
            self._of(portal_id).status_changes.append(change)

    def status_touched(self, portal_id: int, change: StatusChange) -> None:
        """Announced even when the status stays: what the status means changed (an alert
        acknowledged), so open consoles read the app again."""
        self._of(portal_id).status_changes.append(change)

    def notified(self, portal_id: int, notification_id: int) -> None:
        self._of(portal_id).notifications.append(notification_id)

    def request_changed(self, portal_id: int, request_id: int) -> None:
        requests = self._of(portal_id).install_requests
        if request_id not in requests:
            requests.append(request_id)

    def envelopes(self) -> list[Envelope]:
        return [
            Envelope(
                p,
                tuple(c.log_entries),
                tuple(c.status_changes),
                tuple(c.notifications),
                tuple(c.install_requests),
            )
            for p, c in self._portals.items()
            if c.log_entries or c.status_changes or c.notifications or c.install_requests
        ]


@asynccontextmanager
async def unit_of_work(publisher: Publisher) -> AsyncIterator[Changes]:
    """One transaction; its envelopes are published after it commits, never otherwise."""
    async with in_transaction() as connection:
        changes = Changes(connection)
        yield changes
    for envelope in changes.envelopes():
        try:
            await publisher.publish(envelope)  # hands it on; never waits on the network
        except Exception:  # the change is committed; a broker problem must not undo the answer
            log.exception("publishing envelope for portal %s failed", envelope.portal_id)
