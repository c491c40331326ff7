"""The viewer's inbox: its digests, and marking them read (DESIGN §1 "Visibility inside a
portal").

A notification is its recipient's alone: anyone else's, from this portal or another, answers
exactly like one that does not exist. Marking is idempotent: a notification read before keeps
the time it was first read.
"""

from __future__ import annotations

from collections.abc import Sequence

from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from gateway import models as m
from gateway.services.lifecycle import Actor
from gateway.services.problems import Problem, not_found, refuse_if

# `all: true` answers with at most this many of the notifications it marked, newest first:
# each may carry up to `digests.MAX_ENTRIES` entries, and an inbox left unread for long is large.
MAX_RETURNED = 100
# Keeps each statement's parameters well under SQLite's limit.
_CHUNK = 500


def inbox(user_id: int, unread_only: bool = False) -> QuerySet[m.Notification]:
    """The user's in-app digests (optionally only the unread ones); email-only digests are
    not in the inbox."""
    qs = m.Notification.filter(recipient_id=user_id, in_app=True)
    if unread_only:
        qs = qs.filter(read_at=None)
    return qs


async def mark_read(
    actor: Actor, ids: Sequence[int | None], problems: Sequence[Problem] = ()
) -> list[m.Notification]:
    """Mark the named notifications read, in the order named (one per id, repeats included).

    `ids` holds `None` for ids that could not be decoded; `problems` already says so. Any of
    the viewer's own notifications may be named (what `node` shows them), in the inbox or not.
    """
    wanted = {pk for pk in ids if pk is not None}
    own = (
        set(
            await m.Notification.filter(id__in=wanted, recipient_id=actor.user.id).values_list(
                "id", flat=True
            )
        )
        if wanted
        else set()
    )
    refuse_if(
        list(problems)
        + [
            not_found("notification", "input", "ids", str(i))
            for i, pk in enumerate(ids)
            if pk is not None and pk not in own
        ]
    )
    if own:
        async with in_transaction():
            await m.Notification.filter(id__in=own, read_at=None).update(read_at=actor.now)
    rows = {n.id: n for n in await m.Notification.filter(id__in=own)} if own else {}
    return [rows[pk] for pk in ids if pk in rows]


async def mark_all_read(actor: Actor) -> list[m.Notification]:
    """Mark every unread notification of the viewer's inbox read; the newest `MAX_RETURNED`
    of those this call marked, newest first."""
    async with in_transaction():
        # Lock what is unread now (PostgreSQL re-checks `read_at` after waiting for a concurrent
        # marker, so each notification is reported by the one call that marked it), and mark
        # exactly that: a digest arriving meanwhile stays unread.
        locked = await (
            m.Notification.filter(recipient_id=actor.user.id, in_app=True, read_at=None)
            .select_for_update()
            .order_by("-created_at", "-id")
        )
        unread = [n.id for n in locked]
        for start in range(0, len(unread), _CHUNK):
            chunk = unread[start : start + _CHUNK]
            await m.Notification.filter(id__in=chunk, read_at=None).update(read_at=actor.now)
    shown = unread[:MAX_RETURNED]
    rows = {n.id: n for n in await m.Notification.filter(id__in=shown)} if shown else {}
    return [rows[pk] for pk in shown if pk in rows]
