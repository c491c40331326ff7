"""Request-level safety for GraphQL documents (DESIGN §3 "Safe defaults").

These run once per operation (parse, validate, execute hooks), never per field: per-field
hooks cost several times the execution of a large page.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

from graphql import (
    ExecutionResult as GraphQLExecutionResult,
)
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    value_from_ast_untyped,
)
from graphql.error import GraphQLSyntaxError
from strawberry.extensions import SchemaExtension

from gateway.errors import GatewayError, ValidationFailed
from gateway.pagination import DEFAULT_PAGE_SIZE

log = logging.getLogger("gateway.graphql")

_SUGGESTION = re.compile(r" ?Did you mean [^?]*\?")


def count_nodes(
    schema: GraphQLSchema,
    document: Any,
    variables: dict[str, Any] | None,
    operation_name: str | None,
) -> int:
    """How many nodes a document may return at most, GitHub-style: every connection field
    multiplies its page size (`first`/`last`, else the default) into everything below it."""
    fragments: dict[str, FragmentDefinitionNode] = {}
    operation: OperationDefinitionNode | None = None
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode):
            fragments[definition.name.value] = definition
        elif isinstance(definition, OperationDefinitionNode):
            if operation_name is None or (definition.name and definition.name.value == operation_name):
                operation = operation or definition
    if operation is None:
        return 0
    root = schema.get_root_type(operation.operation)
    if root is None:
        return 0
    variables = variables or {}

    def page(field: FieldNode) -> int | None:
        for arg in field.arguments or ():
            if arg.name.value in ("first", "last"):
                value = value_from_ast_untyped(arg.value, variables)
                return value if isinstance(value, int) and value >= 0 else DEFAULT_PAGE_SIZE
        return None

    def walk(selection_set: SelectionSetNode, parent: Any, multiplier: int, seen: frozenset[str]) -> int:
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                if not isinstance(parent, GraphQLObjectType) and not hasattr(parent, "fields"):
                    continue
                field_def = parent.fields.get(selection.name.value)
                if field_def is None or selection.selection_set is None:
                    continue
                named = get_named_type(field_def.type)
                size = page(selection)
                if named.name.endswith("Connection"):
                    size = DEFAULT_PAGE_SIZE if size is None else size
                inner = multiplier * size if size is not None else multiplier
                if size is not None:
                    total += inner
                total += walk(selection.selection_set, named, inner, seen)
            elif isinstance(selection, InlineFragmentNode):
                target = parent
                if selection.type_condition is not None:
                    target = schema.get_type(selection.type_condition.name.value) or parent
                total += walk(selection.selection_set, target, multiplier, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is None or name in seen:
                    continue
                target = schema.get_type(fragment.type_condition.name.value) or parent
                total += walk(fragment.selection_set, target, multiplier, seen | {name})
        return total

    return walk(operation.selection_set, root, 1, frozenset())


def node_limit(max_nodes: int) -> type[SchemaExtension]:
    class NodeLimit(SchemaExtension):
        """Refuses documents that could return more than `max_nodes` nodes. Runs before
        execution (not as a validation rule) because the count needs the variables."""

        def on_execute(self) -> Iterator[None]:
            ctx = self.execution_context
            if ctx.graphql_document is not None and not ctx.result:
                total = count_nodes(
                    ctx.schema._schema, ctx.graphql_document, ctx.variables, ctx.operation_name
                )
                if total > max_nodes:
                    ctx.result = GraphQLExecutionResult(
                        data=None,
                        errors=[
                            ValidationFailed(
                                f"This query may return up to {total} nodes; the limit is "
                                f"{max_nodes}. Ask for smaller pages (first/last)."
                            )
                        ],
                    )
            yield

    return NodeLimit


class TagValidationErrors(SchemaExtension):
    """Marks errors found by validation, which graphql-core leaves without a code."""

    def on_validate(self) -> Iterator[None]:
        yield
        for error in self.execution_context.pre_execution_errors or []:
            _set_code(error, "GRAPHQL_VALIDATION_FAILED")


def present_errors(errors: list[GraphQLError], request_id: str, debug: bool) -> list[GraphQLError]:
    """Every error with an `extensions.code`; unexpected ones masked (message and request id
    only, the traceback goes to the log). Ours, and parse, validation and input errors, stay
    readable. Applied where results leave the process, so nothing escapes it."""
    return [_present(e, request_id, debug) for e in errors]


def _present(error: GraphQLError, request_id: str, debug: bool) -> GraphQLError:
    original = error.original_error
    if isinstance(error, GraphQLSyntaxError) or isinstance(original, GraphQLSyntaxError):
        # The token limit stops the parser, but it is a document limit, not bad syntax.
        over_limit = "tokens. Parsing aborted" in error.message
        _set_code(error, "GRAPHQL_VALIDATION_FAILED" if over_limit else "GRAPHQL_PARSE_FAILED")
    elif isinstance(original, GatewayError):
        _set_code(error, original.code)
    elif isinstance(error, GatewayError) or (error.extensions or {}).get("code"):
        pass
    elif original is not None or error.path is not None:
        return _mask(error, request_id)
    else:
        # No path, no cause: the request's variables could not be coerced.
        _set_code(error, "BAD_USER_INPUT")
    if not debug:
        error.message = _SUGGESTION.sub("", error.message)
    return error


def _mask(error: GraphQLError, request_id: str) -> GraphQLError:
    log.error(
        "unexpected error at %s: %s",
        ".".join(str(p) for p in error.path or []) or "(operation)",
        error.message,
        exc_info=error.original_error,
        extra={"request_id": request_id},
    )
    return GraphQLError(
        f"Internal error (request id {request_id})",
        nodes=error.nodes,
        path=error.path,
        extensions={"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
    )


def _set_code(error: GraphQLError, code: str) -> None:
    extensions = dict(error.extensions or {})
    extensions.setdefault("code", code)
    error.extensions = extensions
