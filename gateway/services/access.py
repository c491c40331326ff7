"""Who may act (DESIGN §1 "Who may act"): the rules the mutations enforce, and that the
`viewerCan…` fields report, so a console shows only the actions a viewer may take."""

from __future__ import annotations

from collections.abc import Iterable

from gateway import models as m
from gateway.loaders import ScopeRow
from gateway.models.enums import InstallLevel, SubscriptionTier
from gateway.services.apps import within_tier


def may_manage_apps(user: m.User) -> bool:
    """Uninstalling, reauthorizing, installing portal-wide or multi-account apps, and
    removing someone else's connection."""
    return user.can_manage


def may_install(user: m.User, level: InstallLevel) -> bool:
    """Anyone may connect to a USER app; the other levels need the app permission."""
    return level is InstallLevel.USER or may_manage_apps(user)


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
