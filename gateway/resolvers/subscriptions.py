"""Subscription resolvers: what one envelope of the portal means to a subscription, as the
objects it names, filtered by the subscription's arguments.

The hub (gateway/live.py) calls a subscription's field once per event for each group of
subscribers that share the document, variables and viewer facts, with the event in
`context.envelope`; each value yielded is then executed once for the whole group. At
`subscribe` there is no envelope: the field checks its arguments and yields nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from gateway import models as m
from gateway.context import Info
from gateway.resolvers.inputs import decode_ids
from gateway.services.envelopes import Envelope, StatusChange
from gateway.services.install_requests import may_see
from gateway.services.log import LogFilter, matches

_NO_EVENT = Envelope(portal_id=0)


def _envelope(info: Info) -> Envelope:
    return info.context.envelope or _NO_EVENT


async def app_status_changed(
    info: Info, app_ids: Sequence[str] | None
) -> AsyncIterator[StatusChange]:
    wanted = decode_ids(app_ids, "ConnectedApp", "appIds")
    for change in _envelope(info).status_changes:
        if wanted is None or change.app_id in wanted:
            yield change


async def app_log_appended(info: Info, flt: LogFilter | None) -> AsyncIterator[m.AppLogEntry]:
    for entry_id in _envelope(info).log_entries:
        entry = await info.context.loaders.log_entry_by_id.load(entry_id)
        if entry is not None and matches(entry, flt):
            yield entry


async def notification_received(info: Info) -> AsyncIterator[m.Notification]:
    viewer = info.context.viewer
    for notification_id in _envelope(info).notifications:
        notification = await info.context.loaders.notification_by_id.load(notification_id)
        if (
            notification is not None
            and notification.recipient_id == viewer.id
            and notification.in_app
        ):
            yield notification


async def install_request_changed(info: Info) -> AsyncIterator[m.InstallRequest]:
    """Requests made or changed that the viewer may see: reviewers all, others their own."""
    viewer = info.context.viewer
    for request_id in _envelope(info).install_requests:
        request = await info.context.loaders.install_request_by_id.load(request_id)
        if request is not None and may_see(viewer, request):
            yield request
