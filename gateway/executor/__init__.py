"""Our executor for queries and mutations: plan a validated document once, then execute it
breadth-first (gateway/executor/run.py), each field step once over all its parent objects.

graphql-core stays the reference: what the engine does not support (introspection,
directives on the operation, middleware) is handed to graphql-core whole, decided when the
plan is made, before any resolver runs. `GATEWAY_EXECUTOR=reference` sends everything there.

A subscription's source stream is graphql-core's to run; each of its events is an execution of
the operation with the event as root value, which `execute_event` runs like a query.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    create_source_event_stream,
    execute,
    execute_subscription_event,
)
from graphql.execution.collect_fields import FragmentDetails
from graphql.execution.executor import Executor
from graphql.execution.values import VariableValues

from gateway.db import one_connection
from gateway.executor.plan import ByDocument, Plan, PlanCache
from gateway.executor.run import Run
from gateway.executor.variables import Coercions


@dataclass(frozen=True)
class _Converter:
    scalar_registry: Any
    config: Any


# Executor.build's default: a request's variable errors are reported up to this many.
_MAX_COERCION_ERRORS = 50


@dataclass(frozen=True)
class _Shape:
    """What `Executor.build` finds in a document for one operation name."""

    operation: OperationDefinitionNode
    fragments: dict[str, FragmentDetails]
    definitions: dict[str, FragmentDefinitionNode]
    variables: Coercions


class FastExecutor:
    """A drop-in for graphql-core's `execute`, with the plan cache it owns."""

    def __init__(self, schema: Any, plans: PlanCache | None = None) -> None:
        # The Strawberry schema: its scalar registry and config convert batch arguments.
        self.converter = _Converter(schema.schema_converter.scalar_registry, schema.config)
        self.plans = plans or PlanCache()
        # Per (document, operation name).
        self._shapes: ByDocument[_Shape] = ByDocument(self.plans.maxsize)

    def __call__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        root_value: Any = None,
        context_value: Any = None,
        variable_values: dict[str, Any] | None = None,
        operation_name: str | None = None,
        middleware: Any = None,
        **kwargs: Any,
    ) -> ExecutionResult | Awaitable[ExecutionResult]:
        def reference() -> Any:
            return execute(
                schema,
                document,
                root_value=root_value,
                context_value=context_value,
                variable_values=variable_values,
                operation_name=operation_name,
                middleware=middleware,
                **kwargs,
            )

        if middleware is not None and getattr(middleware, "middlewares", None):
            return reference()  # per-field hooks only graphql-core calls
        bound = self._bind(schema, document, variable_values, operation_name)
        if isinstance(bound, list):  # the operation or its variables are unusable
            return ExecutionResult(data=None, errors=bound)
        shape, values = bound
        if shape.operation.operation is OperationType.SUBSCRIPTION:
            return reference()  # a source stream to set up: graphql-core's `subscribe` does
        plan = self.plans.get(schema, document, shape.operation, shape.fragments, values)
        if plan.fallback is not None:
            return reference()
        run = Run(plan, root_value, context_value, values, shape.definitions, self.converter)
        return self._finish(run)

    def execute_event(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        event: Any,
        context_value: Any,
        variable_values: dict[str, Any] | None = None,
        operation_name: str | None = None,
    ) -> ExecutionResult | Awaitable[ExecutionResult]:
        """One event of a subscription operation: its selection executed with `event` as the
        root value (a subscription field's resolver gives its root value: the event itself),
        as graphql-core's `execute_subscription_event` does. Once per event for all the
        subscribers who share the document, variables and viewer facts."""
        bound = self._bind(schema, document, variable_values, operation_name)
        if isinstance(bound, list):
            return ExecutionResult(data=None, errors=bound)
        shape, values = bound
        plan = self.plans.get(schema, document, shape.operation, shape.fragments, values)
        if plan.fallback is not None:
            return reference_event(
                schema, document, event, context_value, variable_values, operation_name
            )
        run = Run(plan, event, context_value, values, shape.definitions, self.converter)
        return self._finish(run)

    def _bind(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        variable_values: dict[str, Any] | None,
        operation_name: str | None,
    ) -> tuple[_Shape, VariableValues] | list[GraphQLError]:
        """The operation, its fragments and the request's coerced variables, as graphql-core's
        `Executor.build` finds them, or its errors. What depends on the document alone is
        kept per document and operation name: a prepared text pays only for its variables,
        and for those only when their values are new to it (gateway/executor/variables.py)."""
        shape = self._shapes.get(document, operation_name)
        if shape is not None:
            values = shape.variables.coerce(schema, variable_values or {}, _MAX_COERCION_ERRORS)
            return values if isinstance(values, list) else (shape, values)
        built = Executor.build(schema, document, None, None, variable_values, operation_name)
        if isinstance(built, list):
            return built
        # graphql-core's executor refers to itself through its helpers: left as it is, that
        # cycle would hold it until the cycle collector ran. Only its operation, fragments and
        # variables are used here.
        del built.async_helpers
        operation = built.operation
        shape = _Shape(
            operation,
            built.fragments,
            built.fragment_definitions,
            Coercions(operation.variable_definitions or ()),
        )
        self._shapes.put(document, shape, operation_name)
        return shape, built.variable_values

    @staticmethod
    async def _finish(run: Run) -> ExecutionResult:
        if run.plan.operation.operation is not OperationType.MUTATION:
            # One connection for all of a query's (or an event's) statements. Mutations keep
            # their own transactions, whose commit is what publishes their changes.
            async with one_connection():
                data = await run.execute()
        else:
            data = await run.execute()
        return ExecutionResult(data=data, errors=run.errors or None)


def reference_event(
    schema: GraphQLSchema,
    document: DocumentNode,
    event: Any,
    context_value: Any,
    variable_values: dict[str, Any] | None = None,
    operation_name: str | None = None,
) -> ExecutionResult | Awaitable[ExecutionResult]:
    """`FastExecutor.execute_event` by graphql-core, the reference."""
    built = Executor.build(schema, document, event, context_value, variable_values, operation_name)
    if isinstance(built, list):
        return ExecutionResult(data=None, errors=built)
    return execute_subscription_event(built)


async def event_roots(
    schema: GraphQLSchema,
    document: DocumentNode,
    context_value: Any,
    variable_values: dict[str, Any] | None = None,
    operation_name: str | None = None,
) -> list[Any]:
    """What one event means to a subscription: every value its field's source stream yields
    for the event its resolver finds in the context (gateway/resolvers/subscriptions.py),
    each to be executed by `execute_event`. The first error, if any, is raised."""
    built = Executor.build(schema, document, None, context_value, variable_values, operation_name)
    if isinstance(built, list):
        raise built[0]
    try:
        source = create_source_event_stream(built)
        if not isinstance(source, ExecutionResult) and not hasattr(source, "__aiter__"):
            source = await source
        if isinstance(source, ExecutionResult):
            raise (source.errors or [GraphQLError("The subscription has no source")])[0]
        return [root async for root in source]
    finally:
        del built.async_helpers  # the executor's cycle, as in `FastExecutor._bind`


def subscription_shape(
    schema: GraphQLSchema,
    document: DocumentNode,
    variable_values: dict[str, Any] | None = None,
    operation_name: str | None = None,
) -> tuple[frozenset[str], str]:
    """What grouping a subscription needs, from its plan: the viewer facts its selected fields
    declare, and the name of its root field (fragments, @skip and @include applied). An
    operation that cannot run has no facts and the field "unknown" (its errors are reported
    where it is run)."""
    built = Executor.build(schema, document, None, None, variable_values, operation_name)
    if isinstance(built, list):
        return frozenset(), UNKNOWN_FIELD
    del built.async_helpers
    plan = Plan(schema, built.operation, built.fragments, built.variable_values)
    root = plan.root_fields[0].name if plan.root_fields else UNKNOWN_FIELD
    return plan.viewer_facts(), root


UNKNOWN_FIELD = "unknown"

__all__ = ["FastExecutor", "event_roots", "reference_event", "subscription_shape"]
