"""Notification rules from the console: create, update, delete (DESIGN §1 "Notification rules").

Only super admins write rules. Every problem of a request is reported at once: first what the
input says by itself (the name, the ids, the channels), then what the whole rule would be (the
update merged into the current rule). The name is unique per portal without regard to case
(`sort_name`); the check reads first for a clear answer, and the unique key settles a race.

Decisions the API documents in its input descriptions:
- `allApps: true` takes no apps (`appIds` left out or empty); `allApps: false` needs at least one.
  Apps are this portal's ConnectedApps, uninstalled ones included: an uninstalled app still
  exists, can be reinstalled, and a REINSTALLED entry is what an APP_INSTALL rule reports.
- Only a SPECIFIC audience takes users and teams, and it needs at least one of them.
- An update keeps what it leaves out. When it moves `allApps` to true or the audience away from
  SPECIFIC, the apps, or the users and teams, are cleared, unless it names some (then INVALID).
- An edit never moves the cut (`cut_at`): it changes only what later digests match. `updatedAt`
  moves when something actually changed.
- WEBHOOK and SLACK (DESIGN §6 "More channels") are on exactly when their URL is set: a URL
  given turns its channel on; `channels` naming WEBHOOK (SLACK) needs `webhookUrl`
  (`slackWebhookUrl`), now or already; `channels` leaving it out, or an empty URL, removes the
  URL. A URL is checked when given (gateway/services/webhooks.py: https, every address it
  resolves to public). A rule whose only channels are WEBHOOK/SLACK needs no audience: SPECIFIC
  with nobody is accepted then.
- The webhook's signing secret is made when a save gives the rule its first webhook URL and is
  returned by that save only (and by `rotate_secret`); removing the URL drops it, so a later
  URL gets a new one. It is stored encrypted (gateway/services/secrets.py); without a key that
  save is INVALID.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from tortoise.models import Model
from tortoise.transactions import in_transaction

from gateway import models as m
from gateway.models.enums import (
    URL_CHANNELS,
    NotificationAudience,
    NotificationChannel,
    NotificationFrequency,
    NotificationType,
    Permission,
)
from gateway.models.sorting import sort_key
from gateway.services import secrets, text, webhooks
from gateway.services.access import require
from gateway.services.faults import pause_point
from gateway.services.lifecycle import Actor
from gateway.services.problems import (
    Problem,
    Refused,
    conflict,
    invalid,
    not_found,
    refuse_if,
    retry_once_on_clash,
)
from gateway.settings import Settings

T = TypeVar("T")

# Bounds one statement's parameters (SQLite's limit) and the work one request may ask for.
MAX_IDS = 1000

SPECIFIC = NotificationAudience.SPECIFIC
_IN = ("input",)


@dataclass(frozen=True)
class RuleInput:
    """What a create or an update asks for, decoded. `None` = not given (an update keeps the
    current value). In id lists, `None` stands for an id that could not be decoded; `problems`
    already says so."""

    name: str | None = None
    type: NotificationType | None = None
    frequency: NotificationFrequency | None = None
    all_apps: bool | None = None
    app_ids: Sequence[int | None] | None = None
    audience: NotificationAudience | None = None
    user_ids: Sequence[int | None] | None = None
    team_ids: Sequence[int | None] | None = None
    channels: Sequence[NotificationChannel] | None = None
    # An empty string removes the URL.
    webhook_url: str | None = None
    slack_webhook_url: str | None = None
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class _Rule:
    """The complete content of a rule, as written."""

    name: str
    type: NotificationType
    frequency: NotificationFrequency
    all_apps: bool
    app_ids: frozenset[int]
    audience: NotificationAudience
    user_ids: frozenset[int]
    team_ids: frozenset[int]
    email: bool
    in_app: bool
    webhook_url: str | None = None
    slack_webhook_url: str | None = None

    @property
    def sort_name(self) -> str:
        return sort_key(self.name)


@dataclass(frozen=True)
class SavedRule:
    """A rule as saved, and its webhook secret when this save made one (shown once)."""

    rule: m.NotificationRule
    webhook_secret: str | None = None


_URL_FIELDS = (
    (NotificationChannel.WEBHOOK, "webhook_url", "webhookUrl"),
    (NotificationChannel.SLACK, "slack_webhook_url", "slackWebhookUrl"),
)


# --- what the input says by itself -------------------------------------------------------


def _clean_name(name: str | None, problems: list[Problem]) -> str | None:
    if name is None:
        return None
    cleaned = name.strip()
    # Names travel into email subjects and headers: no line breaks or other controls.
    bad = (
        invalid("Give the rule a name", "input", "name")
        if not cleaned
        else text.input_problem(cleaned, text.RULE_NAME, "input", "name")
    )
    if bad is not None:
        problems.append(bad)
        return None
    return cleaned


async def _missing(
    model: type[Model], portal_id: int, ids: Sequence[int | None] | None, field: str, what: str
) -> list[Problem]:
    """NOT_FOUND for each decodable id that names no `model` row of this portal (another
    portal's row answers exactly like a missing one)."""
    if not ids:
        return []
    if len(ids) > MAX_IDS:
        return [invalid(f"At most {MAX_IDS} ids", "input", field)]
    wanted = {pk for pk in ids if pk is not None}
    found = (
        set(await model.filter(portal_id=portal_id, id__in=wanted).values_list("id", flat=True))
        if wanted
        else set()
    )
    return [
        not_found(what, "input", field, str(i))
        for i, pk in enumerate(ids)
        if pk is not None and pk not in found
    ]


async def _check_urls(given: RuleInput, settings: Settings, problems: list[Problem]) -> None:
    """Each URL given is one the gateway may deliver to, as its host resolves now."""
    for _channel, attr, field in _URL_FIELDS:
        url = getattr(given, attr)
        if not url or not url.strip():
            continue
        try:
            await webhooks.check(url.strip(), settings)
        except webhooks.Refusal as refusal:
            problems.append(invalid(refusal.message, "input", field))
    if given.webhook_url and given.webhook_url.strip() and not secrets.can_encrypt(settings):
        problems.append(
            invalid(
                "Webhooks need GATEWAY_SECRETS_KEY set on the server (to keep their secret)",
                "input",
                "webhookUrl",
            )
        )


async def _check_input(
    actor: Actor, given: RuleInput, problems: list[Problem], settings: Settings
) -> str | None:
    """Problems of the input on its own; the cleaned name, when one is given and valid."""
    problems.extend(given.problems)
    await _check_urls(given, settings, problems)
    name = _clean_name(given.name, problems)
    portal_id = actor.portal.id
    problems.extend(await _missing(m.ConnectedApp, portal_id, given.app_ids, "appIds", "app"))
    problems.extend(await _missing(m.User, portal_id, given.user_ids, "userIds", "user"))
    problems.extend(await _missing(m.Team, portal_id, given.team_ids, "teamIds", "team"))
    if given.channels is not None and not given.channels:
        problems.append(invalid("Choose at least one channel", "input", "channels"))
    if given.type is NotificationType.INSTALL_REQUEST:
        # Install requests send their own notices (gateway/services/request_notes.py).
        problems.append(
            invalid(
                "INSTALL_REQUEST notifications come from install requests, not rules",
                "input",
                "type",
            )
        )
    return name


# --- what the whole rule would be --------------------------------------------------------


def _known(ids: Sequence[int | None]) -> frozenset[int]:
    return frozenset(pk for pk in ids if pk is not None)


def _merge(
    current: _Rule | None, given: RuleInput, name: str | None
) -> tuple[_Rule, list[Problem]]:
    """The rule `given` makes of `current` (None: a new rule, whose required fields GraphQL has
    already enforced), and what is wrong with it. Problems `_check_input` reports are not
    repeated here."""
    problems: list[Problem] = []

    def pick(value: T | None, now: Callable[[_Rule], T]) -> T:
        if value is not None:
            return value
        assert current is not None, "a create gives every required field"
        return now(current)

    all_apps = pick(given.all_apps, lambda r: r.all_apps)
    if all_apps:
        if given.app_ids:
            problems.append(
                invalid("allApps covers every app: leave appIds out", "input", "appIds")
            )
        apps: frozenset[int] = frozenset()
    else:
        apps = (
            _known(given.app_ids)
            if given.app_ids is not None
            else (current.app_ids if current else frozenset())
        )
        selected = len(given.app_ids) if given.app_ids is not None else len(apps)
        if not selected:
            problems.append(invalid("Select at least one app, or set allApps", "input", "appIds"))

    audience = pick(given.audience, lambda r: r.audience)
    if audience is not SPECIFIC:
        if given.user_ids:
            problems.append(invalid("Only a SPECIFIC audience takes users", "input", "userIds"))
        if given.team_ids:
            problems.append(invalid("Only a SPECIFIC audience takes teams", "input", "teamIds"))
        users: frozenset[int] = frozenset()
        teams: frozenset[int] = frozenset()
        named = -1  # nobody to name
    else:
        users = (
            _known(given.user_ids)
            if given.user_ids is not None
            else (current.user_ids if current else frozenset())
        )
        teams = (
            _known(given.team_ids)
            if given.team_ids is not None
            else (current.team_ids if current else frozenset())
        )
        named = (len(given.user_ids) if given.user_ids is not None else len(users)) + (
            len(given.team_ids) if given.team_ids is not None else len(teams)
        )

    if given.channels is not None:
        email = NotificationChannel.EMAIL in given.channels
        in_app = NotificationChannel.IN_APP in given.channels
    else:
        assert current is not None
        email, in_app = current.email, current.in_app
    urls: dict[str, str | None] = {}
    for channel, attr, field in _URL_FIELDS:
        asked = getattr(given, attr)
        url = (asked.strip() or None) if asked is not None else getattr(current, attr, None)
        if given.channels is not None and channel not in given.channels:
            if asked is not None and asked.strip():
                problems.append(
                    invalid(f"{field} is given but channels leave out {channel.value}", *_IN, field)
                )
            url = None
        elif given.channels is not None and not url:
            problems.append(invalid(f"{channel.value} needs {field}", "input", field))
        urls[attr] = url
    if given.channels is None and not (email or in_app or any(urls.values())):
        problems.append(invalid("Choose at least one channel", "input", "channels"))
    # Only people need an audience: a rule with only WEBHOOK and SLACK goes to its URLs.
    url_only = not (email or in_app) and (
        any(urls.values()) or any(c in URL_CHANNELS for c in given.channels or ())
    )
    if named == 0 and not url_only:
        problems.append(
            invalid("A SPECIFIC audience needs at least one user or team", "input", "audience")
        )

    rule = _Rule(
        name=name if name is not None else (current.name if current else ""),
        type=pick(given.type, lambda r: r.type),
        frequency=pick(given.frequency, lambda r: r.frequency),
        all_apps=all_apps,
        app_ids=apps,
        audience=audience,
        user_ids=users,
        team_ids=teams,
        email=email,
        in_app=in_app,
        webhook_url=urls["webhook_url"],
        slack_webhook_url=urls["slack_webhook_url"],
    )
    return rule, problems


async def _name_taken(portal_id: int, name: str, rule_id: int | None) -> bool:
    others = m.NotificationRule.filter(portal_id=portal_id, sort_name=sort_key(name))
    if rule_id is not None:
        others = others.exclude(id=rule_id)
    return await others.exists()


def _clash(name: str) -> Problem:
    return conflict(f"A rule named {name!r} already exists (names ignore case)", "input", "name")


async def _selected(model: type[Model], rule_id: int, column: str) -> frozenset[int]:
    """The ids a rule selects through one of its link tables."""
    ids: list[int] = await model.filter(rule_id=rule_id).values_list(column, flat=True)  # type: ignore[assignment]  # Tortoise types flat values_list() as tuples
    return frozenset(ids)


async def _current(rule: m.NotificationRule) -> _Rule:
    return _Rule(
        name=rule.name,
        type=rule.type,
        frequency=rule.frequency,
        all_apps=rule.all_apps,
        app_ids=await _selected(m.RuleApp, rule.id, "app_id"),
        audience=rule.audience,
        user_ids=await _selected(m.RuleUser, rule.id, "user_id"),
        team_ids=await _selected(m.RuleTeam, rule.id, "team_id"),
        email=rule.email,
        in_app=rule.in_app,
        webhook_url=rule.webhook_url,
        slack_webhook_url=rule.slack_webhook_url,
    )


def _secret_change(
    settings: Settings, had_webhook: bool, rule: _Rule
) -> tuple[dict[str, str | None], str | None]:
    """The secret column's new value (if it changes), and the secret to show: a first webhook
    gets a new one; a rule without a webhook keeps none."""
    if rule.webhook_url is None:
        return ({"webhook_secret": None} if had_webhook else {}), None
    if had_webhook:
        return {}, None
    secret = secrets.new_secret()
    return {"webhook_secret": secrets.encrypt(settings, secret)}, secret


async def _link(rule_id: int, old: _Rule | None, new: _Rule) -> None:
    """Make the join rows say what `new` says (only the differences are written)."""
    links: list[tuple[type[Model], str, frozenset[int], frozenset[int]]] = [
        (m.RuleApp, "app_id", old.app_ids if old else frozenset(), new.app_ids),
        (m.RuleUser, "user_id", old.user_ids if old else frozenset(), new.user_ids),
        (m.RuleTeam, "team_id", old.team_ids if old else frozenset(), new.team_ids),
    ]
    for model, column, before, after in links:
        if before - after:
            await model.filter(rule_id=rule_id, **{f"{column}__in": list(before - after)}).delete()
        if after - before:
            await model.bulk_create(
                [model(rule_id=rule_id, **{column: pk}) for pk in sorted(after - before)]
            )


# --- the operations ------------------------------------------------------------------------


async def create_rule(actor: Actor, given: RuleInput, settings: Settings) -> SavedRule:
    require(actor.user, Permission.MANAGE_NOTIFICATIONS)
    problems: list[Problem] = []
    name = await _check_input(actor, given, problems, settings)
    rule, merge_problems = _merge(None, given, name)
    problems += merge_problems

    async def work() -> SavedRule:
        async with in_transaction():
            clash = name is not None and await _name_taken(actor.portal.id, name, None)
            refuse_if(problems + ([_clash(rule.name)] if clash else []))
            await pause_point("rules:after-check")
            secret_column, secret = _secret_change(settings, False, rule)
            row = await m.NotificationRule.create(
                webhook_secret=secret_column.get("webhook_secret"),
                webhook_url=rule.webhook_url,
                slack_webhook_url=rule.slack_webhook_url,
                portal_id=actor.portal.id,
                name=rule.name,
                sort_name=rule.sort_name,
                type=rule.type,
                frequency=rule.frequency,
                all_apps=rule.all_apps,
                audience=rule.audience,
                email=rule.email,
                in_app=rule.in_app,
                created_by_id=actor.user.id,
                created_at=actor.now,
                updated_at=actor.now,
                # The rule covers the log from its creation on (DESIGN §1 "Digests").
                cut_at=actor.now,
            )
            await _link(row.id, None, rule)
            return SavedRule(row, secret)

    return await retry_once_on_clash(work, _clash(rule.name))


async def update_rule(
    actor: Actor, rule_id: int | None, given: RuleInput, settings: Settings
) -> SavedRule:
    problems: list[Problem] = []
    if rule_id is None:
        problems.append(invalid("Not a valid NotificationRule id", "input", "id"))
        existing = None
    else:
        existing = await _rule_in_portal(actor, rule_id)
        if existing is None:
            problems.append(not_found("notification rule", "input", "id"))
    if existing is not None:
        require(actor.user, Permission.MANAGE_NOTIFICATIONS, "input", "id")
    elif not actor.user.can_manage_notifications:
        raise Refused(problems)  # an unknown rule is all a non-admin is told
    name = await _check_input(actor, given, problems, settings)
    if existing is None:
        raise Refused(problems)  # what the input says by itself, with why the rule is unknown

    async def work() -> SavedRule:
        async with in_transaction():
            # Merge into the rule as it is now: a concurrent edit is either wholly before this one
            # or waits for it (the row lock on PostgreSQL; SQLite serializes writers).
            locked = await m.NotificationRule.filter(id=existing.id).select_for_update().first()
            if locked is None:
                raise Refused([not_found("notification rule", "input", "id")])
            current = await _current(locked)
            rule, merge_problems = _merge(current, given, name)
            clash = name is not None and await _name_taken(actor.portal.id, name, locked.id)
            refuse_if(problems + merge_problems + ([_clash(rule.name)] if clash else []))
            await pause_point("rules:after-check")
            if rule == current:
                return SavedRule(locked)
            secret_column, secret = _secret_change(
                settings, locked.webhook_url is not None and locked.webhook_secret is not None, rule
            )
            await m.NotificationRule.filter(id=locked.id).update(
                **secret_column,
                webhook_url=rule.webhook_url,
                slack_webhook_url=rule.slack_webhook_url,
                name=rule.name,
                sort_name=rule.sort_name,
                type=rule.type,
                frequency=rule.frequency,
                all_apps=rule.all_apps,
                audience=rule.audience,
                email=rule.email,
                in_app=rule.in_app,
                updated_at=actor.now,  # the cut stays: an edit never re-covers the log
            )
            await _link(locked.id, current, rule)
            return SavedRule(await m.NotificationRule.get(id=locked.id), secret)

    return await retry_once_on_clash(work, _clash(name or existing.name))


async def delete_rule(actor: Actor, rule_id: int) -> int:
    """Delete the rule and its apps, users and teams; its past digests stay, with no rule."""
    rule = await _rule_in_portal(actor, rule_id)
    if rule is None:
        raise Refused([not_found("notification rule", "input", "id")])
    require(actor.user, Permission.MANAGE_NOTIFICATIONS, "input", "id")
    async with in_transaction():
        # The foreign keys do the rest: join rows cascade, notifications' rule becomes null.
        # (No exact count: SQLite's counts the rows the foreign keys change too.)
        if not await m.NotificationRule.filter(id=rule.id).delete():
            raise Refused([not_found("notification rule", "input", "id")])
    return rule.id


async def _rule_in_portal(actor: Actor, rule_id: int) -> m.NotificationRule | None:
    return await m.NotificationRule.get_or_none(id=rule_id, portal_id=actor.portal.id)


async def rotate_secret(actor: Actor, rule_id: int, settings: Settings) -> SavedRule:
    """A new signing secret for the rule's webhook, in effect at once (the next attempt of any
    delivery signs with it); the old one stops working."""
    rule = await _rule_in_portal(actor, rule_id)
    if rule is None:
        if not actor.user.can_manage_notifications:
            require(actor.user, Permission.MANAGE_NOTIFICATIONS, "input", "ruleId")
        raise Refused([not_found("notification rule", "input", "ruleId")])
    require(actor.user, Permission.MANAGE_NOTIFICATIONS, "input", "ruleId")
    if rule.webhook_url is None:
        raise Refused([invalid("The rule has no webhook URL to sign for", "input", "ruleId")])
    if not secrets.can_encrypt(settings):
        raise Refused([invalid("GATEWAY_SECRETS_KEY is not set on the server", "input", "ruleId")])
    secret = secrets.new_secret()
    changed = await m.NotificationRule.filter(id=rule.id, webhook_url__isnull=False).update(
        webhook_secret=secrets.encrypt(settings, secret), updated_at=actor.now
    )
    if changed != 1:
        raise Refused([not_found("notification rule", "input", "ruleId")])
    return SavedRule(await m.NotificationRule.get(id=rule.id), secret)
