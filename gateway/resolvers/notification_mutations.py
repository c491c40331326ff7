"""Mutation resolvers of notification rules and of the inbox: decode the input, call the
service, turn refusals into userErrors (the pattern of gateway/resolvers/app_mutations.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from gateway import clock
from gateway.context import Info
from gateway.ids import decode_id
from gateway.resolvers.app_mutations import actor, decode, run
from gateway.services import inbox, rules, test_sends
from gateway.services.problems import Problem, invalid


def _decode_all(
    problems: list[Problem], ids: Sequence[str] | None, type_name: str, field: str
) -> list[int | None] | None:
    """The keys of a list of ids, `None` where an id cannot be decoded (an INVALID userError
    on its index); `None` when the list was not given."""
    if ids is None:
        return None
    keys: list[int | None] = []
    for i, global_id in enumerate(ids):
        pk = decode_id(global_id, type_name)
        if pk is None:
            problems.append(invalid(f"Not a valid {type_name} id", "input", field, str(i)))
        keys.append(pk)
    return keys


def _rule_input(input_: Any) -> rules.RuleInput:
    """Create and update inputs share their fields; on update, a field left out (or null) is
    `None`: the rule keeps its value."""
    problems: list[Problem] = []
    app_ids = _decode_all(problems, input_.app_ids, "ConnectedApp", "appIds")
    user_ids = _decode_all(problems, input_.user_ids, "User", "userIds")
    team_ids = _decode_all(problems, input_.team_ids, "Team", "teamIds")
    return rules.RuleInput(
        name=input_.name,
        type=input_.type,
        frequency=input_.frequency,
        all_apps=input_.all_apps,
        app_ids=app_ids,
        audience=input_.audience,
        user_ids=user_ids,
        team_ids=team_ids,
        channels=input_.channels,
        webhook_url=input_.webhook_url,
        slack_webhook_url=input_.slack_webhook_url,
        problems=tuple(problems),
    )


async def create_notification_rule(info: Info, input_: Any) -> tuple[Any, list[Problem]]:
    given = _rule_input(input_)
    settings = info.context.settings
    return await run(info, [], lambda: rules.create_rule(actor(info), given, settings))


async def update_notification_rule(info: Info, input_: Any) -> tuple[Any, list[Problem]]:
    rule_id = decode_id(input_.id, "NotificationRule")
    given = _rule_input(input_)
    settings = info.context.settings
    return await run(info, [], lambda: rules.update_rule(actor(info), rule_id, given, settings))


async def rotate_notification_rule_secret(info: Info, rule_id: str) -> tuple[Any, list[Problem]]:
    problems: list[Problem] = []
    pk = decode(problems, rule_id, "NotificationRule", "input", "ruleId")
    settings = info.context.settings
    return await run(info, problems, lambda: rules.rotate_secret(actor(info), pk, settings))


async def send_test_notification(info: Info, rule_id: str) -> tuple[Any, list[Problem]]:
    problems: list[Problem] = []
    pk = decode(problems, rule_id, "NotificationRule", "input", "ruleId")
    settings = info.context.settings
    # The injectable clock (gateway/clock.py): tests step past the once-a-minute limit.
    acting = replace(actor(info), now=clock.utc_now())
    return await run(info, problems, lambda: test_sends.send_test(acting, pk, settings))


async def delete_notification_rule(info: Info, rule_id: str) -> tuple[Any, list[Problem]]:
    problems: list[Problem] = []
    pk = decode(problems, rule_id, "NotificationRule", "input", "id")
    return await run(info, problems, lambda: rules.delete_rule(actor(info), pk))


async def mark_notifications_read(
    info: Info, ids: Sequence[str] | None, all_: bool | None
) -> tuple[Any, list[Problem]]:
    problems: list[Problem] = []
    if ids is not None and all_:
        problems.append(invalid("Give either ids or all: true, not both", "input", "all"))
    elif ids is None and not all_:
        problems.append(invalid("Name the notifications in ids, or pass all: true", "input", "ids"))
    limit = info.context.settings.max_node_ids
    if ids is not None and len(ids) > limit:
        problems.append(invalid(f"At most {limit} ids", "input", "ids"))
        return None, problems
    keys = _decode_all(problems, ids, "Notification", "ids")
    if all_ and ids is None:
        return await run(info, problems, lambda: inbox.mark_all_read(actor(info)))
    if keys is None:
        return None, problems
    return await run(info, [], lambda: inbox.mark_read(actor(info), keys, problems))
