"""The demo portals: "Acme Demo" and a small "Globex", their people, teams, installed apps (and
the shape of each app's history), and notification rules. Changing a table here changes the demo.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from gateway.demo.catalogue import P, S
from gateway.models.enums import (
    APP_PERMISSIONS,
    AlertSeverity,
    NotificationAudience,
    NotificationFrequency,
    NotificationType,
    Permission,
    SubscriptionTier,
)

ACME_NAME = "Acme Demo"
GLOBEX_NAME = "Globex"

# The Acme portal is created this long before the anchor. A second call finds the first seed's
# anchor again from `Portal.created_at`, which nothing ever updates.
ACME_AGE = timedelta(days=400)
GLOBEX_AGE = timedelta(days=200)
# Every Acme log entry lies in [anchor - LOG_WINDOW, anchor).
LOG_WINDOW = timedelta(days=120)
# Nothing is logged in the last minutes before the anchor, so digests made "just before" it
# (created_at < anchor) can cover their whole period.
QUIET_BEFORE_ANCHOR = timedelta(minutes=15)

ADMIN_EMAIL = "admin@demo.example"
MANAGER_EMAIL = "manager@demo.example"
MEMBER_EMAIL = "member@demo.example"
MEMBER2_EMAIL = "member2@demo.example"
GLOBEX_ADMIN_EMAIL = "admin@globex.example"

# The Acme apps that show each special case (DemoData carries them too).
DISCONNECTED_SLUG = "adbeacon"
ERROR_SLUG = "helpdesk-hero"
USER_LEVEL_SLUG = "meetslot"
MULTI_ACCOUNT_SLUG = "chirp"
NEEDS_REAUTH_SLUG = "teamchat"
NEEDS_UPGRADE_SLUG = "metricly"
UNINSTALLED_SLUG = "leadgenius"
REINSTALLED_SLUG = "mailmerge-pro"

# The listing whose request changed in the demo's past (DESIGN §6 "Scope changes"): the scopes
# it started requesting then, and when. Every app of it installed before that instant has a
# SCOPES_CHANGED entry; Acme's TeamChat has not granted the new scope since (NEEDS_REAUTH_SLUG).
LISTING_CHANGE_SLUG = NEEDS_REAUTH_SLUG
LISTING_CHANGE_ADDED = ("conversations.write",)
LISTING_CHANGE_BEFORE_ANCHOR = timedelta(days=2)


@dataclass(frozen=True)
class UserSpec:
    name: str
    email: str
    is_super_admin: bool = False
    permissions: tuple[Permission, ...] = ()


@dataclass(frozen=True)
class AlertSpec:
    severity: AlertSeverity
    code: str
    message: str


@dataclass(frozen=True)
class AppSpec:
    """One installed (or once installed) app and the shape of its history.

    The history is `events` entries of marks and reauthorizations after the INSTALLED entry,
    split by `cycles` UNINSTALLED/REINSTALLED pairs, and closed so the final state matches
    `final` ("connected", "disconnected" or "uninstalled").
    """

    slug: str
    installed_days_ago: float
    installer: str  # email; for USER/MULTI_ACCOUNT apps without cycles, the first connection's
    events: int
    actors: tuple[str, ...]  # who reconnects, uninstalls and reinstalls it
    cycles: int = 0
    final: Literal["connected", "disconnected", "uninstalled"] = "connected"
    uninstalled_days_ago: float | None = None
    # (email of the user, external account name or None), oldest first; the first one is made
    # at the last (re)install, by the person that install entry names.
    connections: tuple[tuple[str, str | None], ...] = ()
    ungranted: tuple[str, ...] = ()  # requested scopes within the tier left out on purpose
    open_alert: AlertSpec | None = None
    resolved_alerts: tuple[AlertSpec, ...] = ()


@dataclass(frozen=True)
class RuleSpec:
    name: str
    type: NotificationType
    frequency: NotificationFrequency
    audience: NotificationAudience
    email: bool
    in_app: bool
    created_days_ago: int
    updated_days_ago: int
    app_slugs: tuple[str, ...] = ()  # empty: all apps
    user_emails: tuple[str, ...] = ()
    team_names: tuple[str, ...] = ()
    # Past digests to put in the inboxes (the newest periods with matching entries), of which
    # the newest `unread` stay unread for every recipient.
    inbox_periods: int = 0
    unread: int = 0


@dataclass(frozen=True)
class PortalSpec:
    name: str
    tier: SubscriptionTier
    timezone: str
    age: timedelta
    users: tuple[UserSpec, ...]
    teams: tuple[tuple[str, tuple[str, ...]], ...]
    apps: tuple[AppSpec, ...]
    rules: tuple[RuleSpec, ...]


SYNC_FAILED = AlertSpec(
    AlertSeverity.ERROR,
    "sync_failed",
    "Ticket sync failed: the HelpDesk Hero API answered 503 three times in a row.",
)
RATE_LIMITED = AlertSpec(
    AlertSeverity.WARNING,
    "rate_limited",
    "The app hit the API rate limit; syncing resumed after a pause.",
)
TOKEN_EXPIRING = AlertSpec(
    AlertSeverity.INFO,
    "token_expiring",
    "The app's access token expires in 7 days; it was refreshed.",
)
WEBHOOK_FAILING = AlertSpec(
    AlertSeverity.ERROR, "webhook_failing", "Webhook deliveries to the app failed with HTTP 500."
)
FIELD_MAPPING = AlertSpec(
    AlertSeverity.WARNING,
    "field_mapping_invalid",
    "A mapped property was deleted; 12 records were skipped.",
)

ACME_MANAGERS = (ADMIN_EMAIL, MANAGER_EMAIL)

ACME = PortalSpec(
    name=ACME_NAME,
    tier=P,
    timezone="America/New_York",
    age=ACME_AGE,
    users=(
        UserSpec("Avery Admin", ADMIN_EMAIL, is_super_admin=True),
        UserSpec("Morgan Manager", MANAGER_EMAIL, permissions=APP_PERMISSIONS),
        UserSpec("Casey Member", MEMBER_EMAIL),
        UserSpec("Riley Member", MEMBER2_EMAIL),
        # Partial permissions (DESIGN §6), so each can be tried: Jordan installs apps but may
        # not uninstall or reauthorize them; Taylor looks after the notification rules.
        UserSpec("Jordan Lee", "jordan@demo.example", permissions=(Permission.INSTALL_APPS,)),
        UserSpec(
            "Taylor Brooks",
            "taylor@demo.example",
            permissions=(Permission.MANAGE_NOTIFICATIONS,),
        ),
        # Typed in lower case, as people do: lists sort by sort_name, so Sam still sorts by "s".
        UserSpec("sam Rivera", "sam@demo.example"),
    ),
    teams=(
        # Casey is in both teams, so a rule naming both must not notify Casey twice.
        ("Sales", (MANAGER_EMAIL, MEMBER_EMAIL, "jordan@demo.example")),
        ("Marketing Ops", (MEMBER_EMAIL, MEMBER2_EMAIL, "taylor@demo.example")),
    ),
    apps=(
        AppSpec(
            "contactsync",
            118.4,
            ADMIN_EMAIL,
            72,
            ACME_MANAGERS,
            resolved_alerts=(RATE_LIMITED, TOKEN_EXPIRING),
        ),
        AppSpec(
            UNINSTALLED_SLUG,
            115.2,
            ADMIN_EMAIL,
            18,
            ACME_MANAGERS,
            final="uninstalled",
            uninstalled_days_ago=34.6,
        ),
        AppSpec("quotely", 112.7, MANAGER_EMAIL, 38, ACME_MANAGERS),
        AppSpec(
            ERROR_SLUG,
            109.1,
            ADMIN_EMAIL,
            44,
            ACME_MANAGERS,
            open_alert=SYNC_FAILED,
            resolved_alerts=(WEBHOOK_FAILING,),
        ),
        AppSpec(
            REINSTALLED_SLUG,
            104.5,
            MANAGER_EMAIL,
            46,
            ACME_MANAGERS,
            cycles=1,
            resolved_alerts=(RATE_LIMITED,),
        ),
        AppSpec(DISCONNECTED_SLUG, 97.3, MANAGER_EMAIL, 41, ACME_MANAGERS, final="disconnected"),
        AppSpec(
            NEEDS_REAUTH_SLUG,
            93.8,
            ADMIN_EMAIL,
            36,
            ACME_MANAGERS,
            ungranted=("conversations.write",),
        ),
        AppSpec(
            USER_LEVEL_SLUG,
            90.2,
            MANAGER_EMAIL,
            30,
            (MANAGER_EMAIL, MEMBER_EMAIL, MEMBER2_EMAIL, "jordan@demo.example"),
            connections=(
                (MANAGER_EMAIL, None),
                (MEMBER_EMAIL, None),
                (MEMBER2_EMAIL, None),
                ("jordan@demo.example", None),
            ),
        ),
        AppSpec(
            "docsvault",
            86.6,
            "taylor@demo.example",
            40,
            (MEMBER2_EMAIL, MEMBER_EMAIL, "sam@demo.example", "taylor@demo.example"),
            cycles=2,
            # Taylor installed it first but has no connection any more: installed_by still
            # names Taylor (the first installer), the connections show who uses it now.
            connections=((MEMBER2_EMAIL, None), (MEMBER_EMAIL, None), ("sam@demo.example", None)),
        ),
        AppSpec(NEEDS_UPGRADE_SLUG, 80.9, ADMIN_EMAIL, 30, ACME_MANAGERS),
        AppSpec(
            MULTI_ACCOUNT_SLUG,
            75.4,
            MANAGER_EMAIL,
            22,
            ACME_MANAGERS,
            connections=(
                (MANAGER_EMAIL, "@acme"),
                (ADMIN_EMAIL, "@acme_support"),
                (MANAGER_EMAIL, "@acme_careers"),
            ),
        ),
        AppSpec(
            "landingcraft", 72.1, MANAGER_EMAIL, 32, ACME_MANAGERS, resolved_alerts=(FIELD_MAPPING,)
        ),
        AppSpec("surveyspark", 66.5, ADMIN_EMAIL, 24, ACME_MANAGERS),
        AppSpec(
            "callbridge",
            60.3,
            "jordan@demo.example",
            22,
            ("jordan@demo.example", MEMBER_EMAIL),
            connections=(("jordan@demo.example", None), (MEMBER_EMAIL, None)),
        ),
        AppSpec(
            "linkedup",
            50.7,
            ADMIN_EMAIL,
            16,
            ACME_MANAGERS,
            connections=((ADMIN_EMAIL, "Acme Corporation"), (MANAGER_EMAIL, "Acme Engineering")),
        ),
    ),
    rules=(
        RuleSpec(
            "Install digest",
            NotificationType.APP_INSTALL,
            NotificationFrequency.DAILY,
            NotificationAudience.SUPER_ADMINS,
            email=True,
            in_app=True,
            created_days_ago=100,
            updated_days_ago=100,
            inbox_periods=4,
            unread=2,
        ),
        RuleSpec(
            "Disconnect alerts",
            NotificationType.APP_DISCONNECT,
            NotificationFrequency.HOURLY,
            NotificationAudience.SPECIFIC,
            email=False,
            in_app=True,
            created_days_ago=95,
            updated_days_ago=41,
            app_slugs=(
                "contactsync",
                DISCONNECTED_SLUG,
                ERROR_SLUG,
                NEEDS_REAUTH_SLUG,
                USER_LEVEL_SLUG,
            ),
            user_emails=(MEMBER_EMAIL,),
            team_names=("Sales",),
            inbox_periods=4,
            unread=2,
        ),
        RuleSpec(
            "Monthly uninstall report",
            NotificationType.APP_UNINSTALL,
            NotificationFrequency.MONTHLY,
            NotificationAudience.EVERYONE,
            email=True,
            in_app=False,
            created_days_ago=60,
            updated_days_ago=58,
        ),
    ),
)

GLOBEX = PortalSpec(
    name=GLOBEX_NAME,
    tier=S,
    timezone="Europe/Berlin",
    age=GLOBEX_AGE,
    users=(
        UserSpec("Greta Admin", GLOBEX_ADMIN_EMAIL, is_super_admin=True),
        UserSpec("Hans Weber", "hans@globex.example"),
    ),
    teams=(),
    # Three of these listings are installed in Acme as well: the same listing, another app.
    apps=(
        AppSpec("contactsync", 88.2, GLOBEX_ADMIN_EMAIL, 10, (GLOBEX_ADMIN_EMAIL,)),
        AppSpec("teamchat", 70.6, GLOBEX_ADMIN_EMAIL, 8, (GLOBEX_ADMIN_EMAIL,)),
        AppSpec(
            "chatwidget", 45.3, GLOBEX_ADMIN_EMAIL, 7, (GLOBEX_ADMIN_EMAIL,), final="disconnected"
        ),
        AppSpec(
            "chirp",
            30.8,
            GLOBEX_ADMIN_EMAIL,
            2,
            (GLOBEX_ADMIN_EMAIL,),
            connections=((GLOBEX_ADMIN_EMAIL, "@globex"),),
        ),
    ),
    rules=(
        RuleSpec(
            "Weekly disconnect summary",
            NotificationType.APP_DISCONNECT,
            NotificationFrequency.WEEKLY,
            NotificationAudience.EVERYONE,
            email=True,
            in_app=True,
            created_days_ago=80,
            updated_days_ago=80,
            inbox_periods=1,
            unread=1,
        ),
    ),
)

# Share of flap-free steps that are reauthorizations rather than disconnections.
REAUTHORIZE_SHARE = 0.18
# Share of RECONNECTED entries credited to a person (who re-entered credentials); the rest,
# like every DISCONNECTED, were reported by the platform and name nobody.
RECONNECTED_BY_PERSON = 0.6
