"""The executor's gather (gateway/executor/eager.py): what asyncio.gather gives, with a task
only for the coroutines that wait."""

from __future__ import annotations

import asyncio

import pytest

from gateway.executor import eager


async def test_values_come_in_order_whether_or_not_a_coroutine_waits() -> None:
    loop = asyncio.get_running_loop()
    later = loop.create_future()
    loop.call_soon(later.set_result, "later")

    async def at_once(value: str) -> str:
        return value

    async def waiting() -> str:
        return await later

    values = await eager.gather([at_once("a"), waiting(), asyncio.sleep(0, "slept"), at_once("b")])
    assert values == ["a", "later", "slept", "b"]
    assert await eager.gather([waiting()]) == ["later"]
    assert await eager.gather([]) == []


async def test_coroutines_that_finish_at_once_make_no_task() -> None:
    tasks_before = len(asyncio.all_tasks())
    seen = []

    async def count(value: int) -> int:
        seen.append(len(asyncio.all_tasks()))
        return value

    assert await eager.gather([count(i) for i in range(5)]) == list(range(5))
    assert seen == [tasks_before] * 5


@pytest.mark.parametrize("waiters", [2, 3])
async def test_several_coroutines_can_wait_for_one_future(waiters: int) -> None:
    # A loader gives one future per key to every field that asks for it.
    loop = asyncio.get_running_loop()
    shared = loop.create_future()
    loop.call_soon(shared.set_result, 7)

    async def wait(k: int) -> int:
        return k * await shared

    expected = [7 * k for k in range(1, waiters + 1)]
    assert await eager.gather([wait(k) for k in range(1, waiters + 1)]) == expected


async def test_nested_gathers_wait_for_one_future_together() -> None:
    loop = asyncio.get_running_loop()
    shared = loop.create_future()
    loop.call_later(0.01, shared.set_result, "x")

    async def wait(tag: int) -> tuple[int, str]:
        return tag, await shared

    async def inner() -> list[tuple[int, str]]:
        return await eager.gather([wait(1), wait(2)])

    assert await eager.gather([inner(), wait(3)]) == [[(1, "x"), (2, "x")], (3, "x")]


async def test_a_failure_is_raised_after_every_coroutine_has_run() -> None:
    finished = []
    loop = asyncio.get_running_loop()
    later = loop.create_future()
    loop.call_soon(later.set_result, None)

    async def fail(message: str) -> None:
        raise ValueError(message)

    async def finish(tag: str, wait: bool) -> None:
        if wait:
            await later
        finished.append(tag)

    with pytest.raises(ValueError, match="first"):
        await eager.gather([finish("a", False), fail("first"), finish("b", True), fail("second")])
    assert finished == ["a", "b"]


@pytest.mark.parametrize("others", [0, 1])
async def test_a_failure_after_a_wait_is_raised(others: int) -> None:
    async def fail_later() -> None:
        await asyncio.sleep(0)
        raise KeyError("late")

    async def fine() -> int:
        await asyncio.sleep(0)
        return 1

    with pytest.raises(KeyError):
        await eager.gather([*(fine() for _ in range(others)), fail_later()])


@pytest.mark.parametrize("waiters", [1, 2, 3])
@pytest.mark.parametrize("started", [True, False])
async def test_cancelling_the_gather_reaches_every_coroutine_that_waits(
    waiters: int, started: bool
) -> None:
    """Each waiting coroutine learns of the cancellation where it waits: thrown in, or (its
    task cancelled before its first turn) closed there; either way its cleanup runs."""
    never = asyncio.get_running_loop().create_future()
    cleaned = []

    async def wait(tag: int) -> None:
        try:
            await never
        finally:
            cleaned.append(tag)

    task = asyncio.ensure_future(eager.gather([wait(k) for k in range(waiters)]))
    await asyncio.sleep(0)  # the gather has started every coroutine and waits
    if started:
        await asyncio.sleep(0)  # and the tasks of those that wait have had their first turn
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(cleaned) == list(range(waiters))


async def test_each_coroutine_sees_its_own_context_as_in_a_task_of_its_own() -> None:
    import contextvars

    var: contextvars.ContextVar[str] = contextvars.ContextVar("eager_test", default="caller")
    later = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_soon(later.set_result, None)

    async def sets(tag: str, wait: bool) -> tuple[str, str]:
        before = var.get()
        var.set(tag)
        if wait:
            await later
        return before, var.get()

    values = await eager.gather([sets("a", True), sets("b", False), sets("c", True)])
    assert values == [("caller", "a"), ("caller", "b"), ("caller", "c")]
    assert var.get() == "caller"
