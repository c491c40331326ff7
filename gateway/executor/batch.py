"""Batch resolvers: the one definition of how a field's values are loaded.

A field declares a batch function `fn(context, parents, **arguments)` that returns one value
per parent, in order (an Exception in place of a value fails that parent only). Our executor
calls it once per field step with every parent. graphql-core, the reference, calls the field's
per-object resolver instead, and that resolver is derived from the same function: a
per-request DataLoader over it, one per set of arguments, so graphql-core's calls are batched
the same way and both executors read the same data the same way.

Fields that read facts about the viewer (beyond the portal) name them in `viewer_facts`, so
results can be shared between viewers who agree on those facts.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

import strawberry

BATCH = "batch"
VIEWER_FACTS = "viewer_facts"

# Async when it loads; a plain function when it only derives values from its parents (ids,
# page edges), which then cost no loader, future or await on either executor.
BatchFunction = Callable[..., Awaitable[Sequence[Any]] | Sequence[Any]]


def batched(fn: BatchFunction, *, viewer_facts: tuple[str, ...] = ()) -> dict[str, Any]:
    """Field metadata declaring `fn` as the field's batch function."""
    return {BATCH: fn, VIEWER_FACTS: viewer_facts}


def reads_viewer(*facts: str) -> dict[str, Any]:
    """Field metadata of a field without a batch function that reads these viewer facts."""
    return {VIEWER_FACTS: facts}


def batch_field(
    fn: BatchFunction,
    *,
    description: str,
    viewer_facts: tuple[str, ...] = (),
    deprecation_reason: str | None = None,
) -> Any:
    """A field without arguments whose values come from `fn`; its type is the annotation it
    is assigned to."""

    async def load_one(root: strawberry.Parent[Any], info: strawberry.Info) -> Any:
        return await load(info, fn, root)

    def derive_one(root: strawberry.Parent[Any], info: strawberry.Info) -> Any:
        return derive(info, fn, root)

    resolve = load_one if inspect.iscoroutinefunction(fn) else derive_one
    return strawberry.field(
        resolver=resolve,
        description=description,
        deprecation_reason=deprecation_reason,
        metadata=batched(fn, viewer_facts=viewer_facts),
    )


async def load(info: strawberry.Info, fn: BatchFunction, parent: Any, **arguments: Any) -> Any:
    """The per-object resolver of a batch field: `parent`'s value through the request's
    loader of `fn` for these arguments."""
    context = info.context
    return await context.loaders.batch(fn, arguments, context).load(parent)


def derive(info: strawberry.Info, fn: BatchFunction, parent: Any, **arguments: Any) -> Any:
    """The per-object resolver of a batch field whose function loads nothing (it derives its
    values from its parents): `fn` over `parent` alone."""
    return cast(Sequence[Any], fn(info.context, [parent], **arguments))[0]


def facts_of(metadata: Any) -> tuple[str, ...]:
    """The viewer facts a field declares it reads."""
    facts: tuple[str, ...] = (metadata or {}).get(VIEWER_FACTS, ())
    return facts


def batch_of(metadata: Any) -> BatchFunction | None:
    fn: BatchFunction | None = (metadata or {}).get(BATCH)
    return fn
