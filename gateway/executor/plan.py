"""Plans: what a validated operation selects, worked out once and kept.

A plan holds, per object type, the fields a selection set executes, merged per response key
exactly as graphql-core's CollectFields merges them (it is graphql-core's own
`collect_fields`/`collect_subfields` that does the work), with each field's definition, return
type and how its values are produced. What a selection set executes depends only on the
document, the operation and the variables that `@skip`/`@include` read, so plans are cached
under those; argument values are coerced per request.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from graphql import (
    DirectiveNode,
    DocumentNode,
    FieldNode,
    GraphQLField,
    GraphQLLeafType,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    OperationDefinitionNode,
    VariableNode,
    Visitor,
    get_named_type,
    is_abstract_type,
    is_leaf_type,
    is_non_null_type,
    is_object_type,
    visit,
)
from graphql.execution.collect_fields import (
    FieldDetailsList,
    FragmentDetails,
    collect_fields,
    collect_subfields,
)
from graphql.execution.values import VariableValues

from gateway.executor.arguments import Arguments
from gateway.executor.batch import batch_of, facts_of

log = logging.getLogger("gateway.executor")

# Caches keyed by document (plans, and what checks find in a document) keep documents of up to
# this many characters of text. A document holds its whole text (through its nodes'
# locations), and a request body may be 1 MiB: a thousand padded texts must not hold a GiB.
MAX_CACHED_TEXT = 64 * 1024


def cacheable(document: DocumentNode) -> bool:
    """Whether caches may keep `document` (its text is at most MAX_CACHED_TEXT long)."""
    return document.loc is None or len(document.loc.source.body) <= MAX_CACHED_TEXT


V = TypeVar("V")


class ByDocument(Generic[V]):
    """Values worked out from a parsed document, kept per document object (and a further key,
    such as an operation name), at most `maxsize` of them, for cacheable texts only. An entry
    holds its document, so the id it is keyed by stays that document's; the parser cache hands
    out one object per text."""

    def __init__(self, maxsize: int = 1000) -> None:
        self.maxsize = maxsize
        self._entries: dict[tuple[int, Hashable], tuple[DocumentNode, V]] = {}

    def get(self, document: DocumentNode, key: Hashable = None) -> V | None:
        entry = self._entries.get((id(document), key))
        return entry[1] if entry is not None and entry[0] is document else None

    def put(self, document: DocumentNode, value: V, key: Hashable = None) -> V:
        if cacheable(document):
            if len(self._entries) >= self.maxsize:
                self._entries.clear()
            self._entries[(id(document), key)] = (document, value)
        return value


TYPENAME = "__typename"
# Root fields the engine leaves to graphql-core (introspection is rare and not hot).
_INTROSPECTION = frozenset({"__schema", "__type"})


@dataclass(eq=False)
class FieldPlan:
    """One response key of a selection set on one object type."""

    key: str
    name: str
    details: FieldDetailsList
    nodes: list[FieldNode]
    parent_type: GraphQLObjectType
    definition: GraphQLField | None  # None for __typename
    # The field's batch resolver, when it declares one (gateway/executor/batch.py), and the
    # Strawberry field that says how its arguments convert to Python values.
    batch: Callable[..., Any] | None = None
    strawberry_field: Any = None
    # The batch resolver's argument conversion, made when the field first runs.
    convert_arguments: Arguments | None = None
    # The attribute a field without a resolver reads (Strawberry's default resolver), and
    # when that field is of a leaf type (maybe non-null, not a list), the type and attribute.
    attribute: str | None = None
    leaf_type: GraphQLLeafType | None = None
    leaf_attribute: str | None = None

    def __post_init__(self) -> None:
        if self.attribute is not None and self.definition is not None:
            named = self.definition.type
            if is_non_null_type(named):
                named = named.of_type
            if is_leaf_type(named):
                self.leaf_type, self.leaf_attribute = named, self.attribute

    # Sub-selections per concrete object type, collected on first use.
    children: dict[str, list[FieldPlan]] = field(default_factory=dict)

    @property
    def return_type(self) -> GraphQLOutputType:
        assert self.definition is not None
        return self.definition.type


class Plan:
    """The executable shape of one operation under one set of `@skip`/`@include` values."""

    def __init__(
        self,
        schema: GraphQLSchema,
        operation: OperationDefinitionNode,
        fragments: dict[str, FragmentDetails],
        variable_values: VariableValues,
    ) -> None:
        self.schema = schema
        self.operation = operation
        self.fragments = fragments
        # Only the @skip/@include values of these are read while collecting, and the plan is
        # cached under exactly those, so any request's variables collect the same fields.
        self._variable_values = variable_values
        self.fallback: str | None = None
        self.root_type = schema.get_root_type(operation.operation)
        self.root_fields: list[FieldPlan] = []
        if self.root_type is None:
            self.fallback = f"the schema has no {operation.operation.value} type"
            return
        if operation.directives:
            self.fallback = "directives on the operation"
            return
        collected = collect_fields(
            schema, fragments, variable_values, self.root_type, operation
        ).grouped_field_set
        if _INTROSPECTION & {details[0].node.name.value for details in collected.values()}:
            self.fallback = "introspection"
            return
        self.root_fields = self._fields(self.root_type, collected)

    def children(self, parent: FieldPlan, runtime_type: GraphQLObjectType) -> list[FieldPlan]:
        """The fields a value of `runtime_type` in `parent`'s position executes."""
        fields = parent.children.get(runtime_type.name)
        if fields is None:
            collected = collect_subfields(
                self.schema,
                self.fragments,
                self._variable_values,
                self.operation,
                runtime_type,
                parent.details,
            ).grouped_field_set
            fields = parent.children[runtime_type.name] = self._fields(runtime_type, collected)
        return fields

    def viewer_facts(self) -> frozenset[str]:
        """The viewer facts declared by the fields this plan can execute, at any depth and on
        every concrete type an abstract position may hold: viewers who agree on these get the
        same answer."""
        facts: set[str] = set()
        walked: set[tuple[int, str]] = set()
        pending = list(self.root_fields)
        while pending:
            field_plan = pending.pop()
            if field_plan.definition is None:
                continue
            facts.update(facts_of(getattr(field_plan.strawberry_field, "metadata", None)))
            named = get_named_type(field_plan.definition.type)
            if is_object_type(named):
                runtime_types: Any = [named]
            elif is_abstract_type(named):
                runtime_types = self.schema.get_possible_types(named)
            else:
                continue
            for runtime_type in runtime_types:
                if (id(field_plan), runtime_type.name) not in walked:
                    walked.add((id(field_plan), runtime_type.name))
                    pending.extend(self.children(field_plan, runtime_type))
        return frozenset(facts)

    @staticmethod
    def _fields(
        parent_type: GraphQLObjectType, collected: dict[str, FieldDetailsList]
    ) -> list[FieldPlan]:
        fields = []
        for key, details in collected.items():
            name = details[0].node.name.value
            nodes = [d.node for d in details]
            if name == TYPENAME:
                fields.append(FieldPlan(key, name, details, nodes, parent_type, None))
                continue
            definition = parent_type.fields.get(name)
            if definition is None:  # validation refuses unknown fields; graphql-core skips them
                continue
            strawberry_field = (definition.extensions or {}).get("strawberry-definition")
            fields.append(
                FieldPlan(
                    key,
                    name,
                    details,
                    nodes,
                    parent_type,
                    definition,
                    batch=batch_of(getattr(strawberry_field, "metadata", None)),
                    strawberry_field=strawberry_field,
                    attribute=_attribute(definition, strawberry_field),
                )
            )
        return fields


def _attribute(definition: GraphQLField, strawberry_field: Any) -> str | None:
    """The attribute a plain field reads, when reading it is all its resolver does."""
    resolve = definition.resolve
    if (
        getattr(resolve, "_is_default", False)
        and strawberry_field is not None
        and strawberry_field.default_resolver is getattr
    ):
        name: str = strawberry_field.python_name
        return name
    return None


def skip_include_variables(document: DocumentNode) -> frozenset[str]:
    """The variables `@skip`/`@include` read anywhere in the document."""
    names: set[str] = set()

    class Finder(Visitor):
        def enter_directive(self, node: DirectiveNode, *_args: Any) -> None:
            if node.name.value in ("skip", "include"):
                for argument in node.arguments or ():
                    if isinstance(argument.value, VariableNode):
                        names.add(argument.value.name.value)

    visit(document, Finder())
    return frozenset(names)


class PlanCache:
    """Plans by (document, operation name, @skip/@include variable values), least recently
    used first out. The document is the parsed object itself: the parser cache hands out the
    same object for the same text, and the entry holds it, so its identity is stable."""

    def __init__(self, maxsize: int = 1000) -> None:
        self.maxsize = maxsize
        self._plans: OrderedDict[Hashable, tuple[DocumentNode, Plan]] = OrderedDict()
        self._directive_variables: ByDocument[frozenset[str]] = ByDocument(maxsize)
        self.fallbacks = 0

    def get(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        fragments: dict[str, FragmentDetails],
        variable_values: VariableValues,
    ) -> Plan:
        names = self._variables_of(document)
        coerced = variable_values.coerced
        key = (
            id(document),
            operation.name.value if operation.name else None,
            tuple(sorted((n, _hashable(coerced.get(n))) for n in names)),
        )
        entry = self._plans.get(key)
        if entry is not None and entry[0] is document:
            self._plans.move_to_end(key)
            return entry[1]
        # The plan keeps only the variables that steer directives, not a request's others.
        steering = VariableValues(
            {n: s for n, s in variable_values.sources.items() if n in names},
            {n: v for n, v in coerced.items() if n in names},
        )
        plan = Plan(schema, operation, fragments, steering)
        if plan.fallback is not None:
            self.fallbacks += 1
            log.info("executed by graphql-core: %s", plan.fallback)
        if cacheable(document):
            self._plans[key] = (document, plan)
            if len(self._plans) > self.maxsize:
                self._plans.popitem(last=False)
        return plan

    def _variables_of(self, document: DocumentNode) -> frozenset[str]:
        names = self._directive_variables.get(document)
        if names is None:
            names = self._directive_variables.put(document, skip_include_variables(document))
        return names


def _hashable(value: Any) -> Hashable:
    return value if isinstance(value, Hashable) else repr(value)
