"""Four permissions replace "app marketplace access" (DESIGN §6 "Permissions").

Users who held it (`can_manage_apps`) get the three app permissions, so the demo's manager
keeps everything it could do; notification rules stay with super admins until one is given
MANAGE_NOTIFICATIONS.
"""

from typing import Any

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops

from gateway.migrations._operations import DropColumn


async def grant_app_permissions(_apps: Any, schema_editor: Any) -> None:
    await schema_editor.client.execute_script(
        'UPDATE "app_user" SET "install_apps" = "can_manage_apps", '
        '"approve_scopes" = "can_manage_apps", "uninstall_apps" = "can_manage_apps"'
    )


async def restore_app_marketplace_access(_apps: Any, schema_editor: Any) -> None:
    await schema_editor.client.execute_script(
        'UPDATE "app_user" SET "can_manage_apps" = '
        '("install_apps" AND "approve_scopes" AND "uninstall_apps")'
    )


def _flag() -> fields.BooleanField:
    return fields.BooleanField(default=False, db_default=False)


class Migration(migrations.Migration):
    dependencies = [("models", "0003_digest_leases")]

    initial = False

    operations = [
        ops.AddField(model_name="User", name="install_apps", field=_flag()),
        ops.AddField(model_name="User", name="approve_scopes", field=_flag()),
        ops.AddField(model_name="User", name="uninstall_apps", field=_flag()),
        ops.AddField(model_name="User", name="manage_notifications", field=_flag()),
        ops.AddField(
            model_name="User",
            name="permissions_changed_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name="User",
            name="permissions_changed_by",
            field=fields.ForeignKeyField(
                "models.User",
                source_field="permissions_changed_by_id",
                null=True,
                db_constraint=True,
                to_field="id",
                related_name=False,
                on_delete=OnDelete.SET_NULL,
            ),
        ),
        ops.RunPython(grant_app_permissions, restore_app_marketplace_access),
        DropColumn(model_name="User", name="can_manage_apps"),
    ]
