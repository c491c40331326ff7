"""Checks of the operation as requested, made on the parsed document before either executor
runs it, for HTTP and WebSocket alike. They raise, so subscriptions answer them too."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from graphql import (
    DirectiveNode,
    DocumentNode,
    GraphQLIncludeDirective,
    GraphQLSkipDirective,
    OperationDefinitionNode,
    VariableNode,
    Visitor,
    get_operation_ast,
    visit,
)
from graphql.execution.values import get_argument_values, get_variable_values
from strawberry.extensions import SchemaExtension
from strawberry.types.execution import ExecutionContext

from gateway.errors import BadRequest
from gateway.executor.plan import ByDocument

_DIRECTIVES = {"skip": GraphQLSkipDirective, "include": GraphQLIncludeDirective}


class SeveralOperationsNeedAName(SchemaExtension):
    """A document with several operations runs the one `operationName` names (the GraphQL
    spec); Strawberry would run the first."""

    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context
        document = ctx.graphql_document
        # `operation_name` falls back to the first operation's name; what the client sent is
        # kept aside (Strawberry is pinned; tests cover this over HTTP and WebSocket).
        unnamed = ctx._provided_operation_name is None
        if unnamed and document is not None and not ctx.result:
            operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
            if len(operations) > 1:
                raise BadRequest(
                    "Must provide operation name if query contains multiple operations."
                )
        yield


class DirectiveConditionsHaveValues(SchemaExtension):
    """`@skip(if: $v)` and `@include(if: $v)` need a Boolean: a variable that is null there
    (sent as null; validation allows a nullable variable with a default) refuses the whole
    request with BAD_USER_INPUT. graphql-core would only find it when it reaches that
    selection, failing the field above it; refusing first gives one answer wherever the
    directive stands, whichever executor runs."""

    # Per parsed document (the parser cache hands out one object per text).
    _conditions: ClassVar[ByDocument[list[DirectiveNode]]] = ByDocument()

    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context
        document = ctx.graphql_document
        if document is not None and not ctx.result:
            directives = self.conditions_with_variables(document)
            if directives and any(
                (ctx.variables or {}).get(name, ...) is None for name in _names(directives)
            ):
                self._check(ctx, document, directives)
        yield

    @classmethod
    def conditions_with_variables(cls, document: DocumentNode) -> list[DirectiveNode]:
        known = cls._conditions.get(document)
        if known is not None:
            return known
        found: list[DirectiveNode] = []

        class Finder(Visitor):
            def enter_directive(self, node: DirectiveNode, *_args: object) -> None:
                if node.name.value in _DIRECTIVES and any(
                    isinstance(a.value, VariableNode) for a in node.arguments or ()
                ):
                    found.append(node)

        visit(document, Finder())
        return cls._conditions.put(document, found)

    @staticmethod
    def _check(
        ctx: ExecutionContext, document: DocumentNode, directives: list[DirectiveNode]
    ) -> None:
        operation = get_operation_ast(document, ctx.operation_name)
        if operation is None:
            return
        variables = get_variable_values(
            ctx.schema._schema, operation.variable_definitions or (), ctx.variables or {}
        )
        if isinstance(variables, list):
            return  # the variables themselves are refused by execution, with their own errors
        for node in directives:
            # graphql-core's own coercion, and so its message, for the condition
            get_argument_values(_DIRECTIVES[node.name.value], node, variables)


def _names(directives: list[DirectiveNode]) -> set[str]:
    return {
        a.value.name.value
        for node in directives
        for a in node.arguments or ()
        if isinstance(a.value, VariableNode)
    }
