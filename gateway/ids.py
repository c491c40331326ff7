"""Relay global ids: base64 of "TypeName:primaryKey" (DESIGN §2). Clients treat them as opaque."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable

# Keys are 32-bit integer columns: a larger one cannot exist, and PostgreSQL would refuse to
# bind it. Decoding refuses such keys, so code holding a decoded key need not check again.
MAX_KEY = 2**31 - 1


class _Encoded(dict[int, str]):
    """One type's global ids by primary key, each encoded when first asked for and then
    remembered: a page names the same users and apps many times, and a lookup costs a fifth
    of an encoding. A dict whose misses encode, so that a page's ids are looked up in C-level
    passes (`global_ids`). Emptied when full: a bound, not a cache policy worth more."""

    __slots__ = ("type_name",)

    def __init__(self, type_name: str) -> None:
        super().__init__()
        self.type_name = type_name

    def __missing__(self, pk: int) -> str:
        if len(self) >= _REMEMBERED:
            self.clear()
        encoded = self[pk] = base64.b64encode(f"{self.type_name}:{pk}".encode()).decode()
        return encoded


_REMEMBERED = 2**16
_encoded: dict[str, _Encoded] = {}


def _of_type(type_name: str) -> _Encoded:
    found = _encoded.get(type_name)
    if found is None:
        found = _encoded[type_name] = _Encoded(type_name)
    return found


def to_global_id(type_name: str, pk: int) -> str:
    return _of_type(type_name)[pk]


def global_ids(type_name: str, pks: Iterable[int]) -> list[str]:
    """`to_global_id` of each key, in one C-level pass over those already encoded."""
    return list(map(_of_type(type_name).__getitem__, pks))


def from_global_id(global_id: str) -> tuple[str, int] | None:
    """(type name, primary key), or None for anything that is not a well-formed id."""
    if not isinstance(global_id, str) or len(global_id) > 200:
        return None
    try:
        raw = base64.b64decode(global_id.encode(), validate=True).decode()
    except (binascii.Error, UnicodeError, ValueError):
        return None
    type_name, sep, pk = raw.partition(":")
    # Only canonical decimal keys: "App:01" or "App:+1" would alias "App:1".
    if not sep or not type_name or not pk.isascii() or not pk.isdigit() or pk != str(int(pk)):
        return None
    value = int(pk)
    if value <= 0 or value > MAX_KEY:
        return None
    return type_name, value


def decode_id(global_id: str, type_name: str) -> int | None:
    """The primary key if `global_id` is a well-formed id of `type_name`, else None."""
    parsed = from_global_id(global_id)
    if parsed is None or parsed[0] != type_name:
        return None
    return parsed[1]
