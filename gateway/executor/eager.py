"""Awaiting several coroutines together, with a task only for those that wait.

`asyncio.gather` makes a task of every coroutine, and a task costs its creation, a turn of the
event loop before it starts and another to report back. Most field steps of a page wait for
nothing: a leaf derived from its parents, a loader whose values the statement before primed.
Here each coroutine runs its first step at once, in order (what its task would do on the
loop's next turn); one that finishes gives its value there and then, and only those that wait
go on in tasks, and only when more than one waits. Python 3.12's `asyncio.eager_task_factory`
starts every task this way.

Each coroutine runs in a copy of the caller's context, as in a task of its own, so a context
variable one of them sets is not seen by the others. Loaders batch as before: a loader gathers
the keys asked for in one turn of the loop, and the first steps here all run within the turn
that calls `gather`.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import types
from collections.abc import Coroutine, Generator
from typing import Any


async def gather(coroutines: list[Coroutine[Any, Any, Any]]) -> list[Any]:
    """The coroutines' values in order, as `asyncio.gather` gives them. Every coroutine runs
    to its end even when one raises; the first exception is then raised."""
    values: list[Any] = [None] * len(coroutines)
    # (index, coroutine, its rest: a generator-based coroutine, awaitable)
    waiting: list[tuple[int, Coroutine[Any, Any, Any], Any]] = []
    failure: Exception | None = None
    for i, coroutine in enumerate(coroutines):
        context = contextvars.copy_context()
        try:
            waiting_for = context.run(coroutine.send, None)
        except StopIteration as stop:
            values[i] = stop.value
        except Exception as exc:  # raised once all have run
            failure = failure or exc
        else:
            if waiting_for is not None:
                # A task takes the future its coroutine yields and unflags it; awaiting a
                # flagged future fails. Unflagged here, so that the next coroutine may await
                # it too (a loader gives one future per key), and flagged again when handed
                # to a task.
                waiting_for._asyncio_future_blocking = False
            waiting.append((i, coroutine, _rest(coroutine, context, waiting_for)))
    if len(waiting) == 1:  # awaited by this task: no task of its own
        i, _coroutine, rest = waiting[0]
        try:
            values[i] = await rest
        except Exception as exc:
            failure = failure or exc
    elif waiting:
        tasks = [asyncio.ensure_future(_run(rest)) for _i, _coroutine, rest in waiting]
        try:
            done = await asyncio.gather(*tasks, return_exceptions=True)
        except asyncio.CancelledError:
            for _i, coroutine, rest in waiting:
                if inspect.getgeneratorstate(rest) == inspect.GEN_CREATED:
                    # Its task was cancelled before its first turn and never took the
                    # coroutine over: closed here, where it waits.
                    coroutine.close()
            raise
        for (i, _coroutine, _waiting), value in zip(waiting, done, strict=True):
            if isinstance(value, Exception):
                failure = failure or value
            elif isinstance(value, BaseException):
                raise value
            else:
                values[i] = value
    if failure is not None:
        raise failure
    return values


def start(coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None] | None:
    """Run `coroutine` at once, as far as it goes without waiting, in a copy of the caller's
    context: None if it finished there (an exception it raised is raised here), else a task
    that runs the rest. What `asyncio.eager_task_factory` does for one task in 3.12."""
    context = contextvars.copy_context()
    try:
        waiting_for = context.run(coroutine.send, None)
    except StopIteration:
        return None
    if waiting_for is not None:
        waiting_for._asyncio_future_blocking = False  # the task flags it again (see gather)
    return asyncio.ensure_future(_run(_rest(coroutine, context, waiting_for)))


@types.coroutine
def _rest(
    coroutine: Coroutine[Any, Any, Any], context: contextvars.Context, waiting_for: Any
) -> Generator[Any, Any, Any]:
    """The rest of a coroutine whose first step gave `waiting_for` (a future, or None for a
    bare yield), as an awaitable: what it waits for goes up to the task awaiting this, and
    what that task sends or throws (a cancellation) goes down to the coroutine, run in its own
    context. Closed, it closes the coroutine."""
    try:
        while True:
            if waiting_for is not None:
                waiting_for._asyncio_future_blocking = True  # as the coroutine yielded it
            try:
                sent = yield waiting_for
            except GeneratorExit:
                raise
            except BaseException as exc:  # thrown in by the task: passed on
                waiting_for = context.run(coroutine.throw, exc)
            else:
                waiting_for = context.run(coroutine.send, sent)
    except StopIteration as stop:
        return stop.value
    finally:
        coroutine.close()  # a no-op once it has returned or raised


async def _run(rest: Any) -> Any:
    # A task runs a coroutine (3.12 refuses a generator), and this one is a generator.
    return await rest
