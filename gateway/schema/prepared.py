"""Documents that have passed every check made before execution, kept so that the same text
sent again runs without Strawberry's per-request pipeline.

A console sends the same few documents all day. Strawberry's `execute` parses (cached),
validates (cached) and enters eight extension hooks around every request, about a tenth of the
CPU time of the App log page. Most of what those hooks check is a property of the text: once a
text has passed them all, what is left to check per request is what depends on the request,
and the prepared path (`GatewaySchema.execute`) checks exactly that:

- the operation type the transport allows (GET runs queries only);
- the node count, which reads the variables (`first`, `last`, `ids`, remembered per values);
- the variables themselves, which the executor coerces as it always does.

Anything else goes the full way, which answers it as before: a text not seen yet, a node
count over the limit, invalid variables for the count, texts longer than 64 KiB, and texts
whose `@skip`/`@include` read variables (their conditions are checked per request by
`DirectiveConditionsHaveValues`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from graphql import DocumentNode, GraphQLSchema, OperationDefinitionNode, get_operation_ast
from graphql.execution.values import get_variable_values
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from gateway.executor.plan import cacheable
from gateway.schema.limits import count_operation_nodes, node_count_variables
from gateway.schema.operation_checks import DirectiveConditionsHaveValues

# Node counts remembered per document, by the values of the variables they read.
_COUNTS_PER_DOCUMENT = 64


@dataclass(eq=False)
class Prepared:
    """A text (and operation name) that passed parsing, validation and the checks before
    execution, with what per-request checks need."""

    document: DocumentNode
    operation: OperationDefinitionNode
    operation_type: OperationType  # Strawberry's, as transports allow them
    counted: tuple[str, ...]  # the variables the node count reads
    counts: dict[tuple[tuple[str, str], ...], int] = field(default_factory=dict)


class PreparedDocuments:
    """Prepared texts by (text, operation name as sent), least recently used first out."""

    def __init__(self, max_nodes: int, maxsize: int = 1000) -> None:
        self.max_nodes = max_nodes
        self.maxsize = maxsize
        self._entries: OrderedDict[tuple[str, str | None], Prepared] = OrderedDict()

    def get(self, query: str | None, operation_name: str | None) -> Prepared | None:
        if query is None:
            return None
        key = (query, operation_name)
        prepared = self._entries.get(key)
        if prepared is not None:
            self._entries.move_to_end(key)
        return prepared

    def remember(
        self,
        query: str,
        operation_name: str | None,
        document: DocumentNode,
        operation: OperationDefinitionNode | None,
    ) -> None:
        if (
            (query, operation_name) in self._entries  # back the full way: over the limit, say
            or operation is None
            or not cacheable(document)
            or operation.operation.value == OperationType.SUBSCRIPTION.value
            or DirectiveConditionsHaveValues.conditions_with_variables(document)
        ):
            return
        self._entries[(query, operation_name)] = Prepared(
            document,
            operation,
            OperationType(operation.operation.value),
            tuple(sorted(node_count_variables(document))),
        )
        if len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)

    def node_count(
        self, schema: GraphQLSchema, prepared: Prepared, variables: dict[str, Any] | None
    ) -> int | None:
        """How many nodes the operation may return with these variables; None when the
        variables are invalid (the full way answers them)."""
        variables = variables or {}
        key = tuple((n, repr(variables[n])) for n in prepared.counted if n in variables)
        count = prepared.counts.get(key)
        if count is None:
            operation = prepared.operation
            coerced = get_variable_values(schema, operation.variable_definitions or (), variables)
            if isinstance(coerced, list):
                return None
            count = count_operation_nodes(schema, prepared.document, operation, coerced.coerced)
            if len(prepared.counts) >= _COUNTS_PER_DOCUMENT:
                prepared.counts.clear()
            prepared.counts[key] = count
        return count


def remember_prepared(documents: PreparedDocuments) -> type[SchemaExtension]:
    class RememberPrepared(SchemaExtension):
        """Last of the schema's extensions: entering its execute hook means every check
        before it passed, so the text is prepared from then on."""

        def on_execute(self) -> Iterator[None]:
            ctx = self.execution_context
            if ctx.graphql_document is not None and ctx.query is not None and not ctx.result:
                # What the client sent (Strawberry fills in the first operation's name).
                sent = ctx._provided_operation_name
                document = ctx.graphql_document
                documents.remember(ctx.query, sent, document, get_operation_ast(document, sent))
            yield

    return RememberPrepared
