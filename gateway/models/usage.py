"""App usage (DESIGN §6 "Usage"): the calls and errors the platform reports per app and UTC
day. One row per app and day; a newer report of the day replaces it."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from gateway.models.apps import ConnectedApp


class AppUsageDay(Model):
    id = fields.IntField(primary_key=True)
    app: fields.ForeignKeyRelation[ConnectedApp] = fields.ForeignKeyField(
        "models.ConnectedApp", related_name="usage_days", on_delete=fields.CASCADE
    )
    day = fields.DateField()
    calls = fields.IntField()
    errors = fields.IntField()
    last_call_at = fields.DatetimeField(null=True)
    # When this day shows the app last used: its lastCallAt, else the day's last second; null
    # without calls. Stored so `lastUsedAt` is one MAX over an app's rows.
    used_until = fields.DatetimeField(null=True)
    # occurredAt of the report this row holds: an older report of the day changes nothing.
    reported_at = fields.DatetimeField()

    app_id: int

    class Meta:
        table = "app_usage_day"
        unique_together = (("app", "day"),)
