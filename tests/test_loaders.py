"""`load_all` (gateway/loaders.py): a whole field step's keys through one call of a loader's
batch function, sharing the loader's cache with per-object `load` calls."""

from __future__ import annotations

import asyncio

import pytest

from gateway import models as m
from gateway.loaders import Loader, Loaders, load_all, load_optional


class Counted:
    """A batch function over real rows that records the keys of each call."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[list[int]] = []
        self.fail = fail

    async def load(self, ids: list[int]) -> list[m.User | None]:
        self.calls.append(list(ids))
        await asyncio.sleep(0)  # a real fetch yields to the loop
        if self.fail:
            raise LookupError("the batch failed")
        rows = {u.id: u for u in await m.User.filter(id__in=ids)}
        return [rows.get(i) for i in ids]


async def test_load_all_gives_what_load_many_gives(demo) -> None:
    ids = [u.id for u in await m.User.all().order_by("id")]
    keys = [ids[2], ids[0], ids[2], 10**9, ids[1], ids[0]]  # repeats, and an id of no row
    reference = await Loaders().user_by_id.load_many(keys)
    ours = await load_all(Loaders().user_by_id, keys)
    assert [u and u.id for u in ours] == [u and u.id for u in reference]
    assert ours[3] is None and ours[0] is ours[2]


async def test_each_key_is_fetched_once_by_concurrent_and_later_callers(demo) -> None:
    ids = [u.id for u in await m.User.all().order_by("id")][:4]
    batch = Counted()
    loader = Loader(batch.load)
    first, second, single = await asyncio.gather(
        load_all(loader, ids[:3]), load_all(loader, ids[1:4]), loader.load(ids[2])
    )
    again = await load_all(loader, ids)
    assert sorted(k for call in batch.calls for k in call) == sorted(ids)  # no key twice
    assert [u.id for u in first] == ids[:3] and [u.id for u in second] == ids[1:4]
    assert single.id == ids[2] and [u.id for u in again] == ids


async def test_a_failed_fetch_fails_its_waiters_and_is_not_remembered(demo) -> None:
    ids = [u.id for u in await m.User.all().order_by("id")][:2]
    batch = Counted(fail=True)
    loader = Loader(batch.load)
    results = await asyncio.gather(
        load_all(loader, ids), load_all(loader, ids[:1]), return_exceptions=True
    )
    assert [type(r) for r in results] == [LookupError, LookupError]
    assert len(batch.calls) == 1  # the second caller waited for the first's fetch
    batch.fail = False
    assert [u.id for u in await load_all(loader, ids)] == ids  # asked again, and found
    assert len(batch.calls) == 2


async def test_load_gives_what_load_all_fetched_or_is_fetching_and_what_was_primed(demo) -> None:
    ids = [u.id for u in await m.User.all().order_by("id")][:3]
    batch = Counted()
    loader = Loader(batch.load)
    # A load while load_all's batch runs waits for that batch; a later one finds its value
    running = asyncio.ensure_future(load_all(loader, ids[:2]))
    await asyncio.sleep(0)  # the batch has started
    during = await loader.load(ids[1])
    fetched = await running
    after = await loader.load(ids[0])
    assert during is fetched[1] and after is fetched[0]
    assert batch.calls == [ids[:2]]
    # A primed value, even a falsy one, is what both give, and a later prime does not replace it
    loader.prime(ids[2], None)
    loader.prime(ids[2], "another")
    assert await loader.load(ids[2]) is None
    assert await load_all(loader, [ids[2], ids[0]]) == [None, fetched[0]]
    assert batch.calls == [ids[:2]]
    # A primed error fails its key
    loader.prime(10**9, LookupError("primed"))
    with pytest.raises(LookupError, match="primed"):
        await loader.load(10**9)


async def test_a_load_waiting_for_a_failed_batch_fails_with_it(demo) -> None:
    ids = [u.id for u in await m.User.all().order_by("id")][:2]
    batch = Counted(fail=True)
    loader = Loader(batch.load)
    running = asyncio.ensure_future(load_all(loader, ids))
    await asyncio.sleep(0)  # the batch has started
    results = await asyncio.gather(running, loader.load(ids[1]), return_exceptions=True)
    assert [type(r) for r in results] == [LookupError, LookupError]
    assert len(batch.calls) == 1
    batch.fail = False
    assert (await loader.load(ids[1])).id == ids[1]  # the failure is not remembered


async def test_load_optional_gives_none_for_absent_keys(demo) -> None:
    user = await m.User.all().order_by("id").first()
    assert user is not None
    found = await load_optional(Loaders().user_by_id, [None, user.id, None])
    assert found[0] is None and found[2] is None and found[1].id == user.id


@pytest.mark.parametrize("size", [0, 1])
async def test_no_keys_or_one_key(demo, size) -> None:
    ids = [u.id for u in await m.User.all().order_by("id")][:size]
    batch = Counted()
    assert [u.id for u in await load_all(Loader(batch.load), ids)] == ids
    assert len(batch.calls) == size


async def test_scopes_by_app_gives_each_listing_s_scopes_in_order_with_the_app_s_grants(
    demo,
) -> None:
    # Given the demo data's apps, installed and uninstalled, with their listings and grants
    apps = await m.ConnectedApp.all().order_by("id")
    expected = []
    for app in apps:
        granted = {g.name for g in await m.GrantedScope.filter(app_id=app.id)}
        requested = await m.ListingScope.filter(listing_id=app.listing_id).order_by(
            "position", "id"
        )
        expected.append(
            [
                (s.name, s.description, s.required_tier, s.required, s.name in granted)
                for s in requested
            ]
        )

    # When one batch reads them all (an id of no app among them)
    found = await load_all(Loaders().scopes_by_app, [*(a.id for a in apps), 10**9])

    # Then each app has its listing's scopes, in the listing's order, each granted or not as
    # its grants say, with the values the models hold
    assert [[tuple(row) for row in rows] for rows in found] == [*expected, []]
    assert any(not row.granted for rows in found for row in rows)
    assert any(row.granted for rows in found for row in rows)
    assert {type(row.granted) for rows in found for row in rows} == {bool}
