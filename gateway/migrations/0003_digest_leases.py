from tortoise import fields, migrations
from tortoise.migrations import operations as ops
from tortoise.migrations.constraints import UniqueConstraint


class Migration(migrations.Migration):
    dependencies = [("models", "0002_sort_collation")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Delivery",
            name="lease_owner",
            field=fields.CharField(null=True, max_length=100),
        ),
        ops.AddField(
            model_name="Delivery",
            name="lease_until",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name="Notification",
            name="cut_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddConstraint(
            model_name="Notification",
            constraint=UniqueConstraint(fields=("rule", "cut_at", "recipient"), name=None),
        ),
        ops.AddField(
            model_name="NotificationRule",
            name="lease_owner",
            field=fields.CharField(null=True, max_length=100),
        ),
        ops.AddField(
            model_name="NotificationRule",
            name="lease_until",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
