"""Named pause points in write paths, for tests that force an interleaving.

In production nothing is registered and `pause_point` returns at once. A test registers a hook
(e.g. waiting at a barrier) to hold two requests between their read and their write, proving
that the database, not a check-then-write, settles the race.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

_hooks: dict[str, Callable[[], Awaitable[None]]] = {}


async def pause_point(name: str) -> None:
    hook = _hooks.get(name)
    if hook is not None:
        await hook()


@contextmanager
def hooked(name: str, hook: Callable[[], Awaitable[None]]) -> Iterator[None]:
    _hooks[name] = hook
    try:
        yield
    finally:
        _hooks.pop(name, None)
