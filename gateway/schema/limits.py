"""Request-level safety for GraphQL documents (DESIGN §3 "Safe defaults").

These run once per operation (parse, validate, execute hooks), never per field: per-field
hooks cost several times the execution of a large page.

Depth, aliases and the node count are computed here rather than with Strawberry's
QueryDepthLimiter / MaxAliasesLimiter: those expand every fragment spread again, so a few
hundred bytes of fragments spreading each other (`fragment A on Viewer { ...B ...B ...B }`, …)
cost time exponential in the number of fragments long before any limit applies. Here each
fragment is measured once per document (memoized), so every check is linear in its size.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from weakref import WeakKeyDictionary

from graphql import (
    SKIP,
    ArgumentNode,
    DirectiveNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
    VariableNode,
    Visitor,
    get_named_type,
    get_operation_ast,
    is_abstract_type,
    parse,
    print_schema,
    specified_rules,
    validate,
    value_from_ast_untyped,
    visit,
)
from graphql.execution.values import get_variable_values
from strawberry.extensions import AddValidationRules, SchemaExtension

from gateway.errors import ValidationFailed, set_code
from gateway.pagination import DEFAULT_PAGE_SIZE
from gateway.services.digests import MAX_ENTRIES

_VALIDATION_FAILED = {"code": "GRAPHQL_VALIDATION_FAILED"}


# ---- depth and aliases: a validation rule, so the answer is GRAPHQL_VALIDATION_FAILED


def _operation_label(operation: OperationDefinitionNode) -> str:
    return f"'{operation.name.value}'" if operation.name else "The operation"


def document_limits(max_depth: int, max_aliases: int) -> type[ValidationRule]:
    """A validation rule refusing operations deeper than `max_depth` or with more than
    `max_aliases` aliases.

    Depth counts the fields above the deepest field, as graphql-depth-limit and Strawberry do:
    `{ viewer { user { email } } }` is 2 deep; introspection is not counted (it is as deep as
    the type system, and only served with debug). Aliases are counted wherever they are,
    `__typename` and introspection included, since each one is more work, and where they
    execute: an alias inside a fragment counts once per spread."""

    class DocumentLimits(ValidationRule):
        def enter_document(self, node: DocumentNode, *_args: Any) -> None:
            fragments = {
                d.name.value: d for d in node.definitions if isinstance(d, FragmentDefinitionNode)
            }
            depths: dict[str, int] = {}
            aliases: dict[str, int] = {}
            busy: set[str] = set()  # fragment cycles are reported by NoFragmentCycles

            def measure(selection_set: SelectionSetNode) -> tuple[int, int]:
                depth = alias_count = 0
                for selection in selection_set.selections:
                    if isinstance(selection, FieldNode):
                        if selection.alias is not None:
                            alias_count += 1
                        if selection.selection_set is not None:
                            d, a = measure(selection.selection_set)
                            alias_count += a
                            if not selection.name.value.startswith("__"):
                                depth = max(depth, d + 1)
                    elif isinstance(selection, InlineFragmentNode):
                        d, a = measure(selection.selection_set)
                        depth, alias_count = max(depth, d), alias_count + a
                    elif isinstance(selection, FragmentSpreadNode):
                        d, a = spread(selection.name.value)
                        depth, alias_count = max(depth, d), alias_count + a
                return depth, alias_count

            def spread(name: str) -> tuple[int, int]:
                if name not in depths:
                    fragment = fragments.get(name)
                    if fragment is None or name in busy:
                        return 0, 0
                    busy.add(name)
                    depths[name], aliases[name] = measure(fragment.selection_set)
                    busy.discard(name)
                return depths[name], aliases[name]

            for definition in node.definitions:
                if not isinstance(definition, OperationDefinitionNode):
                    continue
                depth, alias_count = measure(definition.selection_set)
                label = _operation_label(definition)
                if depth > max_depth:
                    self.report_error(
                        GraphQLError(
                            f"{label} is {depth} levels deep; the limit is {max_depth}.",
                            definition,
                            extensions=_VALIDATION_FAILED,
                        )
                    )
                if alias_count > max_aliases:
                    self.report_error(
                        GraphQLError(
                            f"{label} uses {alias_count} aliases; the limit is {max_aliases}.",
                            definition,
                            extensions=_VALIDATION_FAILED,
                        )
                    )

    return DocumentLimits


def document_limits_extension(max_depth: int, max_aliases: int) -> Any:
    """A factory for the schema's extension list. The rule class is made once, so the
    validation cache (keyed by the rules) is shared by every request."""
    rule = document_limits(max_depth, max_aliases)
    return lambda: AddValidationRules([rule])


def document_check(
    schema: GraphQLSchema, max_tokens: int, max_depth: int, max_aliases: int
) -> Callable[[str], str | None]:
    """What a document that must be known good before any request (a trusted manifest's) is
    checked with: the parser's token limit, the schema's validation and the document limits.
    The check returns the first problem, or None.

    A check is a function of the schema's text, the limits and the document alone, so its
    answers are remembered per schema text and limits for the life of the process: every app
    checks the console's documents as it is made (twice, a third of a second), and a process
    that makes many apps (the test suite makes hundreds) pays for it once."""
    rules = [*specified_rules, document_limits(max_depth, max_aliases)]
    known = _known_problems.setdefault(
        (_schema_text_hash(schema), max_tokens, max_depth, max_aliases), {}
    )

    def check(text: str) -> str | None:
        if text in known:
            return known[text]
        try:
            document = parse(text, max_tokens=max_tokens)
        except GraphQLError as exc:
            problem: str | None = exc.message
        else:
            errors = validate(schema, document, rules)
            problem = errors[0].message if errors else None
        if len(known) < _KNOWN_PER_CHECK:
            known[text] = problem
        return problem

    return check


# Bounded: a process checks its console's documents and its trusted manifests, under one or
# two sets of limits.
_KNOWN_PER_CHECK = 10_000
_known_problems: dict[tuple[str, int, int, int], dict[str, str | None]] = {}
_schema_text_hashes: WeakKeyDictionary[GraphQLSchema, str] = WeakKeyDictionary()


def _schema_text_hash(schema: GraphQLSchema) -> str:
    """Schemas built from the same code print the same text (and validate alike)."""
    digest = _schema_text_hashes.get(schema)
    if digest is None:
        digest = hashlib.sha256(print_schema(schema).encode()).hexdigest()
        _schema_text_hashes[schema] = digest
    return digest


# ---- node count: needs the variables, so it runs before execution rather than in validation


def _is_connection(named: GraphQLNamedType) -> bool:
    """A Relay connection by its shape; not by its name (`AppConnection` is a node type)."""
    return isinstance(named, GraphQLObjectType) and {"edges", "pageInfo"} <= named.fields.keys()


def _number(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# Plain lists that can be long count like pages, so pages nested under them are bounded too
# (short lists such as scopes or alerts count as one level): a digest shows at most 100 entries;
# a rule's selections are counted as 100 (a cost estimate, as GitHub's is).
BOUNDED_LISTS = {
    ("Notification", "entries"): MAX_ENTRIES,
    ("NotificationRule", "apps"): 100,
    ("NotificationRule", "users"): 100,
    ("NotificationRule", "teams"): 100,
}


def count_nodes(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: dict[str, Any] | None,
    operation_name: str | None,
    *,
    default_page_size: int = DEFAULT_PAGE_SIZE,
) -> int:
    """How many nodes an operation may return at most, GitHub-style: each field that returns a
    page (a connection, or any field taking `first`/`last`) returns its page size (`first` or
    `last`, variables filled in; the default page size when omitted) for each of its parents,
    and `nodes(ids:)` one node per id; the total is the sum over those fields.

    `connectedApps(first: 100) { nodes { log(first: 100) { nodes { app { connections(first: 10)
    { nodes { id } } } } } } }` is 100 + 100·100 + 100·100·10 = 110,100.

    Fields are merged as execution merges them (same response key, fragments included), so a
    connection selected by two fragments counts once; @skip/@include are honoured; under an
    abstract type the largest of its possible types counts. 0 when the operation or its
    variables are invalid: execution reports those."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return 0
    coerced = get_variable_values(schema, operation.variable_definitions or (), variables or {})
    if isinstance(coerced, list):
        return 0
    # graphql-core 3.3 wraps the coerced values; 3.2 returned the dict itself.
    values: dict[str, Any] = getattr(coerced, "coerced", coerced)  # type: ignore[arg-type]  # see above
    return count_operation_nodes(
        schema, document, operation, values, default_page_size=default_page_size
    )


def count_operation_nodes(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    values: dict[str, Any],
    *,
    default_page_size: int = DEFAULT_PAGE_SIZE,
) -> int:
    """`count_nodes` of one operation of `document`, its variables already coerced."""
    root = schema.get_root_type(operation.operation)
    if root is None:
        return 0
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    memo: dict[tuple[str, tuple[int, ...]], int] = {}

    def included(node: Any) -> bool:
        for directive in node.directives or ():
            name = directive.name.value
            if name not in ("skip", "include"):
                continue
            condition = next(
                (a.value for a in directive.arguments or () if a.name.value == "if"), None
            )
            flag = value_from_ast_untyped(condition, values) if condition is not None else None
            if isinstance(flag, bool) and flag == (name == "skip"):
                return False
        return True

    def applies(type_condition: Any, runtime: GraphQLObjectType) -> bool:
        if type_condition is None:
            return True
        condition = schema.get_type(type_condition.name.value)
        if condition is None:
            return False
        if condition is runtime:
            return True
        return is_abstract_type(condition) and schema.is_sub_type(condition, runtime)

    def collect(
        selection_sets: list[SelectionSetNode], runtime: GraphQLObjectType
    ) -> dict[str, list[FieldNode]]:
        """The fields each response key of these selection sets executes, as execution merges them."""
        fields: dict[str, list[FieldNode]] = {}
        visited: set[str] = set()

        def add(selection_set: SelectionSetNode) -> None:
            for selection in selection_set.selections:
                if not included(selection):
                    continue
                if isinstance(selection, FieldNode):
                    key = (selection.alias or selection.name).value
                    fields.setdefault(key, []).append(selection)
                elif isinstance(selection, InlineFragmentNode):
                    if applies(selection.type_condition, runtime):
                        add(selection.selection_set)
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    fragment = fragments.get(name)
                    if name in visited or fragment is None:
                        continue
                    visited.add(name)
                    if applies(fragment.type_condition, runtime):
                        add(fragment.selection_set)

        for selection_set in selection_sets:
            add(selection_set)
        return fields

    def page(
        parent: str, field: GraphQLField, node: FieldNode, named: GraphQLNamedType
    ) -> int | None:
        """How many items the field returns per parent; None: not a list this counts."""
        if (parent, node.name.value) in BOUNDED_LISTS:
            return BOUNDED_LISTS[(parent, node.name.value)]
        args = {a.name.value: value_from_ast_untyped(a.value, values) for a in node.arguments or ()}
        if "ids" in field.args and isinstance(args.get("ids"), list):
            return len(args["ids"])
        if "first" in field.args or "last" in field.args or _is_connection(named):
            sizes = [
                n
                for n in (_number(args.get("first")), _number(args.get("last")))
                if n is not None and n >= 0
            ]
            return max(sizes) if sizes else default_page_size
        return None

    def unit(selection_sets: list[SelectionSetNode], named: GraphQLNamedType) -> int:
        """Nodes below one object of type `named` selected by these selection sets."""
        if is_abstract_type(named):
            possible = schema.get_possible_types(named)
            return max((unit_of(selection_sets, t) for t in possible), default=0)
        if isinstance(named, GraphQLObjectType):
            return unit_of(selection_sets, named)
        return 0

    def unit_of(selection_sets: list[SelectionSetNode], runtime: GraphQLObjectType) -> int:
        key = (runtime.name, tuple(id(s) for s in selection_sets))
        if key in memo:
            return memo[key]
        memo[key] = 0  # a guard only: valid documents have no fragment cycles
        total = 0
        for nodes in collect(selection_sets, runtime).values():
            field = runtime.fields.get(nodes[0].name.value)
            if field is None:  # __typename and introspection
                continue
            named = get_named_type(field.type)
            size = page(runtime.name, field, nodes[0], named)
            below = [n.selection_set for n in nodes if n.selection_set is not None]
            inner = unit(below, named) if below else 0
            total += (size or 0) + (1 if size is None else size) * inner
        memo[key] = total
        return total

    return unit_of([operation.selection_set], root)


def node_count_variables(document: DocumentNode) -> frozenset[str]:
    """The variables `count_operation_nodes` reads: those in `first`, `last` and `ids`
    arguments and in `@skip`/`@include` conditions (its count depends on no other value)."""
    names: set[str] = set()

    class Finder(Visitor):
        def enter_argument(self, node: ArgumentNode, *_args: Any) -> None:
            if node.name.value in _COUNTED_ARGUMENTS:
                visit(node.value, Collector())

        def enter_directive(self, node: DirectiveNode, *_args: Any) -> Any:
            if node.name.value in ("skip", "include"):
                visit(node, Collector())
            return SKIP  # the arguments of other directives count nothing

    class Collector(Visitor):
        def enter_variable(self, node: VariableNode, *_args: Any) -> None:
            names.add(node.name.value)

    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode | FragmentDefinitionNode):
            visit(definition.selection_set, Finder())
    return frozenset(names)


_COUNTED_ARGUMENTS = frozenset({"first", "last", "ids"})


def _shown(count: int) -> str:
    return f"{count:,}" if count < 10**12 else "more than 10^12"


def node_limit(max_nodes: int, default_page_size: int = DEFAULT_PAGE_SIZE) -> type[SchemaExtension]:
    class NodeLimit(SchemaExtension):
        """Refuses operations that could return more than `max_nodes` nodes. Runs before
        execution (not as a validation rule) because the count needs the variables. It raises
        rather than setting a result: Strawberry answers an error raised here with that error,
        for subscriptions too, which ignore a result set by an extension.

        The count is also what the operation costs: the request's ticket (gateway/policy.py),
        when it has one, is charged here, the last step before execution."""

        async def on_execute(self) -> AsyncIterator[None]:
            ctx = self.execution_context
            if ctx.graphql_document is not None and not ctx.result:
                total = count_nodes(
                    ctx.schema._schema,
                    ctx.graphql_document,
                    ctx.variables,
                    ctx.operation_name,
                    default_page_size=default_page_size,
                )
                if total > max_nodes:
                    raise ValidationFailed(
                        f"This query may return up to {_shown(total)} nodes; the limit "
                        f"is {max_nodes:,}. Ask for smaller pages (first/last)."
                    )
                ticket = getattr(ctx.context, "ticket", None)
                if ticket is not None:
                    await ticket.admit(ctx.operation_type.value, ctx.operation_name, total)
            yield

    return NodeLimit


class TagValidationErrors(SchemaExtension):
    """Marks errors found by validation, which graphql-core leaves without a code."""

    def on_validate(self) -> Iterator[None]:
        yield
        for error in self.execution_context.pre_execution_errors or []:
            set_code(error, "GRAPHQL_VALIDATION_FAILED")
