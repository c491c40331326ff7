"""Relay global ids (gateway/ids.py): base64 of "TypeName:key", remembered per type."""

from __future__ import annotations

import base64

from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st

from gateway import ids


@examples(max_examples=200, derandomize=True, deadline=None)
@given(
    type_name=st.sampled_from(["ConnectedApp", "User", "AppLogEntry"]),
    pks=st.lists(st.integers(min_value=1, max_value=ids.MAX_KEY), max_size=20),
)
def test_ids_are_the_base64_of_type_and_key_and_decode_back(type_name, pks) -> None:
    expected = [base64.b64encode(f"{type_name}:{pk}".encode()).decode() for pk in pks]
    assert ids.global_ids(type_name, pks) == expected
    assert [ids.to_global_id(type_name, pk) for pk in pks] == expected
    assert [ids.from_global_id(i) for i in expected] == [(type_name, pk) for pk in pks]


def test_remembered_ids_are_bounded_and_stay_right_past_the_bound() -> None:
    # More keys than are remembered: the memory is emptied and filled again, never wrong.
    keys = range(1, ids._REMEMBERED + 100)
    found = ids.global_ids("Bounded", keys)
    assert len(ids._encoded["Bounded"]) <= ids._REMEMBERED
    assert found[0] == base64.b64encode(b"Bounded:1").decode()
    assert found[-1] == base64.b64encode(f"Bounded:{keys[-1]}".encode()).decode()
    assert ids.to_global_id("Bounded", 1) == found[0]
