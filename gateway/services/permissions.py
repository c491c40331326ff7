"""Setting people's permissions (DESIGN §6 "Permissions"): super admins set everyone else's,
never their own and never another super admin's (who holds them all anyway)."""

from __future__ import annotations

from collections.abc import Collection

from gateway import models as m
from gateway.models.enums import Permission
from gateway.services.lifecycle import Actor
from gateway.services.problems import Refused, conflict, forbidden, not_found


async def set_permissions(
    actor: Actor, user_id: int, permissions: Collection[Permission]
) -> m.User:
    """The user, holding exactly `permissions` from now on, with who set them and when."""
    if not actor.user.is_super_admin:
        raise Refused([forbidden("Only super admins set permissions", "input", "userId")])
    user = await m.User.get_or_none(id=user_id, portal_id=actor.portal.id)
    if user is None:
        raise Refused([not_found("user", "input", "userId")])
    if user.id == actor.user.id:
        raise Refused([conflict("Nobody sets their own permissions", "input", "userId")])
    if user.is_super_admin:
        raise Refused([conflict("A super admin holds every permission already", "input", "userId")])
    await m.User.filter(id=user.id).update(
        **{p.column: p in permissions for p in Permission},
        permissions_changed_at=actor.now,
        permissions_changed_by_id=actor.user.id,
    )
    return await m.User.get(id=user.id)
