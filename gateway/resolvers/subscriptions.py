"""Subscription resolvers: this portal's envelopes, filtered, as the objects they name."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from gateway import models as m
from gateway.context import Info, event_loaders
from gateway.live import SubscriberClosed
from gateway.resolvers.inputs import decode_ids
from gateway.services.envelopes import Envelope, StatusChange
from gateway.services.faults import pause_point
from gateway.services.log import LogFilter, matches


async def _envelopes(info: Info) -> AsyncIterator[Envelope]:
    """Envelopes of the viewer's portal as they arrive. Before each one is yielded, its fresh
    loaders are set for the execution that follows in this same task."""
    ctx = info.context
    assert ctx.hub is not None and ctx.socket is not None
    try:
        with ctx.hub.subscribe(ctx.socket) as subscriber:
            while True:
                envelope, loaders = await subscriber.next()
                await pause_point("live:before-push")
                event_loaders.set(loaders)
                yield envelope
    except SubscriberClosed:
        return


async def app_status_changed(
    info: Info, app_ids: Sequence[str] | None
) -> AsyncIterator[StatusChange]:
    wanted = decode_ids(app_ids, "ConnectedApp", "appIds")
    async for envelope in _envelopes(info):
        for change in envelope.status_changes:
            if wanted is None or change.app_id in wanted:
                yield change


async def app_log_appended(info: Info, flt: LogFilter | None) -> AsyncIterator[m.AppLogEntry]:
    async for envelope in _envelopes(info):
        for entry_id in envelope.log_entries:
            entry = await info.context.loaders.log_entry_by_id.load(entry_id)
            if entry is not None and matches(entry, flt):
                yield entry


async def notification_received(info: Info) -> AsyncIterator[m.Notification]:
    viewer = info.context.viewer
    async for envelope in _envelopes(info):
        for notification_id in envelope.notifications:
            notification = await info.context.loaders.notification_by_id.load(notification_id)
            if (
                notification is not None
                and notification.recipient_id == viewer.id
                and notification.in_app
            ):
                yield notification
