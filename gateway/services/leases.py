"""Leases: a worker's claim on a row (a rule's next digest, an email in the outbox) that
expires by itself, so work a dead worker held is taken over once its time is up.

A leased row has `lease_owner` (who) and `lease_until` (until when); both are cleared when the
work is done or given back.
"""

from __future__ import annotations

from datetime import datetime

from tortoise.expressions import Q


def lease_free(at: datetime) -> Q:
    """Nobody holds an unexpired lease at `at`: no owner, no end, or the end has come."""
    return Q(lease_owner__isnull=True) | Q(lease_until__isnull=True) | Q(lease_until__lte=at)
