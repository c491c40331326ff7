"""Relay global ids: base64 of "TypeName:primaryKey" (DESIGN §2). Clients treat them as opaque."""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache

# Keys are 32-bit integer columns: a larger one cannot exist, and PostgreSQL would refuse to
# bind it. Decoding refuses such keys, so code holding a decoded key need not check again.
MAX_KEY = 2**31 - 1


@lru_cache(maxsize=2**16)
def to_global_id(type_name: str, pk: int) -> str:
    # Remembered: a page names the same users and apps many times, and a lookup costs a
    # fifth of an encoding.
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


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
