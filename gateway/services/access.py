"""Who may act (DESIGN §1 "Who may act"): the rules the mutations enforce, and that the
`viewerCan…` fields report, so a console shows only the actions a viewer may take."""

from __future__ import annotations

from collections.abc import Iterable

from gateway import models as m
from gateway.loaders import ScopeRow
from gateway.models.enums import InstallLevel, Permission, SubscriptionTier
from gateway.services.apps import within_tier
from gateway.services.problems import Refused, requires


def may_install(user: m.User, level: InstallLevel) -> bool:
    """Anyone may connect to a USER app; installing a portal-wide app and adding an account of
    a multi-account one need INSTALL_APPS."""
    return level is InstallLevel.USER or user.holds(Permission.INSTALL_APPS)


def may_acknowledge(user: m.User) -> bool:
    """Acknowledging an app's alert is for those who may act on the app: reauthorize or
    uninstall it."""
    return user.can_approve or user.can_uninstall


def require(user: m.User, permission: Permission, *field: str) -> None:
    """Refuse (FORBIDDEN, naming the permission) unless `user` holds `permission`: uninstalling
    and removing someone else's connection need UNINSTALL_APPS, reauthorizing APPROVE_SCOPES,
    notification rules and deliveries MANAGE_NOTIFICATIONS."""
    if not user.holds(permission):
        raise Refused([requires(permission, *field)])


def within_plan(scopes: Iterable[ScopeRow], tier: SubscriptionTier) -> bool:
    """Every required scope is within the portal's tier (an install needs it)."""
    return all(within_tier(s.required_tier, tier) for s in scopes if s.required)


def already_installed(level: InstallLevel, installed: bool, connected: bool) -> bool:
    """An install that can only conflict: a portal-wide app already installed, or a user app
    the viewer is already connected to. (A multi-account app installed takes more accounts.)"""
    if level is InstallLevel.PORTAL:
        return installed
    if level is InstallLevel.USER:
        return connected
    return False
