"""The cycle collector's settings for a long-running server.

A page of the console builds tens of thousands of short-lived objects (rows, dicts, lists), so
with CPython's defaults the collector runs every 700 allocations and now and then walks the
whole heap, schema and ORM metadata included: about a quarter of a page's CPU time in
`make bench-page`. Freezing what start-up built takes it out of every later collection, and a
larger first threshold lets a request's garbage die by reference counting before the collector
looks at it. Only cycles are affected; memory freed by reference counting is freed as before.
"""

from __future__ import annotations

import gc

# Young objects between collections (CPython's default is 700). A page's own objects are
# freed by reference counting when its response is written; cycles wait a little longer.
# The count is allocations less deallocations, so it rises while pages are in flight: at 10,000,
# 16 concurrent My Apps pages set off a collection every few pages, each walking the in-flight
# pages' young objects (about 1.4 ms; 0.67 s of a 15 s load, some 4.5% of the CPU). At 100,000
# none starts under that load; the price is that up to 100,000 objects of cyclic garbage wait.
YOUNG_THRESHOLD = 100_000

_settled = False


def settle_after_startup() -> None:
    """Freeze what exists now (the schema, models, settings) and raise the thresholds, once
    per process: the collector is process-wide, whatever number of apps one process builds."""
    global _settled
    if _settled:
        return
    _settled = True
    gc.collect()
    gc.freeze()
    _young, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, max(older, 50), max(oldest, 50))
