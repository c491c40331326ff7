"""The domain's enumerations, shared by the models and the GraphQL schema (one definition each)."""

from __future__ import annotations

from enum import Enum


class SubscriptionTier(str, Enum):
    FREE = "FREE"
    STARTER = "STARTER"
    PROFESSIONAL = "PROFESSIONAL"
    ENTERPRISE = "ENTERPRISE"

    @property
    def rank(self) -> int:
        return _TIER_RANK[self]


_TIER_RANK = {tier: rank for rank, tier in enumerate(SubscriptionTier)}


class InstallLevel(str, Enum):
    PORTAL = "PORTAL"
    USER = "USER"
    MULTI_ACCOUNT = "MULTI_ACCOUNT"


class AppStatus(str, Enum):
    CONNECTED = "CONNECTED"
    DISCONNECTED = "DISCONNECTED"
    ERROR = "ERROR"


class ScopeState(str, Enum):
    GRANTED = "GRANTED"
    NEEDS_UPGRADE = "NEEDS_UPGRADE"
    NEEDS_REAUTHORIZATION = "NEEDS_REAUTHORIZATION"


class AlertSeverity(str, Enum):
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {severity: rank for rank, severity in enumerate(AlertSeverity)}


class AppActivity(str, Enum):
    INSTALLED = "INSTALLED"
    UNINSTALLED = "UNINSTALLED"
    REINSTALLED = "REINSTALLED"
    DISCONNECTED = "DISCONNECTED"
    RECONNECTED = "RECONNECTED"
    REAUTHORIZED = "REAUTHORIZED"
    # An alert opened or its reason changed; an alert resolved (DESIGN §6 "Errors in the log").
    ERROR_RAISED = "ERROR_RAISED"
    ERROR_RESOLVED = "ERROR_RESOLVED"
    # The listing's requested scope names changed (DESIGN §6 "Scope changes").
    SCOPES_CHANGED = "SCOPES_CHANGED"


class NotificationType(str, Enum):
    APP_INSTALL = "APP_INSTALL"
    APP_DISCONNECT = "APP_DISCONNECT"
    APP_UNINSTALL = "APP_UNINSTALL"
    APP_ERROR = "APP_ERROR"
    # Install requests' own notices (new, reminder, outcome): never a rule's type.
    INSTALL_REQUEST = "INSTALL_REQUEST"


class NotificationFrequency(str, Enum):
    HOURLY = "HOURLY"
    DAILY = "DAILY"
    WEEKLY = "WEEKLY"
    MONTHLY = "MONTHLY"


class NotificationAudience(str, Enum):
    SUPER_ADMINS = "SUPER_ADMINS"
    EVERYONE = "EVERYONE"
    SPECIFIC = "SPECIFIC"


class NotificationChannel(str, Enum):
    EMAIL = "EMAIL"
    IN_APP = "IN_APP"
    WEBHOOK = "WEBHOOK"
    SLACK = "SLACK"


# Channels delivered once per digest to a rule's URL, not per person (DESIGN §6 "More channels").
URL_CHANNELS = (NotificationChannel.WEBHOOK, NotificationChannel.SLACK)


class DeliveryStatus(str, Enum):
    PENDING = "PENDING"
    SENT = "SENT"
    RETRYING = "RETRYING"
    FAILED = "FAILED"


# Which log activities a notification type covers (DESIGN §1 "Notification rules").
ACTIVITIES_BY_TYPE: dict[NotificationType, tuple[AppActivity, ...]] = {
    NotificationType.APP_INSTALL: (AppActivity.INSTALLED, AppActivity.REINSTALLED),
    NotificationType.APP_DISCONNECT: (AppActivity.DISCONNECTED,),
    NotificationType.APP_UNINSTALL: (AppActivity.UNINSTALLED,),
    # Raised only: people hear of an error once, and again when its reason changes.
    NotificationType.APP_ERROR: (AppActivity.ERROR_RAISED,),
}


class Permission(str, Enum):
    """What a user who is not a super admin may be allowed (DESIGN §6 "Permissions"); super
    admins hold all four. Each is a column of the user's row, named in lower case."""

    INSTALL_APPS = "INSTALL_APPS"
    APPROVE_SCOPES = "APPROVE_SCOPES"
    UNINSTALL_APPS = "UNINSTALL_APPS"
    MANAGE_NOTIFICATIONS = "MANAGE_NOTIFICATIONS"

    @property
    def column(self) -> str:
        return self.value.lower()


# The three that replaced the single "app marketplace access" permission (`canManageApps`).
APP_PERMISSIONS = (Permission.INSTALL_APPS, Permission.APPROVE_SCOPES, Permission.UNINSTALL_APPS)


class InstallRequestStatus(str, Enum):
    """Where an install request stands (DESIGN §6 "Install requests"); only PENDING changes."""

    PENDING = "PENDING"
    APPROVED = "APPROVED"
    DENIED = "DENIED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"


class InstallRequestNotice(str, Enum):
    """Why an INSTALL_REQUEST notification was sent."""

    NEW = "NEW"
    REMINDER = "REMINDER"
    OUTCOME = "OUTCOME"


class UserErrorCode(str, Enum):
    NOT_FOUND = "NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"
    INVALID = "INVALID"
    CONFLICT = "CONFLICT"
    NEEDS_UPGRADE = "NEEDS_UPGRADE"
