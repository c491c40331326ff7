"""The demo catalogue: marketplace listings, their scopes and the learning resources (global:
the same for every portal). Changing a table here changes the demo."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.models.enums import InstallLevel, SubscriptionTier

F, S, P, E = (
    SubscriptionTier.FREE,
    SubscriptionTier.STARTER,
    SubscriptionTier.PROFESSIONAL,
    SubscriptionTier.ENTERPRISE,
)
REQ, OPT = True, False
PORTAL, USER, MULTI = InstallLevel.PORTAL, InstallLevel.USER, InstallLevel.MULTI_ACCOUNT


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
