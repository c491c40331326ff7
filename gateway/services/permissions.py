"""Setting people's permissions (DESIGN §6 "Permissions"): super admins set everyone else's,
never their own and never another super admin's (who holds them all anyway)."""

from __future__ import annotations

from collections.abc import Collection

from gateway import models as m
from gateway.models.enums import Permission
from gateway.services.lifecycle import Actor
from gateway.services.problems import Problem, Refused, conflict, forbidden, not_found

_ONLY_SUPER_ADMINS = forbidden("Only super admins set permissions", "input", "userId")


def refusal(actor: m.User, user: m.User) -> Problem | None:
    """Why `actor` may not set `user`'s permissions; None when they may
    (`User.viewerCanSetPermissions`)."""
    if not actor.is_super_admin:
        return _ONLY_SUPER_ADMINS
    if user.id == actor.id:
        return conflict("Nobody sets their own permissions", "input", "userId")
    if user.is_super_admin:
        return conflict("A super admin holds every permission already", "input", "userId")
    return None


async def set_permissions(
    actor: Actor, user_id: int, permissions: Collection[Permission]
) -> m.User:
    """The user, holding exactly `permissions` from now on, with who set them and when."""
    if not actor.user.is_super_admin:  # before the lookup: ids tell others nothing
        raise Refused([_ONLY_SUPER_ADMINS])
    user = await m.User.get_or_none(id=user_id, portal_id=actor.portal.id)
    if user is None:
        raise Refused([not_found("user", "input", "userId")])
    problem = refusal(actor.user, user)
    if problem is not None:
        raise Refused([problem])
    await m.User.filter(id=user.id).update(
        **{p.column: p in permissions for p in Permission},
        permissions_changed_at=actor.now,
        permissions_changed_by_id=actor.user.id,
    )
    return await m.User.get(id=user.id)
