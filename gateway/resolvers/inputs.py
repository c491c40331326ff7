"""Decoding of query arguments; what cannot be used is a top-level BAD_USER_INPUT error."""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum
from typing import TypeVar

from gateway.errors import BadUserInput
from gateway.ids import decode_id
from gateway.services import text

E = TypeVar("E", bound=Enum)


def decode_ids(ids: Iterable[str] | None, type_name: str, arg: str) -> frozenset[int] | None:
    """Primary keys of well-formed ids of `type_name`. Whether they exist (or belong to the
    viewer's portal) is not checked here: a filter naming one that doesn't simply matches
    nothing, so nothing reveals a foreign object."""
    if ids is None:
        return None
    out = set()
    for i, gid in enumerate(ids):
        pk = decode_id(gid, type_name)
        if pk is None:
            raise BadUserInput(f"`{arg}[{i}]` is not a {type_name} id", argument=arg)
        out.add(pk)
    return frozenset(out)


def enum_set(values: Iterable[E] | None) -> frozenset[E] | None:
    return None if values is None else frozenset(values)


def text_argument(value: str | None, arg: str, bound: text.Bound = text.SEARCH) -> str | None:
    """`value` unchanged, when it keeps within `bound` (see gateway/services/text.py)."""
    if value is not None:
        message = text.problem(value, f"`{arg}`", bound)
        if message is not None:
            raise BadUserInput(message, argument=arg)
    return value
