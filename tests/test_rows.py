"""The row mapper (gateway/rows.py) builds the same models Tortoise builds: every field of every
row of every table (the demo data, and what it lacks), on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from tortoise.exceptions import IncompleteInstanceError

from gateway import models as m
from gateway.models.enums import InstallRequestNotice
from gateway.rows import Params, fetch, fetch_in, fetch_sql, read_columns, unread, values_in
from tests import factories as f

# Every table but processed platform event ids (never read through the mapper).
MODELS = [model for model in m.__models__ if model is not m.ProcessedEvent]


@pytest.fixture(scope="module")
async def every_table(demo) -> None:
    """The demo data, and what it leaves out: install request notices (its inboxes hold
    digests only), in a portal of this module's own."""
    tenant = await f.make_tenant(people={"Ada Admin": "admin", "Mia Member": "member"})
    listing = await f.make_listing()
    request = await f.make_request(tenant.portal, listing, tenant.people["Mia Member"])
    await f.notice(InstallRequestNotice.NEW, tenant.people["Ada Admin"], [request])


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.__name__)
async def test_every_row_maps_to_what_tortoise_builds(every_table, model) -> None:
    # Given every row of a table, read by Tortoise and by the mapper
    reference = await model.all().order_by("id")
    mapped = await fetch(model.all().order_by("id"))
    skipped = unread(model)
    fields = [f for f in model._meta.fields_db_projection if f not in skipped]
    # Then each field of each row is the same value of the same type
    assert len(mapped) == len(reference)
    assert reference, f"no {model.__name__} rows to compare"
    for ours, theirs in zip(mapped, reference, strict=True):
        assert type(ours) is model
        for name in fields:
            a, b = getattr(ours, name), getattr(theirs, name)
            assert (a, type(a)) == (b, type(b)), (model.__name__, theirs.pk, name)
        assert ours.pk == theirs.pk
        # The columns only SQL reads are left out: such a model is partial, saved only in part.
        for name in skipped:
            assert not hasattr(ours, name)
        assert ours._saved_in_db and ours._partial == bool(skipped)


async def test_an_entry_read_without_its_recorded_time_cannot_be_saved_whole(demo) -> None:
    # Given a log entry read by the mapper, which leaves out the time it was recorded
    assert unread(m.AppLogEntry) == {"recorded_at"}
    (entry,) = await fetch(m.AppLogEntry.all().order_by("id").limit(1))
    before = await m.AppLogEntry.get(id=entry.id)
    # When it is saved whole, then Tortoise refuses, and the row keeps its recorded time
    with pytest.raises(IncompleteInstanceError):
        await entry.save()
    after = await m.AppLogEntry.get(id=entry.id)
    assert after.recorded_at == before.recorded_at


@pytest.mark.parametrize("model", [m.ConnectedApp, m.AppLogEntry, m.User], ids=lambda x: x.__name__)
async def test_a_statement_with_its_columns_in_another_order_maps_the_same(demo, model) -> None:
    # Given the same rows read by two statements, whose columns come in opposite orders (the
    # mapper reads a column by its place, learnt per statement shape)
    table = f'"{model._meta.db_table}"'
    forward, backward = read_columns(model), read_columns(model)[::-1]
    reads = []
    for order in (forward, backward):
        listed = ", ".join(f'"{column}"' for column in order)
        reads.append(
            await fetch_sql(model, f'SELECT {listed} FROM {table} ORDER BY "id"', Params())
        )
    # Then both give every row as Tortoise does
    reference = await model.all().order_by("id")
    assert reference
    for mapped in reads:
        assert [row.pk for row in mapped] == [row.pk for row in reference]
        for ours, theirs in zip(mapped, reference, strict=True):
            for name in read_columns(model):
                field = model._meta.fields_db_projection_reverse[name]
                assert getattr(ours, field) == getattr(theirs, field), (model.__name__, name)


# The loaders' statements (gateway/loaders.py), each as the ORM would write it.
SHAPES = [
    (m.AppAlert, "app_id", '"resolved_at" IS NULL', {"resolved_at": None}, ("-raised_at", "-id")),
    (m.ListingScope, "listing_id", "", {}, ("position", "id")),
    (
        m.ConnectedApp,
        "portal_id",
        '"uninstalled_at" IS NULL',
        {"uninstalled_at": None},
        ("sort_name", "id"),
    ),
    (m.GrantedScope, "app_id", "", {}, ("id",)),
    (m.User, "id", "", {}, ("-id",)),
    (m.TeamMembership, "team_id", "", {}, ("id",)),
]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda shape: f"{shape[0].__name__}.{shape[1]}")
async def test_fetch_in_gives_the_rows_the_orm_gives(demo, shape) -> None:
    model, column, where, where_kwargs, order_by = shape
    every = await model.filter(**where_kwargs).values_list(column, flat=True)
    keys = [*sorted(set(every))[::2], 10**9]  # some keys, and one that no row holds
    reference = await model.filter(**{f"{column}__in": keys}, **where_kwargs).order_by(*order_by)
    ours = await fetch_in(model, column, keys, where=where, order_by=order_by)
    assert reference, f"the demo data has no {model.__name__} rows for this shape"
    assert [row.pk for row in ours] == [row.pk for row in reference]
    for mine, theirs in zip(ours, reference, strict=True):
        for name in read_columns(model):
            field = model._meta.fields_db_projection_reverse[name]
            assert getattr(mine, field) == getattr(theirs, field)
        assert not any(hasattr(mine, name) for name in unread(model))
    assert await fetch_in(model, column, []) == []


VALUES = [
    (m.GrantedScope, "app_id", ("name",), ()),
    # an enum, a boolean and text, in the listing's order
    (
        m.ListingScope,
        "listing_id",
        ("name", "description", "required_tier", "required"),
        ("position", "id"),
    ),
    (m.ConnectedApp, "portal_id", ("installed_at", "uninstalled_at", "install_level"), ("id",)),
]


@pytest.mark.parametrize("shape", VALUES, ids=lambda shape: f"{shape[0].__name__}.{shape[1]}")
async def test_values_in_gives_the_values_the_orm_gives(demo, shape) -> None:
    model, column, fields, order_by = shape
    every = sorted(set(await model.all().values_list(column, flat=True)))
    keys = [*every[::2], 10**9]
    rows = await model.filter(**{f"{column}__in": keys}).order_by(*order_by)
    reference = [(getattr(row, column), *(getattr(row, f) for f in fields)) for row in rows]
    ours = await values_in(model, column, keys, fields, order_by=order_by)
    assert reference
    if order_by:
        assert ours == reference
    else:
        assert sorted(ours) == sorted(reference)
    for mine, theirs in zip(sorted(ours, key=repr), sorted(reference, key=repr), strict=True):
        assert [type(v) for v in mine] == [type(v) for v in theirs]
    assert await values_in(model, column, [], fields) == []
