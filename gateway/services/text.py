"""Bounds on the text the API takes: how long each kind of string may be, and which characters
it may not hold. Resolvers, services and event ingestion check through here, so a limit and
its wording exist once.

- NUL is refused in every string: PostgreSQL cannot store it (or even compare with it), so it
  would otherwise end as an internal error there and be silently kept on SQLite.
- Text people read (names, alert codes and messages, scope names and descriptions) holds no
  control character at all (Unicode category Cc: U+0000–U+001F, U+007F–U+009F). Line breaks
  and tabs included: the console shows these on one line, and names travel into mail headers.
- Lengths bound what one request can make the database do (SQLite refuses a LIKE pattern over
  50,000 bytes) and match the columns the values land in; they count characters.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from gateway.models.sorting import sort_key
from gateway.services.problems import Problem, invalid


@dataclass(frozen=True)
class Bound:
    """The rule for one kind of string."""

    max_length: int
    # Read by people: no control character. Otherwise only NUL is refused.
    shown: bool
    # A form compared without case is stored too (a sort name, a unique key): it must fit as
    # well, and can be longer ("ß".casefold() == "ss").
    folded: Callable[[str], str] | None = None


SEARCH = Bound(200, shown=False)  # list arguments: search terms, categories
ACCOUNT_NAME = Bound(200, shown=True, folded=str.casefold)  # AppConnection.key
RULE_NAME = Bound(120, shown=True, folded=sort_key)  # NotificationRule.sort_name
SCOPE_NAME = Bound(100, shown=True)
SCOPE_DESCRIPTION = Bound(500, shown=True)
EVENT_ID = Bound(200, shown=False)
ALERT_CODE = Bound(100, shown=True)
ALERT_MESSAGE = Bound(1000, shown=True)
ACKNOWLEDGE_NOTE = Bound(500, shown=True)  # AppAlert.acknowledge_note
GLOBAL_ID = Bound(200, shown=False)
SORT_KEY = Bound(200, shown=False)  # the name a cursor holds: the longest sort_name column


def problem(value: str, name: str, bound: Bound) -> str | None:
    """Why `value` breaks `bound`, in words naming it `name`; None when it is fine."""
    if len(value) > bound.max_length:
        return f"{name} is longer than {bound.max_length} characters"
    if bound.folded is not None and len(bound.folded(value)) > bound.max_length:
        return f"{name} is longer than {bound.max_length} characters when compared without case"
    if bound.shown:
        if any(unicodedata.category(c) == "Cc" for c in value):
            return f"{name} contains a control character"
    elif "\x00" in value:
        return f"{name} contains a NUL character"
    return None


def input_problem(value: str, bound: Bound, *field: str) -> Problem | None:
    """An INVALID userError on the input path `field` (e.g. "input", "scopes", "1") when
    `value` breaks `bound`; the message names the field as a client wrote it (`scopes[1]`)."""
    message = problem(value, f"`{field_name(field)}`", bound)
    return invalid(message, *field) if message else None


def field_name(path: tuple[str, ...]) -> str:
    """`("input", "scopes", "1")` → `scopes[1]`: the path below the mutation's input."""
    parts = path[1:] if path and path[0] == "input" else path
    name = ""
    for part in parts:
        name += f"[{part}]" if part.isdigit() else (f".{part}" if name else part)
    return name
