"""Fault injection: a small schema of its own whose resolvers misbehave on purpose (None for
non-null fields, in objects and in lists of non-null items; raising; wrong scalars; objects of
an unexpected type for abstract fields and for a type with `is_type_of`; batch functions that
raise or return the wrong number of values), nested under lists and non-null positions so
nulls propagate. Our executor must answer exactly as graphql-core does, under issue 9's
comparison (tests/executor_support.py)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import pytest
import strawberry
from strawberry.schema.config import StrawberryConfig

from gateway.errors import present_errors
from gateway.executor import FastExecutor
from gateway.executor.batch import batch_field, batched, load
from gateway.loaders import Loaders
from gateway.schema.schema import GatewaySchema
from tests.executor_support import Answer, differences

pytestmark = [
    # graphql-core leaves the coroutines of sibling fields unawaited when a null propagates
    # past them (the reference's habit): collected when the module ends, where this filter
    # applies (tests/conftest.py).
    pytest.mark.filterwarnings(
        r"ignore:Exception ignored in. <coroutine object (Executor|GraphQLCoreConverter)\.:pytest.PytestUnraisableExceptionWarning"
    ),
    pytest.mark.usefixtures("abandoned_coroutines_collected"),
]


@dataclass
class Row:
    """One item's value: `index` decides which of its fields misbehave."""

    index: int


class Stranger:
    """An object no GraphQL type claims."""

    name = "stranger"
    size = 1
    value = 1


@dataclass
class CheckedRow:
    value: int


@strawberry.interface
class Thing:
    name: str


@strawberry.type
class Good(Thing):
    size: int


@strawberry.type
class Other(Thing):
    colour: str


Pet = Annotated[Good | Other, strawberry.union("Pet")]


@strawberry.type
class Checked:
    value: int

    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, CheckedRow)


# Batch functions: one value per parent, in order (an Exception fails that parent only).


async def doubled(_ctx: Any, rows: Sequence[Row]) -> list[Any]:
    return [row.index * 2 for row in rows]


async def raising(_ctx: Any, rows: Sequence[Row]) -> list[Any]:
    raise RuntimeError("the batch failed")


async def one_short(_ctx: Any, rows: Sequence[Row]) -> list[Any]:
    return [row.index for row in rows][:-1]


async def one_too_many(_ctx: Any, rows: Sequence[Row]) -> list[Any]:
    return [*(row.index for row in rows), 99]


async def second_fails(_ctx: Any, rows: Sequence[Row]) -> list[Any]:
    return [ValueError("this one failed") if row.index == 1 else row.index for row in rows]


async def second_missing(_ctx: Any, rows: Sequence[Row]) -> list[Any]:
    return [None if row.index == 1 else row.index for row in rows]


async def scaled(_ctx: Any, rows: Sequence[Row], by: int = 1) -> list[Any]:
    if by < 0:
        raise ValueError("by must not be negative")
    return [row.index * by for row in rows]


@strawberry.type
class Item:
    """Resolvers below return what their annotations refuse on purpose: the faults under test
    (hence their `type: ignore`s). A `Row` stands in for an Item: the resolvers read `index`."""

    index: int

    @strawberry.field
    def required(self) -> int:
        return None if self.index == 1 else self.index  # type: ignore[return-value]  # the fault: null for Int!

    @strawberry.field
    async def required_async(self) -> int:
        return None if self.index == 1 else self.index  # type: ignore[return-value]  # the fault: null for Int!

    @strawberry.field
    def maybe(self) -> int | None:
        if self.index == 1:
            raise ValueError("maybe failed")
        return self.index

    @strawberry.field
    async def must(self) -> int:
        if self.index == 2:
            raise ValueError("must failed")
        return self.index

    @strawberry.field
    def wrong(self) -> int:
        return "abc" if self.index == 1 else self.index  # type: ignore[return-value]  # the fault: a string for an Int

    @strawberry.field
    def wrong_nullable(self) -> int | None:
        return "abc" if self.index == 1 else self.index  # type: ignore[return-value]  # the fault: a string for an Int

    @strawberry.field
    def huge(self) -> int | None:
        return 2**40

    @strawberry.field
    def strict(self) -> list[int]:
        return [1, None, 3] if self.index == 1 else [1, 2]  # type: ignore[list-item]  # the fault: a null in [Int!]

    @strawberry.field
    def loose(self) -> list[int | None]:
        return [1, None, 3]

    @strawberry.field
    def not_a_list(self) -> list[int] | None:
        return 5 if self.index == 1 else [self.index]  # type: ignore[return-value]  # the fault: a scalar for a list

    @strawberry.field
    def thing(self) -> Thing | None:
        if self.index == 1:
            return Stranger()  # type: ignore[return-value]  # the fault: an object no type claims
        return (
            Good(name="good", size=self.index)
            if self.index % 2 == 0
            else Other(name="o", colour="red")
        )

    @strawberry.field
    def things(self) -> list[Thing]:
        return [Good(name="g", size=1), Stranger()] if self.index == 1 else []  # type: ignore[list-item]  # the fault: an object no type claims

    @strawberry.field
    def pet(self) -> Pet:
        return Stranger() if self.index == 1 else Good(name="g", size=2)  # type: ignore[return-value]  # the fault: an object no type claims

    @strawberry.field
    def checked(self) -> Checked | None:
        return Stranger() if self.index == 1 else CheckedRow(self.index)  # type: ignore[return-value]  # CheckedRow passes is_type_of; Stranger fails it

    @strawberry.field
    def must_check(self) -> Checked:
        return Stranger() if self.index == 2 else CheckedRow(self.index)  # type: ignore[return-value]  # CheckedRow passes is_type_of; Stranger fails it

    batch_ok: int = batch_field(doubled, description="Twice the index.")
    batch_raises: int | None = batch_field(raising, description="A batch that raises.")
    batch_raises_required: int = batch_field(raising, description="Non-null, raising.")
    batch_short: int | None = batch_field(one_short, description="One value short.")
    batch_long: int | None = batch_field(one_too_many, description="One value too many.")
    batch_partial: int | None = batch_field(second_fails, description="The second fails.")
    batch_partial_required: int = batch_field(second_fails, description="Non-null.")
    batch_none_required: int = batch_field(second_missing, description="None for the second.")

    @strawberry.field(metadata=batched(scaled))
    async def batch_scaled(self, info: strawberry.Info, by: int = 1) -> int:
        return await load(info, scaled, self, by=by)

    @strawberry.field
    def children(self) -> list[Item | None]:
        return [Row(i) for i in range(3)] if self.index == 0 else []  # type: ignore[misc]  # a Row stands in for an Item


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item | None]:
        return [Row(i) for i in range(4)]  # type: ignore[misc]  # a Row stands in for an Item

    @strawberry.field
    def strict_items(self) -> list[Item] | None:
        return [Row(i) for i in range(4)]  # type: ignore[misc]  # a Row stands in for an Item

    @strawberry.field
    async def grid(self) -> list[list[Item | None]] | None:
        return [[Row(i), Row(i + 1)] for i in range(3)]  # type: ignore[list-item]  # a Row stands in for an Item

    @strawberry.field
    def one(self, index: int = 1) -> Item:
        return Row(index)  # type: ignore[return-value]  # a Row stands in for an Item

    @strawberry.field
    def maybe_one(self, index: int = 1) -> Item | None:
        return Row(index)  # type: ignore[return-value]  # a Row stands in for an Item

    @strawberry.field
    async def boom(self) -> int | None:
        raise RuntimeError("secret detail")

    @strawberry.field
    def ok(self) -> str:
        return "ok"


def _schema(fast: bool) -> GatewaySchema:
    schema = GatewaySchema(query=Query, config=StrawberryConfig(auto_camel_case=True))
    if fast:
        schema.fast_executor = FastExecutor(schema)
    return schema


FAST = _schema(fast=True)
REFERENCE = _schema(fast=False)


@dataclass
class Context:
    """What batch fields need of a request: its loaders (graphql-core's way to them)."""

    loaders: Loaders = field(default_factory=Loaders)


_request_ids = itertools.count(1)


async def _answer(
    schema: GatewaySchema, query: str, variables: dict[str, Any] | None, rid: str
) -> Answer:
    result = await schema.execute(query, variable_values=variables, context_value=Context())
    errors = present_errors(list(result.errors or []), rid, debug=False)
    body: dict[str, Any] = {"data": result.data}
    if errors:
        body["errors"] = [e.formatted for e in errors]
    return Answer(200, body)


async def both(query: str, variables: dict[str, Any] | None = None) -> tuple[Answer, Answer]:
    """The document on both executors, asserted to agree; both answers."""
    rid = f"faults-{next(_request_ids)}"
    fast = await _answer(FAST, query, variables, rid)
    reference = await _answer(REFERENCE, query, variables, rid)
    found = differences(fast, reference)
    assert not found, "\n".join([f"document:\n{query}", f"variables: {variables}", *found])
    return fast, reference


async def test_the_fast_schema_runs_on_our_executor() -> None:
    # Given the fast side's executor, which counts what it hands to graphql-core
    executor = FAST.fast_executor
    assert executor is not None and REFERENCE.fast_executor is None
    before = executor.plans.fallbacks
    # When a faulty document runs
    await both("{ ok items { index required batchShort } }")
    # Then our engine ran it: nothing fell back
    assert executor.plans.fallbacks == before


ALL = """index required requiredAsync maybe must wrong wrongNullable huge strict loose notAList
  thing { __typename name ... on Good { size } ... on Other { colour } }
  things { name }
  pet { __typename ... on Good { size } }
  checked { value } mustCheck { value }
  batchOk batchRaises batchRaisesRequired batchShort batchLong batchPartial
  batchPartialRequired batchNoneRequired batchScaled(by: 3)"""

FIELDS = [
    *ALL.split("\n")[0].split(),
    "thing { __typename name ... on Good { size } ... on Other { colour } }",
    "things { name }",
    "pet { __typename ... on Good { size } }",
    "checked { value }",
    "mustCheck { value }",
    "batchOk",
    "batchRaises",
    "batchRaisesRequired",
    "batchShort",
    "batchLong",
    "batchPartial",
    "batchPartialRequired",
    "batchNoneRequired",
    "batchScaled(by: 3)",
    "batchScaled(by: -1)",
    "a: batchScaled(by: 2) b: batchScaled(by: 5) c: batchScaled",
]

# Each field alone and all together, under each kind of parent position.
PLACES = {
    "list of nullable items": "{ ok items { %s } }",
    "non-null items of a nullable list": "{ ok strictItems { %s } }",
    "non-null root object": "{ ok one { %s } }",
    "nullable root object": "{ ok maybeOne(index: 2) { %s } }",
    "nested lists": "{ ok grid { %s } }",
    "children of list items": "{ ok items { index children { %s } } }",
}


@pytest.mark.parametrize("place", list(PLACES))
@pytest.mark.parametrize("selection", [*FIELDS, ALL], ids=lambda s: s.split()[0][:30])
async def test_faults_agree(place: str, selection: str) -> None:
    await both(PLACES[place] % selection)


async def test_faults_actually_happen() -> None:
    """The comparison is not vacuous: these documents do produce nulls and errors."""
    fast, _ = await both(PLACES["list of nullable items"] % ALL)
    assert fast.body["data"] == {"ok": "ok", "items": [None, None, None, None]}
    fast, _ = await both("{ items { index maybe wrongNullable batchPartial } }")
    assert fast.body["data"]["items"][1] == {
        "index": 1,
        "maybe": None,
        "wrongNullable": None,
        "batchPartial": None,
    }
    assert {tuple(e["path"]) for e in fast.body["errors"]} == {
        ("items", 1, "maybe"),
        ("items", 1, "wrongNullable"),
        ("items", 1, "batchPartial"),
    }


async def test_objects_whose_every_selection_is_skipped_are_empty_alike() -> None:
    fast, _ = await both(
        "query ($s: Boolean!) { items { index @skip(if: $s) } one(index: 0) { index @skip(if: $s) } }",
        {"s": True},
    )
    assert fast.body == {"data": {"items": [{}, {}, {}, {}], "one": {}}}


async def test_a_raising_resolver_is_masked_alike() -> None:
    fast, _ = await both("{ ok boom }")
    [error] = fast.body["errors"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert "secret" not in str(fast.body)


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("query ($i: Int!) { one(index: $i) { index required maybe } }", {"i": 1}),
        ("query ($i: Int!) { one(index: $i) { index required maybe } }", {"i": "x"}),
        ("query ($i: Int = 2) { maybeOne(index: $i) { must batchPartialRequired } }", {}),
        ("query ($i: Int) { maybeOne(index: $i) { index } }", {"i": None}),
        ("{ one(index: 3) { children { index } } items { children { required } } }", None),
    ],
)
async def test_faults_with_variables(query: str, variables: dict[str, Any] | None) -> None:
    await both(query, variables)
