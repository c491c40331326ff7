"""Seeding: `seed_demo(anchor)` writes the demo catalogue and portals straight through the
models, in one transaction. It is

- idempotent: when a portal named "Acme Demo" exists it writes nothing and describes what is
  there (the anchor of that first seed included);
- deterministic: every random choice comes from `random.Random` seeded with `SEED` plus a fixed
  label, and every time is an offset from `anchor`, so one anchor gives the same rows (and, on
  an empty database, the same ids: the insertion order is fixed).

Everything here must stay consistent with DESIGN §1, because the console derives statuses, scope
states and histories from these rows; the rules themselves (periods, recipients, what a digest
keeps, who may manage apps, which scopes a tier allows) are the services' own:
- each app's log starts with INSTALLED at `installed_at`, DISCONNECTED/RECONNECTED alternate,
  UNINSTALLED is only ever followed by REINSTALLED, and the final mark matches `disconnected`;
- installed apps hold a grant for every requested scope within the portal's tier (except the
  ones an app spec leaves out on purpose), and no installed listing has a *required* scope
  above its portal's tier (such an install would have been refused);
- each INSTALLED/REINSTALLED entry's scope changes add those grants and each UNINSTALLED
  entry's remove them (REAUTHORIZED entries carry none: no demo grant came from one); one
  listing's change of request is a SCOPES_CHANGED entry on each app of it installed then;
- digests in the inboxes cover exactly the matching entries of their period.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tortoise.transactions import in_transaction

from gateway.demo.catalogue import (
    ACADEMY,
    GENERAL_RESOURCES,
    LISTING_RESOURCES,
    LISTINGS,
    MANAGE_CONNECTIONS,
    MULTI,
    SCOPE_DESCRIPTIONS,
)
from gateway.demo.portals import (
    ACME,
    ACME_AGE,
    ACME_NAME,
    DISCONNECTED_SLUG,
    ERROR_SLUG,
    GLOBEX,
    GLOBEX_NAME,
    LISTING_CHANGE_ADDED,
    LISTING_CHANGE_BEFORE_ANCHOR,
    LISTING_CHANGE_SLUG,
    MULTI_ACCOUNT_SLUG,
    NEEDS_REAUTH_SLUG,
    NEEDS_UPGRADE_SLUG,
    QUIET_BEFORE_ANCHOR,
    REAUTHORIZE_SHARE,
    RECONNECTED_BY_PERSON,
    REINSTALLED_SLUG,
    UNINSTALLED_SLUG,
    USER_LEVEL_SLUG,
    AppSpec,
    PortalSpec,
    RuleSpec,
)
from gateway.demo.requests import seed_requests
from gateway.demo.usage import LAPSED_SLUG, NEVER_USED_SLUG, usage_days
from gateway.models import (
    AppAlert,
    AppConnection,
    AppLogEntry,
    AppUsageDay,
    ConnectedApp,
    Delivery,
    GrantedScope,
    LearningResource,
    ListingScope,
    LoggedAlert,
    LoggedScopeChange,
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
    AppActivity,
    DeliveryStatus,
    NotificationChannel,
    Permission,
)
from gateway.models.sorting import sort_key
from gateway.services.apps import within_tier
from gateway.services.digests import MAX_ENTRIES, recipients
from gateway.services.periods import period_containing

# Changing the seed (or any table in catalogue.py or portals.py) changes the demo; tests pin an
# anchor, not the rows.
SEED = 20261101


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
    - never_used_slug: an Acme app installed over 90 days before the anchor with no usage
      reported; lapsed_slug: one used only in its first weeks, not for over 90 days. Both are
      what `unusedForDays: 90` lists; every other app reports calls on every day it was
      installed up to the day before the anchor (gateway/demo/usage.py).
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
    never_used_slug: str = NEVER_USED_SLUG
    lapsed_slug: str = LAPSED_SLUG


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
            sort_name=sort_key(spec.name),
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
    # ERROR_RAISED and ERROR_RESOLVED: the alert, whose reason the entry keeps.
    alert: AppAlert | None = None
    # What the entry's change granted and revoked, kept with it (LoggedScopeChange).
    scopes: tuple[list[str], list[str]] | None = None


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
        await self._usage()
        for rule_spec in self.spec.rules:
            await self._rule(rule_spec)
        if self.spec is ACME:
            assert self.portal is not None
            await seed_requests(self.portal, self.users, self.listings, self.anchor)

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
                sort_name=sort_key(user.name),
                email=user.email,
                is_super_admin=user.is_super_admin,
                install_apps=Permission.INSTALL_APPS in user.permissions,
                approve_scopes=Permission.APPROVE_SCOPES in user.permissions,
                uninstall_apps=Permission.UNINSTALL_APPS in user.permissions,
                manage_notifications=Permission.MANAGE_NOTIFICATIONS in user.permissions,
                created_at=created + timedelta(days=3 * index, hours=2),
            )
        memberships = []
        for index, (name, emails) in enumerate(self.spec.teams):
            team = await Team.create(
                portal_id=self.portal.id,
                name=name,
                sort_name=sort_key(name),
                created_at=created + timedelta(days=30 + index),
            )
            self.teams[name] = team
            self.team_members[name] = emails
            memberships += [
                TeamMembership(team_id=team.id, user_id=self.users[e].id) for e in emails
            ]
        await TeamMembership.bulk_create(memberships)

    # ---- usage

    async def _usage(self) -> None:
        """Each app's reported days while it was installed (gateway/demo/usage.py)."""
        rows: list[AppUsageDay] = []
        for spec in self.spec.apps:
            app = self.apps[spec.slug]
            periods: list[tuple[datetime, datetime | None]] = []
            for entry in sorted(
                (e for e in self.entries if e.app_slug == spec.slug), key=lambda e: e.at
            ):
                if entry.activity in _INSTALLS:
                    periods.append((entry.at, None))
                elif entry.activity is AppActivity.UNINSTALLED:
                    periods[-1] = (periods[-1][0], entry.at)
            rows += usage_days(
                _rng(self.spec.name, spec.slug, "usage"),
                self.spec.name,
                spec.slug,
                app.id,
                app.install_level,
                periods,
                self.anchor,
                error_prone=spec.open_alert is not None,
            )
        await AppUsageDay.bulk_create(rows)

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
            sort_name=sort_key(listing_spec.name),
            install_level=listing_spec.install_level,
            installed_at=installed_at,
            installed_by_id=self._user_id(spec.installer),
            uninstalled_at=history[-1].at if uninstalled else None,
            disconnected=spec.final == "disconnected",
            mark_changed_at=marks[-1].at if marks else None,
        )
        self.apps[spec.slug] = app
        # A (re)install grants afresh every requested scope the tier allows (but the ones left
        # out on purpose); an uninstall revokes them. So each install entry tells those grants,
        # each uninstall the same names revoked, and a reinstall takes back all it had.
        granted = [
            name
            for name, tier, _required in listing_spec.scopes
            if within_tier(tier, self.spec.tier) and name not in spec.ungranted
        ]
        for entry in history:
            if entry.activity in _INSTALLS:
                entry.scopes = (granted, [])
            elif entry.activity is AppActivity.UNINSTALLED:
                entry.scopes = ([], sorted(granted))
        if spec.slug == LISTING_CHANGE_SLUG:
            self._listing_changed(spec, history)
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

        await GrantedScope.bulk_create(
            GrantedScope(app_id=app.id, name=name, granted_at=last_install.at) for name in granted
        )

        # Each alert's raising (and resolution) is in the log, as ingestion writes it.
        for alert in spec.resolved_alerts:
            span = self.anchor - timedelta(days=3) - installed_at
            raised = self._take(installed_at + span * rng.random())
            resolved = self._take(raised + timedelta(seconds=rng.randint(20 * 60, 2 * 86400)))
            row = await AppAlert.create(
                app_id=app.id,
                severity=alert.severity,
                code=alert.code,
                message=alert.message,
                raised_at=raised,
                resolved_at=resolved,
                changed_at=resolved,
            )
            self.entries += [
                _Entry(spec.slug, AppActivity.ERROR_RAISED, raised, None, alert=row),
                _Entry(spec.slug, AppActivity.ERROR_RESOLVED, resolved, None, alert=row),
            ]
        if spec.open_alert is not None:
            raised = self._take(self.anchor - timedelta(seconds=rng.randint(2 * 3600, 30 * 3600)))
            row = await AppAlert.create(
                app_id=app.id,
                severity=spec.open_alert.severity,
                code=spec.open_alert.code,
                message=spec.open_alert.message,
                raised_at=raised,
                resolved_at=None,
                changed_at=raised,
            )
            self.entries.append(
                _Entry(spec.slug, AppActivity.ERROR_RAISED, raised, None, alert=row)
            )

    def _listing_changed(self, spec: AppSpec, history: list[_Entry]) -> None:
        """The listing's change of request, on this app if it was installed then: a
        SCOPES_CHANGED entry by no one, with the names it started requesting."""
        at = self.anchor - LISTING_CHANGE_BEFORE_ANCHOR
        before = [e for e in history if e.at < at]
        if before and before[-1].activity is not AppActivity.UNINSTALLED:
            added = list(LISTING_CHANGE_ADDED)
            self.entries.append(
                _Entry(
                    spec.slug, AppActivity.SCOPES_CHANGED, self._take(at), None, scopes=(added, [])
                )
            )

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
            # Reauthorizing needs its permission, whoever else uses the app.
            managers = [email for email, user in self.users.items() if user.can_approve]
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
        await LoggedAlert.bulk_create(
            LoggedAlert(
                entry_id=e.id,
                alert_id=e.alert.id,
                severity=e.alert.severity,
                code=e.alert.code,
                message=e.alert.message,
            )
            for e in self.entries
            if e.alert is not None
        )
        await LoggedScopeChange.bulk_create(
            LoggedScopeChange(entry_id=e.id, added=e.scopes[0], removed=e.scopes[1])
            for e in self.entries
            if e.scopes is not None
        )

    # ---- rules and digests

    async def _rule(self, spec: RuleSpec) -> None:
        assert self.portal is not None
        created = self.anchor - timedelta(days=spec.created_days_ago)
        rule = await NotificationRule.create(
            portal_id=self.portal.id,
            name=spec.name,
            sort_name=sort_key(spec.name),
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
