"""The domain enums, exposed with descriptions (one definition, shared with the models).

`strawberry.enum` marks the models' enum classes in place, so the schema and the type checker
see the same classes; this module is imported for that effect and re-exports them."""

from __future__ import annotations

import strawberry

from gateway.models.enums import (
    AlertSeverity,
    AppActivity,
    AppStatus,
    DeliveryStatus,
    InstallLevel,
    InstallRequestNotice,
    InstallRequestStatus,
    NotificationAudience,
    NotificationChannel,
    NotificationFrequency,
    NotificationType,
    Permission,
    ScopeState,
    SubscriptionTier,
    UserErrorCode,
)
from gateway.services.export import Format

strawberry.enum(
    Format,
    name="ExportFormat",
    description="How an App log export is written: CSV (RFC 4180) or NDJSON (one JSON object a line).",
)
strawberry.enum(
    Permission,
    description=(
        "What a user may do besides reading (super admins hold all four): INSTALL_APPS "
        "(install, reinstall, add a MULTI_ACCOUNT account), APPROVE_SCOPES (reauthorize), "
        "UNINSTALL_APPS (uninstall, remove someone else's connection), MANAGE_NOTIFICATIONS "
        "(notification rules and their deliveries)."
    ),
)
strawberry.enum(
    SubscriptionTier,
    description="A portal's subscription tier, lowest first: FREE < STARTER < PROFESSIONAL < ENTERPRISE.",
)
strawberry.enum(
    InstallLevel,
    description=(
        "How an app is installed: once for the PORTAL, per USER connection, or with several "
        "external accounts (MULTI_ACCOUNT, e.g. social networks)."
    ),
)
strawberry.enum(
    AppStatus,
    description="Derived health of an installed app: DISCONNECTED beats ERROR beats CONNECTED.",
)
strawberry.enum(
    ScopeState,
    description=(
        "A requested scope as seen from this portal: GRANTED; NEEDS_UPGRADE (the portal's tier "
        "is below the scope's); NEEDS_REAUTHORIZATION (within the tier, not yet granted)."
    ),
)
strawberry.enum(AlertSeverity, description="How serious an app alert is.")
strawberry.enum(AppActivity, description="What an app log entry records.")
strawberry.enum(
    NotificationType,
    description=(
        "Which log activities a rule reports: APP_INSTALL (INSTALLED, REINSTALLED), "
        "APP_DISCONNECT (DISCONNECTED), APP_UNINSTALL (UNINSTALLED). INSTALL_REQUEST is the "
        "type of install requests' own notifications, never of a rule (INVALID there)."
    ),
)
strawberry.enum(
    InstallRequestStatus,
    description=(
        "Where an install request stands: PENDING until it is APPROVED (installed), DENIED, "
        "CANCELLED by its requester, or EXPIRED (nobody decided within the policy's days)."
    ),
)
strawberry.enum(
    InstallRequestNotice,
    description=(
        "Why an INSTALL_REQUEST notification was sent: NEW (to reviewers, a request was made), "
        "REMINDER (to reviewers, requests waiting more than 24 hours; at most one a day), "
        "OUTCOME (to the requester: approved, denied or expired)."
    ),
)
strawberry.enum(
    NotificationFrequency,
    description="How often a rule sends a digest; periods align to the portal's timezone.",
)
strawberry.enum(
    NotificationAudience,
    description="Who a rule notifies: the super admins, everyone, or SPECIFIC users and teams.",
)
strawberry.enum(
    NotificationChannel,
    description=(
        "Where a digest is delivered: by email or in the in-app inbox (to each recipient), or "
        "once per digest to the rule's webhook (signed JSON) or Slack incoming webhook."
    ),
)
strawberry.enum(DeliveryStatus, description="State of one delivery of a digest on one channel.")
strawberry.enum(
    UserErrorCode,
    description=(
        "Why a mutation was refused: NOT_FOUND (missing, or another portal's), FORBIDDEN, "
        "INVALID input, CONFLICT with the current state, NEEDS_UPGRADE (a higher tier is needed)."
    ),
)

__all__ = [
    "AlertSeverity",
    "AppActivity",
    "AppStatus",
    "DeliveryStatus",
    "Format",
    "InstallLevel",
    "InstallRequestNotice",
    "InstallRequestStatus",
    "NotificationAudience",
    "NotificationChannel",
    "NotificationFrequency",
    "NotificationType",
    "Permission",
    "ScopeState",
    "SubscriptionTier",
    "UserErrorCode",
]
