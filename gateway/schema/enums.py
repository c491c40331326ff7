"""The domain enums, exposed with descriptions (one definition, shared with the models)."""

from __future__ import annotations

import strawberry

from gateway.models import enums as e

SubscriptionTier = strawberry.enum(
    e.SubscriptionTier,
    description="A portal's subscription tier, lowest first: FREE < STARTER < PROFESSIONAL < ENTERPRISE.",
)
InstallLevel = strawberry.enum(
    e.InstallLevel,
    description=(
        "How an app is installed: once for the PORTAL, per USER connection, or with several "
        "external accounts (MULTI_ACCOUNT, e.g. social networks)."
    ),
)
AppStatus = strawberry.enum(
    e.AppStatus,
    description="Derived health of an installed app: DISCONNECTED beats ERROR beats CONNECTED.",
)
ScopeState = strawberry.enum(
    e.ScopeState,
    description=(
        "A requested scope as seen from this portal: GRANTED; NEEDS_UPGRADE (the portal's tier "
        "is below the scope's); NEEDS_REAUTHORIZATION (within the tier, not yet granted)."
    ),
)
AlertSeverity = strawberry.enum(e.AlertSeverity, description="How serious an app alert is.")
AppActivity = strawberry.enum(e.AppActivity, description="What an app log entry records.")
NotificationType = strawberry.enum(
    e.NotificationType,
    description=(
        "Which log activities a rule reports: APP_INSTALL (INSTALLED, REINSTALLED), "
        "APP_DISCONNECT (DISCONNECTED), APP_UNINSTALL (UNINSTALLED)."
    ),
)
NotificationFrequency = strawberry.enum(
    e.NotificationFrequency,
    description="How often a rule sends a digest; periods align to the portal's timezone.",
)
NotificationAudience = strawberry.enum(
    e.NotificationAudience,
    description="Who a rule notifies: the super admins, everyone, or SPECIFIC users and teams.",
)
NotificationChannel = strawberry.enum(
    e.NotificationChannel,
    description="Where a digest is delivered: by email or in the in-app inbox.",
)
DeliveryStatus = strawberry.enum(
    e.DeliveryStatus, description="State of one delivery of a digest on one channel."
)
UserErrorCode = strawberry.enum(
    e.UserErrorCode,
    description=(
        "Why a mutation was refused: NOT_FOUND (missing, or another portal's), FORBIDDEN, "
        "INVALID input, CONFLICT with the current state, NEEDS_UPGRADE (a higher tier is needed)."
    ),
)
