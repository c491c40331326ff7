"""The row mapper (gateway/rows.py) builds the same models Tortoise builds: every field of every
row of every table of the demo data, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest

from gateway import models as m
from gateway.rows import fetch

# Every table the demo data fills (processed platform event ids are not demo data, and are
# never read through the mapper).
MODELS = [model for model in m.__models__ if model is not m.ProcessedEvent]


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.__name__)
async def test_every_row_maps_to_what_tortoise_builds(demo, model) -> None:
    # Given every row of a table, read by Tortoise and by the mapper
    reference = await model.all().order_by("id")
    mapped = await fetch(model.all().order_by("id"))
    fields = list(model._meta.fields_db_projection)
    # Then each field of each row is the same value of the same type
    assert len(mapped) == len(reference)
    assert reference, f"the demo data has no {model.__name__} rows to compare"
    for ours, theirs in zip(mapped, reference, strict=True):
        assert type(ours) is model
        for name in fields:
            a, b = getattr(ours, name), getattr(theirs, name)
            assert (a, type(a)) == (b, type(b)), (model.__name__, theirs.pk, name)
        assert ours.pk == theirs.pk
        assert ours._saved_in_db and not ours._partial
