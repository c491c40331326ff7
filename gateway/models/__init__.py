"""Tortoise models, one module per aggregate. Tortoise discovers them through this module."""

from gateway.models.apps import AppAlert, AppConnection, ConnectedApp, GrantedScope
from gateway.models.catalogue import LearningResource, ListingScope, MarketplaceListing
from gateway.models.install_requests import (
    InstallRequest,
    InstallRequestNote,
    InstallRequestNoteItem,
)
from gateway.models.log import AppLogEntry, LoggedAlert, LoggedScopeChange, ProcessedEvent
from gateway.models.notifications import (
    Delivery,
    Notification,
    NotificationEntry,
    NotificationRule,
    RuleApp,
    RuleTeam,
    RuleUser,
)
from gateway.models.portal import Portal, Team, TeamMembership, User
from gateway.models.usage import AppUsageDay

__models__ = [
    Portal,
    User,
    Team,
    TeamMembership,
    MarketplaceListing,
    ListingScope,
    LearningResource,
    ConnectedApp,
    AppConnection,
    GrantedScope,
    AppAlert,
    AppLogEntry,
    LoggedAlert,
    LoggedScopeChange,
    ProcessedEvent,
    NotificationRule,
    RuleApp,
    RuleUser,
    RuleTeam,
    Notification,
    NotificationEntry,
    Delivery,
    InstallRequest,
    InstallRequestNote,
    InstallRequestNoteItem,
    AppUsageDay,
]
