"""Deterministic demo data: a global catalogue, the "Acme Demo" portal and a small "Globex".

`seed_demo(anchor)` writes everything straight through the models, in one transaction. It is

- idempotent: when a portal named "Acme Demo" exists it writes nothing and describes what is
  there (the anchor of that first seed included);
- deterministic: every random choice comes from `random.Random` seeded with `SEED` plus a fixed
  label, and every time is an offset from `anchor`, so one anchor gives the same rows (and, on
  an empty database, the same ids: the insertion order is fixed).

The data tables come first (catalogue, people, installed apps, rules); the small functions that
turn them into rows follow. Everything here must stay consistent with DESIGN §1, because the
console derives statuses, scope states and histories from these rows:
- each app's log starts with INSTALLED at `installed_at`, DISCONNECTED/RECONNECTED alternate,
  UNINSTALLED is only ever followed by REINSTALLED, and the final mark matches `disconnected`;
- installed apps hold a grant for every requested scope within the portal's tier (except the
  ones an app spec leaves out on purpose), and no installed listing has a *required* scope
  above its portal's tier (such an install would have been refused);
- digests in the inboxes cover exactly the matching entries of their period.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from tortoise.transactions import in_transaction

from gateway.models import (
    AppAlert,
    AppConnection,
    AppLogEntry,
    ConnectedApp,
    Delivery,
    GrantedScope,
    LearningResource,
    ListingScope,
    MarketplaceListing,
    Notification,
    NotificationEntry,
    NotificationRule,
    Portal,
    RuleApp,
    RuleTeam,
    RuleUser,
    Team,
    TeamMembership,
    User,
)
from gateway.models.enums import (
    ACTIVITIES_BY_TYPE,
    AlertSeverity,
    AppActivity,
    DeliveryStatus,
    InstallLevel,
    NotificationAudience,
    NotificationChannel,
    NotificationFrequency,
    NotificationType,
    SubscriptionTier,
)
from gateway.services.apps import within_tier
from gateway.services.digests import MAX_ENTRIES, recipients
from gateway.services.periods import period_containing

# Changing the seed (or any table below) changes the demo; tests pin an anchor, not the rows.
SEED = 20261101

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

F, S, P, E = (
    SubscriptionTier.FREE,
    SubscriptionTier.STARTER,
    SubscriptionTier.PROFESSIONAL,
    SubscriptionTier.ENTERPRISE,
)
REQ, OPT = True, False
PORTAL, USER, MULTI = InstallLevel.PORTAL, InstallLevel.USER, InstallLevel.MULTI_ACCOUNT


# --------------------------------------------------------------------------------------------
# The catalogue (global: the same for every portal)
# --------------------------------------------------------------------------------------------

SCOPE_DESCRIPTIONS: dict[str, str] = {
    "oauth": "Verify the identity of the person who connects the app.",
    "crm.objects.contacts.read": "View properties and other details about contacts.",
    "crm.objects.contacts.write": "Create, update and delete contacts.",
    "crm.objects.companies.read": "View properties and other details about companies.",
    "crm.objects.companies.write": "Create, update and delete companies.",
    "crm.objects.deals.read": "View properties and other details about deals.",
    "crm.objects.deals.write": "Create, update and delete deals.",
    "crm.objects.quotes.read": "View quotes and their line items.",
    "crm.objects.quotes.write": "Create, update and publish quotes.",
    "crm.objects.line_items.read": "View the products attached to deals and quotes.",
    "crm.objects.owners.read": "View the users who own records.",
    "crm.objects.invoices.read": "View invoices and their payment status.",
    "crm.lists.read": "View contact and company lists.",
    "crm.lists.write": "Create lists and change their members.",
    "crm.schemas.custom.read": "View the definitions of custom objects.",
    "crm.import": "Import records into the CRM.",
    "crm.export": "Export CRM records in bulk.",
    "timeline": "Add events to the activity timeline of records.",
    "forms": "View forms and their submissions.",
    "content": "Read and publish website and landing page content.",
    "automation": "Enroll records in workflows and sequences.",
    "files": "Upload and read files in the file manager.",
    "marketing-email": "Read and send marketing emails.",
    "transactional-email": "Send one-to-one transactional emails.",
    "marketing.campaigns.read": "View campaigns and their performance.",
    "marketing.campaigns.write": "Create campaigns and attach assets to them.",
    "social": "Publish and schedule social posts and read their engagement.",
    "tickets": "View, create and update support tickets.",
    "conversations.read": "Read inbox conversations and chat transcripts.",
    "conversations.write": "Reply to conversations and assign them.",
    "conversations.visitor_identification.tokens.create": (
        "Identify chat visitors who are logged in."
    ),
    "sales-email-read": "Read the content of one-to-one sales emails.",
    "scheduler.meetings.meeting-link.read": "View meeting scheduling pages.",
    "business-intelligence": "Read analytics and reporting data.",
    "analytics.behavioral_events.send": "Send custom behavioral events.",
    "e-commerce": "Read and write products, orders and carts.",
    "account-info.security.read": "View the account's security activity log.",
}

ScopeRow = tuple[str, SubscriptionTier, bool]  # (name, required tier, required)


@dataclass(frozen=True)
class ListingSpec:
    slug: str
    name: str
    vendor: str
    category: str
    install_level: InstallLevel
    description: str
    scopes: tuple[ScopeRow, ...]  # in the listing's order (ListingScope.position)


LISTINGS: tuple[ListingSpec, ...] = (
    # ---- CRM
    ListingSpec(
        "contactsync",
        "ContactSync",
        "Northwind Labs",
        "CRM",
        PORTAL,
        "Two-way sync of contacts and companies with Outlook, Google Contacts and 40+ address "
        "books, with field mapping and conflict rules.",
        (
            ("oauth", F, REQ),
            ("crm.objects.contacts.read", F, REQ),
            ("crm.objects.contacts.write", F, REQ),
            ("crm.objects.companies.read", F, REQ),
            ("crm.objects.companies.write", S, OPT),
            ("crm.lists.read", S, OPT),
        ),
    ),
    ListingSpec(
        "dealflow",
        "DealFlow Pipeline Bridge",
        "Fabrikam Software",
        "CRM",
        PORTAL,
        "Mirror deals and custom pipeline objects into Fabrikam ERP and keep stages in sync "
        "both ways.",
        # A required ENTERPRISE scope: the marketplace shows an install that needs an upgrade.
        (
            ("oauth", F, REQ),
            ("crm.objects.deals.read", F, REQ),
            ("crm.objects.deals.write", F, REQ),
            ("crm.objects.line_items.read", S, OPT),
            ("crm.schemas.custom.read", E, REQ),
        ),
    ),
    ListingSpec(
        "leadgenius",
        "LeadGenius Enrichment",
        "Brightside Data",
        "CRM",
        PORTAL,
        "Fill in job titles, company size and industry for new contacts from a database of "
        "200 million business profiles.",
        (
            ("oauth", F, REQ),
            ("crm.objects.contacts.read", F, REQ),
            ("crm.objects.contacts.write", F, REQ),
            ("crm.objects.companies.write", F, REQ),
            ("crm.import", S, OPT),
        ),
    ),
    # ---- Marketing
    ListingSpec(
        "mailmerge-pro",
        "MailMerge Pro",
        "Postbox Inc.",
        "Marketing",
        PORTAL,
        "Design newsletters in a drag-and-drop editor and send them to CRM lists with "
        "personalization tokens and A/B subject lines.",
        (
            ("oauth", F, REQ),
            ("crm.objects.contacts.read", F, REQ),
            ("marketing-email", S, REQ),
            ("crm.lists.read", S, REQ),
            ("crm.lists.write", S, OPT),
            ("transactional-email", P, OPT),
        ),
    ),
    ListingSpec(
        "adbeacon",
        "AdBeacon Ads",
        "Beacon Media",
        "Marketing",
        PORTAL,
        "Build retargeting audiences from CRM lists and report ad spend and conversions per "
        "campaign.",
        (
            ("oauth", F, REQ),
            ("crm.objects.contacts.read", F, REQ),
            ("crm.lists.read", S, REQ),
            ("marketing.campaigns.read", S, OPT),
            ("business-intelligence", P, OPT),
        ),
    ),
    ListingSpec(
        "landingcraft",
        "LandingCraft Pages",
        "Craftwork Studio",
        "Marketing",
        PORTAL,
        "Publish fast landing pages from 120 templates; form submissions land in the CRM "
        "as contacts.",
        (("oauth", F, REQ), ("content", S, REQ), ("forms", F, REQ), ("files", F, OPT)),
    ),
    ListingSpec(
        "eventry",
        "Eventry Webinars",
        "Eventry",
        "Marketing",
        PORTAL,
        "Register contacts for webinars and write attendance and questions asked to their "
        "timelines.",
        (
            ("oauth", F, REQ),
            ("crm.objects.contacts.write", F, REQ),
            ("timeline", F, REQ),
            ("marketing.campaigns.write", P, OPT),
        ),
    ),
    # ---- Sales
    ListingSpec(
        "meetslot",
        "MeetSlot Scheduler",
        "Slotwise",
        "Sales",
        USER,
        "Share a booking link that checks your calendar; booked meetings are logged on the "
        "contact.",
        (
            ("oauth", F, REQ),
            ("crm.objects.contacts.write", F, REQ),
            ("scheduler.meetings.meeting-link.read", F, REQ),
            ("timeline", F, OPT),
        ),
    ),
    ListingSpec(
        "callbridge",
        "CallBridge Dialer",
        "Bridgeline Telecom",
        "Sales",
        USER,
        "Call from the browser, record calls and log them with notes and outcomes on the contact.",
        (
            ("oauth", F, REQ),
            ("crm.objects.contacts.read", F, REQ),
            ("timeline", F, REQ),
            ("crm.objects.owners.read", S, OPT),
            ("sales-email-read", P, OPT),
        ),
    ),
    ListingSpec(
        "quotely",
        "Quotely CPQ",
        "Quotely",
        "Sales",
        PORTAL,
        "Configure products, price them with discount rules and turn deals into signed quotes.",
        (
            ("oauth", F, REQ),
            ("crm.objects.deals.read", F, REQ),
            ("crm.objects.quotes.read", P, REQ),
            ("crm.objects.quotes.write", P, REQ),
            ("crm.objects.line_items.read", S, OPT),
            ("e-commerce", P, OPT),
        ),
    ),
    ListingSpec(
        "signflow",
        "SignFlow eSignature",
        "SignFlow",
        "Sales",
        USER,
        "Send contracts for e-signature from a deal and file the signed PDF on it.",
        (
            ("oauth", F, REQ),
            ("crm.objects.deals.read", F, REQ),
            ("files", F, REQ),
            ("crm.objects.quotes.read", P, OPT),
        ),
    ),
    # ---- Productivity
    ListingSpec(
        "teamchat",
        "TeamChat",
        "Chatterbox Co.",
        "Productivity",
        PORTAL,
        "Get deal and contact notifications in team channels and create records with a "
        "slash command.",
        (
            ("oauth", F, REQ),
            ("crm.objects.contacts.read", F, REQ),
            ("crm.objects.deals.read", F, OPT),
            ("conversations.read", S, OPT),
            ("conversations.write", P, OPT),
            ("timeline", F, OPT),
        ),
    ),
    ListingSpec(
        "docsvault",
        "DocsVault Drive",
        "Vaultline",
        "Productivity",
        USER,
        "Attach files from your drive to records and open them without leaving the CRM.",
        (
            ("oauth", F, REQ),
            ("files", F, REQ),
            ("crm.objects.contacts.read", F, OPT),
            ("timeline", F, OPT),
        ),
    ),
    ListingSpec(
        "taskboard",
        "Taskboard",
        "Kanbanery",
        "Productivity",
        PORTAL,
        "Turn won deals into onboarding projects with tasks, owners and due dates.",
        (
            ("oauth", F, REQ),
            ("crm.objects.deals.read", F, REQ),
            ("automation", P, OPT),
            ("crm.objects.owners.read", S, OPT),
        ),
    ),
    ListingSpec(
        "inboxsync",
        "InboxSync for Mail",
        "Corvid Mail",
        "Productivity",
        USER,
        "Log emails from your mailbox to contacts and track opens and clicks.",
        (
            ("oauth", F, REQ),
            ("sales-email-read", P, REQ),
            ("crm.objects.contacts.write", F, REQ),
            ("timeline", F, REQ),
        ),
    ),
    # ---- Social Media (several external accounts each; the network manages the connections)
    ListingSpec(
        "chirp",
        "Chirp",
        "Chirp Social",
        "Social Media",
        MULTI,
        "Publish and schedule posts to your Chirp accounts and see replies next to the contact "
        "who wrote them.",
        (("oauth", F, REQ), ("social", F, REQ), ("crm.objects.contacts.read", F, OPT)),
    ),
    ListingSpec(
        "linkedup",
        "LinkedUp Pages",
        "LinkedUp",
        "Social Media",
        MULTI,
        "Post to your company pages on LinkedUp and report on follower growth.",
        (
            ("oauth", F, REQ),
            ("social", F, REQ),
            ("business-intelligence", P, OPT),
            ("crm.objects.companies.read", F, OPT),
        ),
    ),
    ListingSpec(
        "photogram",
        "Photogram for Business",
        "Photogram",
        "Social Media",
        MULTI,
        "Schedule photo and story posts to business accounts and capture leads from comments.",
        (("oauth", F, REQ), ("social", F, REQ), ("files", F, OPT)),
    ),
    ListingSpec(
        "clipstream",
        "ClipStream Channels",
        "ClipStream",
        "Social Media",
        MULTI,
        "Upload videos to your channels and see which viewers became contacts.",
        (("oauth", F, REQ), ("social", F, REQ), ("files", F, REQ)),
    ),
    # ---- Customer Service
    ListingSpec(
        "helpdesk-hero",
        "HelpDesk Hero",
        "Herodesk",
        "Customer Service",
        PORTAL,
        "Sync tickets with HelpDesk Hero and show each contact's open tickets on their record.",
        (
            ("oauth", F, REQ),
            ("tickets", S, REQ),
            ("crm.objects.contacts.read", F, REQ),
            ("conversations.read", S, OPT),
            ("timeline", F, OPT),
        ),
    ),
    ListingSpec(
        "chatwidget",
        "LiveChat Widget",
        "Widgetry",
        "Customer Service",
        PORTAL,
        "Add a chat bubble to your site; chats become conversations and visitors become contacts.",
        (
            ("oauth", F, REQ),
            ("conversations.read", S, REQ),
            ("conversations.write", P, OPT),
            ("conversations.visitor_identification.tokens.create", P, OPT),
            ("crm.objects.contacts.write", F, REQ),
        ),
    ),
    ListingSpec(
        "surveyspark",
        "SurveySpark NPS",
        "Sparkline Research",
        "Customer Service",
        PORTAL,
        "Send NPS and CSAT surveys after tickets close and store scores on the contact.",
        (
            ("oauth", F, REQ),
            ("crm.objects.contacts.read", F, REQ),
            ("timeline", F, REQ),
            ("tickets", S, OPT),
            ("forms", F, OPT),
        ),
    ),
    # ---- Analytics
    ListingSpec(
        "metricly",
        "Metricly Dashboards",
        "Metricly",
        "Analytics",
        PORTAL,
        "Revenue and funnel dashboards built from your deals and contacts, refreshed hourly.",
        # The optional ENTERPRISE scope is what makes the Acme install "upgrade available".
        (
            ("oauth", F, REQ),
            ("business-intelligence", P, REQ),
            ("crm.objects.deals.read", F, REQ),
            ("crm.objects.contacts.read", F, REQ),
            ("analytics.behavioral_events.send", E, OPT),
        ),
    ),
    ListingSpec(
        "attributionlab",
        "Attribution Lab",
        "Lumen Analytics",
        "Analytics",
        PORTAL,
        "Multi-touch attribution across ads, email and organic traffic.",
        (
            ("oauth", F, REQ),
            ("business-intelligence", P, REQ),
            ("marketing.campaigns.read", S, REQ),
            ("analytics.behavioral_events.send", E, OPT),
            ("crm.export", P, OPT),
        ),
    ),
    ListingSpec(
        "warehousesync",
        "Warehouse Sync",
        "Stackhaus",
        "Analytics",
        PORTAL,
        "Replicate CRM objects, custom objects and the audit log to your data warehouse "
        "every 15 minutes.",
        (
            ("oauth", F, REQ),
            ("crm.export", P, REQ),
            ("crm.schemas.custom.read", E, REQ),
            ("account-info.security.read", E, OPT),
        ),
    ),
    # ---- Finance
    ListingSpec(
        "ledgerlink",
        "LedgerLink Accounting",
        "Ledgerline",
        "Finance",
        PORTAL,
        "Create invoices from closed deals and show payment status on the company record.",
        (
            ("oauth", F, REQ),
            ("crm.objects.deals.read", F, REQ),
            ("crm.objects.invoices.read", S, REQ),
            ("crm.objects.companies.write", F, REQ),
            ("e-commerce", P, OPT),
        ),
    ),
    ListingSpec(
        "payport",
        "PayPort Payments",
        "PayPort",
        "Finance",
        PORTAL,
        "Take card and bank payments on quotes and invoices; payments close the deal "
        "automatically.",
        (
            ("oauth", F, REQ),
            ("crm.objects.deals.write", F, REQ),
            ("e-commerce", P, REQ),
            ("crm.objects.invoices.read", S, OPT),
        ),
    ),
)

ACADEMY = "https://academy.example/"
MANAGE_CONNECTIONS = "https://social.example/manage/"

# (title, path under ACADEMY, duration in seconds or None for an article, topic)
GENERAL_RESOURCES: tuple[tuple[str, str, int | None, str], ...] = (
    ("Connected apps: a five-minute tour", "connected-apps/tour", 312, "Getting started"),
    ("Installing your first app", "connected-apps/install-your-first-app", 428, "Getting started"),
    ("What app permissions (scopes) mean", "connected-apps/scopes", None, "Security"),
    (
        "Why an app shows Disconnected, and how to fix it",
        "connected-apps/troubleshooting-disconnected",
        None,
        "Troubleshooting",
    ),
    ("Setting up app notifications", "connected-apps/notifications", 255, "Notifications"),
    ("Reading the app log", "connected-apps/app-log", None, "Monitoring"),
)
# (listing slug, title, path under ACADEMY, duration or None, topic)
LISTING_RESOURCES: tuple[tuple[str, str, str, int | None, str], ...] = (
    ("contactsync", "ContactSync: mapping fields", "apps/contactsync/field-mapping", 540, "Setup"),
    (
        "contactsync",
        "ContactSync: resolving sync conflicts",
        "apps/contactsync/conflicts",
        None,
        "Troubleshooting",
    ),
    (
        "mailmerge-pro",
        "Your first MailMerge Pro newsletter",
        "apps/mailmerge-pro/first-newsletter",
        615,
        "Getting started",
    ),
    (
        "helpdesk-hero",
        "HelpDesk Hero ticket sync explained",
        "apps/helpdesk-hero/ticket-sync",
        380,
        "Setup",
    ),
    (
        "helpdesk-hero",
        "When HelpDesk Hero stops syncing",
        "apps/helpdesk-hero/sync-errors",
        None,
        "Troubleshooting",
    ),
    (
        "meetslot",
        "Booking links for your whole team",
        "apps/meetslot/team-links",
        295,
        "Getting started",
    ),
    ("chirp", "Connecting several Chirp accounts", "apps/chirp/multiple-accounts", None, "Setup"),
    ("quotely", "Quotely: from deal to signed quote", "apps/quotely/deal-to-quote", 702, "Sales"),
    (
        "metricly",
        "Metricly dashboards for revenue teams",
        "apps/metricly/revenue-dashboards",
        488,
        "Reporting",
    ),
    (
        "teamchat",
        "TeamChat notifications that people read",
        "apps/teamchat/notifications",
        None,
        "Setup",
    ),
)


# --------------------------------------------------------------------------------------------
# Portals, people, installed apps, rules
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserSpec:
    name: str
    email: str
    is_super_admin: bool = False
    can_manage_apps: bool = False


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
        UserSpec("Morgan Manager", MANAGER_EMAIL, can_manage_apps=True),
        UserSpec("Casey Member", MEMBER_EMAIL),
        UserSpec("Riley Member", MEMBER2_EMAIL),
        UserSpec("Jordan Lee", "jordan@demo.example"),
        UserSpec("Taylor Brooks", "taylor@demo.example"),
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


# --------------------------------------------------------------------------------------------
# The description handed back
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoData:
    """What `seed_demo` wrote (or found), for tests, the CLI and the docs.

    Fields:
    - anchor: the time everything is relative to (UTC, whole seconds); every Acme log entry
      lies in [anchor - 120 days, anchor), and every rule's cut is the anchor.
    - acme_portal_id / globex_portal_id: Portal primary keys.
    - user_ids: User primary key by email, for both portals (emails differ between portals).
    - team_ids: Team primary key by name (Acme's teams: "Sales", "Marketing Ops").
    - listing_ids: MarketplaceListing primary key by slug, for the demo catalogue.
    - app_ids: Acme's ConnectedApp primary key by listing slug, the uninstalled app included.
    - globex_app_ids: Globex's ConnectedApp primary key by listing slug.
    - rule_ids / globex_rule_ids: NotificationRule primary key by rule name, per portal.
    - disconnected_slug: an Acme PORTAL app marked disconnected (status DISCONNECTED).
    - error_slug: an Acme app with an open alert and a clear mark (status ERROR).
    - user_level_slug: an Acme USER app with several connections by different users; its
      installed_by is the first connector, whose connection is the oldest.
    - multi_account_slug: an Acme MULTI_ACCOUNT app (status null) with several external
      accounts and a manage-connections link.
    - needs_reauth_slug: an Acme app with a requested scope within the tier left ungranted
      (NEEDS_REAUTHORIZATION, updateAvailable).
    - needs_upgrade_slug: an Acme app whose listing requests an optional ENTERPRISE scope
      (NEEDS_UPGRADE, upgradeAvailable).
    - uninstalled_slug: a listing Acme uninstalled (uninstalled_at set, history INSTALLED …
      UNINSTALLED, no connections or grants); installable again, which would be a REINSTALLED.
    - reinstalled_slug: an Acme app uninstalled and reinstalled once; installed_at and
      installed_by are still the first install's.
    """

    anchor: datetime
    acme_portal_id: int
    globex_portal_id: int
    user_ids: dict[str, int]
    team_ids: dict[str, int]
    listing_ids: dict[str, int]
    app_ids: dict[str, int]
    globex_app_ids: dict[str, int]
    rule_ids: dict[str, int]
    globex_rule_ids: dict[str, int]
    disconnected_slug: str = DISCONNECTED_SLUG
    error_slug: str = ERROR_SLUG
    user_level_slug: str = USER_LEVEL_SLUG
    multi_account_slug: str = MULTI_ACCOUNT_SLUG
    needs_reauth_slug: str = NEEDS_REAUTH_SLUG
    needs_upgrade_slug: str = NEEDS_UPGRADE_SLUG
    uninstalled_slug: str = UNINSTALLED_SLUG
    reinstalled_slug: str = REINSTALLED_SLUG


# --------------------------------------------------------------------------------------------
# Seeding
# --------------------------------------------------------------------------------------------

# Serializes concurrent seeders on PostgreSQL (e.g. two processes starting with --demo), so the
# "does Acme exist?" check and the writes are one step. SQLite serializes writers itself.
_ADVISORY_LOCK_KEY = 7_361_002_611


async def seed_demo(anchor: datetime | None = None) -> DemoData:
    """Write the demo data once, at `anchor` (default: now, UTC, whole seconds).

    When "Acme Demo" exists already nothing is written, and the description of the existing
    data is returned (with the anchor it was seeded at, whatever `anchor` says now).
    """
    anchor = _normalize_anchor(anchor)
    async with in_transaction() as conn:
        if conn.capabilities.dialect == "postgres":
            await conn.execute_query("SELECT pg_advisory_xact_lock($1)", [_ADVISORY_LOCK_KEY])
        if not await Portal.exists(name=ACME_NAME):
            listings = await _seed_catalogue(anchor)
            for spec in (ACME, GLOBEX):
                await _PortalSeeder(spec, anchor, listings).run()
        return await _describe()


def _normalize_anchor(anchor: datetime | None) -> datetime:
    if anchor is None:
        anchor = datetime.now(UTC)
    if anchor.tzinfo is None:
        raise ValueError("the demo anchor must be timezone-aware")
    return anchor.astimezone(UTC).replace(microsecond=0)


def _rng(*label: object) -> random.Random:
    # One generator per purpose, seeded from SEED and a label: editing one app's spec does not
    # reshuffle every other app's history. (String seeds are hashed with SHA-512, so they do
    # not depend on PYTHONHASHSEED.)
    return random.Random("/".join(str(part) for part in (SEED, *label)))


async def _seed_catalogue(anchor: datetime) -> dict[str, MarketplaceListing]:
    """Create the listings, their scopes and the learning resources; reuse existing slugs.

    The catalogue is global, so a listing with one of our slugs may exist already (added by
    an operator or the platform): it is kept as it is rather than duplicated.
    """
    existing = {
        listing.slug: listing
        for listing in await MarketplaceListing.filter(slug__in=[spec.slug for spec in LISTINGS])
    }
    listed_at = anchor - timedelta(days=700)
    listings: dict[str, MarketplaceListing] = {}
    new_scopes: list[ListingScope] = []
    for index, spec in enumerate(LISTINGS):
        if spec.slug in existing:
            listings[spec.slug] = existing[spec.slug]
            continue
        listing = await MarketplaceListing.create(
            slug=spec.slug,
            name=spec.name,
            sort_name=spec.name.lower(),
            vendor=spec.vendor,
            category=spec.category,
            description=spec.description,
            install_level=spec.install_level,
            manage_connections_url=(
                MANAGE_CONNECTIONS + spec.slug if spec.install_level is MULTI else None
            ),
            created_at=listed_at + timedelta(days=7 * index),
        )
        listings[spec.slug] = listing
        new_scopes.extend(
            ListingScope(
                listing_id=listing.id,
                name=name,
                description=SCOPE_DESCRIPTIONS[name],
                required_tier=tier,
                required=required,
                position=position,
            )
            for position, (name, tier, required) in enumerate(spec.scopes)
        )
    await ListingScope.bulk_create(new_scopes)

    # Resources are known by their url: the ones already there are not added twice.
    known_urls = set(await LearningResource.all().values_list("url", flat=True))
    resources = [
        LearningResource(
            listing_id=None,
            title=title,
            url=ACADEMY + path,
            duration_seconds=duration,
            topic=topic,
            position=position,
        )
        for position, (title, path, duration, topic) in enumerate(GENERAL_RESOURCES)
    ]
    positions: dict[str, int] = {}  # each listing's resources are numbered from 0
    for slug, title, path, duration, topic in LISTING_RESOURCES:
        positions[slug] = position = positions.get(slug, -1) + 1
        resources.append(
            LearningResource(
                listing_id=listings[slug].id,
                title=title,
                url=ACADEMY + path,
                duration_seconds=duration,
                topic=topic,
                position=position,
            )
        )
    await LearningResource.bulk_create(r for r in resources if r.url not in known_urls)
    return listings


@dataclass
class _Entry:
    """A log entry before it is written (the id is filled in after the bulk insert)."""

    app_slug: str
    activity: AppActivity
    at: datetime
    user_email: str | None
    id: int | None = None


@dataclass
class _PortalSeeder:
    """Seeds one portal from its spec. Kept as an object only to share the lookups it builds."""

    spec: PortalSpec
    anchor: datetime
    listings: dict[str, MarketplaceListing]
    portal: Portal | None = None
    users: dict[str, User] = field(default_factory=dict)
    teams: dict[str, Team] = field(default_factory=dict)
    team_members: dict[str, tuple[str, ...]] = field(default_factory=dict)
    apps: dict[str, ConnectedApp] = field(default_factory=dict)
    entries: list[_Entry] = field(default_factory=list)
    # Seconds already taken by a log entry of this portal: no two entries share an occurredAt,
    # so "newest first" is the same order whichever tie-breaker a reader uses.
    taken: set[int] = field(default_factory=set)

    async def run(self) -> None:
        await self._people()
        for app_spec in self.spec.apps:
            await self._app(app_spec)
        await self._log()
        for rule_spec in self.spec.rules:
            await self._rule(rule_spec)

    # ---- people

    async def _people(self) -> None:
        created = self.anchor - self.spec.age
        self.portal = await Portal.create(
            name=self.spec.name,
            tier=self.spec.tier,
            timezone=self.spec.timezone,
            created_at=created,
        )
        for index, user in enumerate(self.spec.users):
            self.users[user.email] = await User.create(
                portal_id=self.portal.id,
                name=user.name,
                sort_name=user.name.lower(),
                email=user.email,
                is_super_admin=user.is_super_admin,
                can_manage_apps=user.can_manage_apps,
                created_at=created + timedelta(days=3 * index, hours=2),
            )
        memberships = []
        for index, (name, emails) in enumerate(self.spec.teams):
            team = await Team.create(
                portal_id=self.portal.id,
                name=name,
                sort_name=name.lower(),
                created_at=created + timedelta(days=30 + index),
            )
            self.teams[name] = team
            self.team_members[name] = emails
            memberships += [
                TeamMembership(team_id=team.id, user_id=self.users[e].id) for e in emails
            ]
        await TeamMembership.bulk_create(memberships)

    def _user_id(self, email: str | None) -> int | None:
        return None if email is None else self.users[email].id

    # ---- apps

    async def _app(self, spec: AppSpec) -> None:
        assert self.portal is not None
        rng = _rng(self.spec.name, spec.slug)
        listing_spec = _LISTING_SPECS[spec.slug]
        listing = self.listings[spec.slug]
        installed_at = self._take(self.anchor - timedelta(days=spec.installed_days_ago))

        history = self._history(spec, rng, installed_at)
        self.entries += history
        marks = [e for e in history if e.activity in _MARKS]
        last_install = [e for e in history if e.activity in _INSTALLS][-1]
        uninstalled = spec.final == "uninstalled"

        app = await ConnectedApp.create(
            portal_id=self.portal.id,
            listing_id=listing.id,
            name=listing_spec.name,
            sort_name=listing_spec.name.lower(),
            install_level=listing_spec.install_level,
            installed_at=installed_at,
            installed_by_id=self._user_id(spec.installer),
            uninstalled_at=history[-1].at if uninstalled else None,
            disconnected=spec.final == "disconnected",
            mark_changed_at=marks[-1].at if marks else None,
        )
        self.apps[spec.slug] = app
        if uninstalled:
            return  # an uninstalled app keeps its history only: no connections, grants, alerts

        # The first connection is the one that (re)installed the app; later ones are not logged.
        if spec.connections:
            assert last_install.user_email == spec.connections[0][0], spec.slug
            later = self._times(rng, len(spec.connections) - 1, last_install.at, self.anchor)
            await AppConnection.bulk_create(
                AppConnection(
                    app_id=app.id,
                    user_id=self._user_id(email),
                    account_name=account,
                    connected_at=at,
                    key=AppConnection.key_for(self._user_id(email), account),
                )
                for (email, account), at in zip(
                    spec.connections, [last_install.at, *later], strict=False
                )
            )

        # A (re)install grants afresh every requested scope the tier allows.
        await GrantedScope.bulk_create(
            GrantedScope(app_id=app.id, name=name, granted_at=last_install.at)
            for name, tier, _required in listing_spec.scopes
            if within_tier(tier, self.spec.tier) and name not in spec.ungranted
        )

        alerts = []
        for alert in spec.resolved_alerts:
            span = self.anchor - timedelta(days=3) - installed_at
            raised = _second(installed_at + span * rng.random())
            resolved = raised + timedelta(seconds=rng.randint(20 * 60, 2 * 86400))
            alerts.append(
                AppAlert(
                    app_id=app.id,
                    severity=alert.severity,
                    code=alert.code,
                    message=alert.message,
                    raised_at=raised,
                    resolved_at=resolved,
                    changed_at=resolved,
                )
            )
        if spec.open_alert is not None:
            raised = self.anchor - timedelta(seconds=rng.randint(2 * 3600, 30 * 3600))
            alerts.append(
                AppAlert(
                    app_id=app.id,
                    severity=spec.open_alert.severity,
                    code=spec.open_alert.code,
                    message=spec.open_alert.message,
                    raised_at=raised,
                    resolved_at=None,
                    changed_at=raised,
                )
            )
        await AppAlert.bulk_create(alerts)

    def _history(self, spec: AppSpec, rng: random.Random, installed_at: datetime) -> list[_Entry]:
        """The app's log, oldest first, consistent with the final state the spec asks for."""
        activities: list[AppActivity] = []
        segments = spec.cycles + 1
        for index in range(segments):
            last = index == segments - 1
            size = spec.events // segments + (spec.events % segments if last else 0)
            # Uninstalls happen with the mark clear, so the mark alternates over the whole log.
            activities += _flaps(rng, size, end_disconnected=last and spec.final == "disconnected")
            if not last:
                activities += [AppActivity.UNINSTALLED, AppActivity.REINSTALLED]
        if spec.final == "uninstalled":
            activities.append(AppActivity.UNINSTALLED)

        if spec.final == "uninstalled":
            assert spec.uninstalled_days_ago is not None
            end = self._take(self.anchor - timedelta(days=spec.uninstalled_days_ago))
            times = [*self._times(rng, len(activities) - 1, installed_at, end, log=True), end]
        else:
            end = self.anchor - QUIET_BEFORE_ANCHOR
            times = self._times(rng, len(activities), installed_at, end, log=True)

        history = [_Entry(spec.slug, AppActivity.INSTALLED, installed_at, spec.installer)]
        last_reinstall = max(
            (i for i, a in enumerate(activities) if a is AppActivity.REINSTALLED), default=None
        )
        for index, (activity, at) in enumerate(zip(activities, times, strict=False)):
            user = self._actor(spec, rng, activity, last_reinstall=index == last_reinstall)
            history.append(_Entry(spec.slug, activity, at, user))
        return history

    def _actor(
        self, spec: AppSpec, rng: random.Random, activity: AppActivity, last_reinstall: bool
    ) -> str | None:
        """Who an entry names: nobody for what the platform reports, else someone allowed."""
        if activity is AppActivity.DISCONNECTED:
            return None
        if activity is AppActivity.RECONNECTED:
            return rng.choice(spec.actors) if rng.random() < RECONNECTED_BY_PERSON else None
        if activity is AppActivity.REAUTHORIZED:
            # Reauthorizing needs app-management rights, whoever else uses the app.
            managers = [email for email, user in self.users.items() if user.can_manage]
            return rng.choice([a for a in spec.actors if a in managers] or managers)
        if last_reinstall and spec.connections:
            return spec.connections[0][0]  # the reinstall is the oldest current connection
        return rng.choice(spec.actors)

    # ---- times

    def _take(self, at: datetime) -> datetime:
        """`at` to the second, moved forward to the first second no entry of the portal has."""
        second = int(at.timestamp())
        while second in self.taken:
            second += 1
        self.taken.add(second)
        return datetime.fromtimestamp(second, UTC)

    def _times(
        self, rng: random.Random, count: int, after: datetime, before: datetime, log: bool = False
    ) -> list[datetime]:
        """`count` distinct whole seconds strictly between `after` and `before`, ascending.

        With `log`, the seconds are also distinct from every other log entry of the portal.
        """
        low, high = int(after.timestamp()) + 1, int(before.timestamp())
        picked = sorted(rng.sample(range(low, high), count))
        if not log:
            return [datetime.fromtimestamp(s, UTC) for s in picked]
        out = []
        for second in picked:
            while second in self.taken or second >= high:
                second = second + 1 if second + 1 < high else low + rng.randrange(high - low)
            self.taken.add(second)
            out.append(datetime.fromtimestamp(second, UTC))
        return sorted(out)

    # ---- the log

    async def _log(self) -> None:
        assert self.portal is not None
        # Inserted oldest first, so ids grow with occurredAt as they would have in real life.
        self.entries.sort(key=lambda e: e.at)
        await AppLogEntry.bulk_create(
            AppLogEntry(
                portal_id=self.portal.id,
                app_id=self.apps[e.app_slug].id,
                user_id=self._user_id(e.user_email),
                activity=e.activity,
                occurred_at=e.at,
                recorded_at=e.at,
            )
            for e in self.entries
        )
        # bulk_create does not return ids; occurredAt is unique within the portal.
        rows = AppLogEntry.filter(portal_id=self.portal.id).values_list("id", "occurred_at")
        ids = {at: pk for pk, at in await rows}
        for entry in self.entries:
            entry.id = ids[entry.at]

    # ---- rules and digests

    async def _rule(self, spec: RuleSpec) -> None:
        assert self.portal is not None
        created = self.anchor - timedelta(days=spec.created_days_ago)
        rule = await NotificationRule.create(
            portal_id=self.portal.id,
            name=spec.name,
            sort_name=spec.name.lower(),
            type=spec.type,
            frequency=spec.frequency,
            all_apps=not spec.app_slugs,
            audience=spec.audience,
            email=spec.email,
            in_app=spec.in_app,
            created_by_id=self._admin_id(),
            created_at=created,
            updated_at=self.anchor - timedelta(days=spec.updated_days_ago),
            # A digest worker started at the anchor has nothing old to send.
            cut_at=self.anchor,
        )
        await RuleApp.bulk_create(
            RuleApp(rule_id=rule.id, app_id=self.apps[slug].id) for slug in spec.app_slugs
        )
        await RuleUser.bulk_create(
            RuleUser(rule_id=rule.id, user_id=self.users[email].id) for email in spec.user_emails
        )
        await RuleTeam.bulk_create(
            RuleTeam(rule_id=rule.id, team_id=self.teams[name].id) for name in spec.team_names
        )
        if spec.in_app and spec.inbox_periods:
            await self._digests(spec, rule, created)

    def _admin_id(self) -> int:
        return next(self.users[u.email].id for u in self.spec.users if u.is_super_admin)

    async def _digests(
        self, spec: RuleSpec, rule: NotificationRule, rule_created: datetime
    ) -> None:
        """The newest past periods with matching entries, one digest per recipient each."""
        assert self.portal is not None
        activities = ACTIVITIES_BY_TYPE[spec.type]
        by_period: dict[tuple[datetime, datetime], list[_Entry]] = {}
        for entry in self.entries:
            if entry.activity not in activities:
                continue
            if spec.app_slugs and entry.app_slug not in spec.app_slugs:
                continue
            start, end = period_containing(spec.frequency, self.spec.timezone, entry.at)
            # Only periods the rule existed for, over early enough for a digest before the anchor.
            if start >= rule_created and end + timedelta(minutes=5) <= self.anchor:
                by_period.setdefault((start, end), []).append(entry)
        periods = sorted(by_period)[-spec.inbox_periods :]

        rng = _rng(self.spec.name, "digests", spec.name)
        # Who the digest worker would notify: the rule's targets are written by now.
        recipient_ids = await recipients(rule)
        notification_entries: list[NotificationEntry] = []
        deliveries: list[Delivery] = []
        for index, (start, end) in enumerate(periods):
            # The newest entries, as many as the digest worker keeps.
            covered = sorted(by_period[(start, end)], key=lambda e: e.at, reverse=True)
            entries = covered[:MAX_ENTRIES]
            created = end + timedelta(seconds=rng.randint(20, 240))
            unread = index >= len(periods) - spec.unread
            for user_id in recipient_ids:
                read_at = None
                if not unread:
                    latest = min(created + timedelta(hours=20), self.anchor - timedelta(minutes=1))
                    read_at = _second(created + (latest - created) * rng.uniform(0.05, 1.0))
                notification = await Notification.create(
                    portal_id=self.portal.id,
                    recipient_id=user_id,
                    rule_id=rule.id,
                    type=spec.type,
                    period_start=start,
                    period_end=end,
                    entry_count=len(covered),
                    in_app=True,
                    read_at=read_at,
                    created_at=created,
                    cut_at=start,
                )
                notification_entries += [
                    NotificationEntry(notification_id=notification.id, entry_id=entry.id)
                    for entry in entries
                ]
                if spec.email:
                    # The email went out right away and the SMTP server accepted it.
                    deliveries.append(
                        Delivery(
                            portal_id=self.portal.id,
                            notification_id=notification.id,
                            recipient_id=user_id,
                            channel=NotificationChannel.EMAIL,
                            status=DeliveryStatus.SENT,
                            attempts=1,
                            next_attempt_at=None,
                            last_error=None,
                            sent_at=created + timedelta(seconds=4),
                            created_at=created,
                        )
                    )
        await NotificationEntry.bulk_create(notification_entries)
        await Delivery.bulk_create(deliveries)


_LISTING_SPECS = {spec.slug: spec for spec in LISTINGS}
_MARKS = (AppActivity.DISCONNECTED, AppActivity.RECONNECTED)
_INSTALLS = (AppActivity.INSTALLED, AppActivity.REINSTALLED)


def _flaps(rng: random.Random, count: int, end_disconnected: bool) -> list[AppActivity]:
    """About `count` mark changes and reauthorizations, starting with the mark clear.

    DISCONNECTED and RECONNECTED alternate; the result ends with the mark set exactly when
    `end_disconnected` (one more entry is added when needed).
    """
    out: list[AppActivity] = []
    disconnected = False
    while len(out) < count:
        if disconnected:
            out.append(AppActivity.RECONNECTED)
            disconnected = False
        elif rng.random() < REAUTHORIZE_SHARE:
            out.append(AppActivity.REAUTHORIZED)
        else:
            out.append(AppActivity.DISCONNECTED)
            disconnected = True
    if disconnected != end_disconnected:
        out.append(AppActivity.RECONNECTED if disconnected else AppActivity.DISCONNECTED)
    return out


def _second(at: datetime) -> datetime:
    return at.replace(microsecond=0)


async def _describe() -> DemoData:
    """Read back the ids the description needs (the same for a fresh seed and a re-run)."""
    acme = await Portal.filter(name=ACME_NAME).order_by("id").first()
    globex = await Portal.filter(name=GLOBEX_NAME).order_by("id").first()
    if acme is None or globex is None:
        raise RuntimeError("the demo portals are incomplete: 'Acme Demo' or 'Globex' is missing")
    portal_ids = [acme.id, globex.id]

    async def apps_of(portal_id: int) -> dict[str, int]:
        rows = ConnectedApp.filter(portal_id=portal_id).order_by("id")
        return dict(await rows.values_list("listing__slug", "id"))

    async def rules_of(portal_id: int) -> dict[str, int]:
        rows = NotificationRule.filter(portal_id=portal_id).order_by("id")
        return dict(await rows.values_list("name", "id"))

    return DemoData(
        anchor=acme.created_at.astimezone(UTC) + ACME_AGE,
        acme_portal_id=acme.id,
        globex_portal_id=globex.id,
        user_ids=dict(
            await User.filter(portal_id__in=portal_ids).order_by("id").values_list("email", "id")
        ),
        team_ids=dict(
            await Team.filter(portal_id=acme.id).order_by("id").values_list("name", "id")
        ),
        listing_ids=dict(
            await MarketplaceListing.filter(slug__in=list(_LISTING_SPECS))
            .order_by("id")
            .values_list("slug", "id")
        ),
        app_ids=await apps_of(acme.id),
        globex_app_ids=await apps_of(globex.id),
        rule_ids=await rules_of(acme.id),
        globex_rule_ids=await rules_of(globex.id),
    )
