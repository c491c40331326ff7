"""Our executor for queries and mutations: plan a validated document once, then execute it
breadth-first (gateway/executor/run.py), each field step once over all its parent objects.

graphql-core stays the reference: what the engine does not support (introspection,
subscriptions, directives on the operation, middleware) is handed to graphql-core whole,
decided when the plan is made, before any resolver runs. `GATEWAY_EXECUTOR=reference` sends
everything there.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from graphql import DocumentNode, ExecutionResult, GraphQLSchema, OperationType, execute
from graphql.execution.executor import Executor

from gateway.db import one_connection
from gateway.executor.plan import PlanCache
from gateway.executor.run import Run


@dataclass(frozen=True)
class _Converter:
    scalar_registry: Any
    config: Any


class FastExecutor:
    """A drop-in for graphql-core's `execute`, with the plan cache it owns."""

    def __init__(self, schema: Any, plans: PlanCache | None = None) -> None:
        # The Strawberry schema: its scalar registry and config convert batch arguments.
        self.converter = _Converter(schema.schema_converter.scalar_registry, schema.config)
        self.plans = plans or PlanCache()

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
        built = Executor.build(
            schema,
            document,
            root_value,
            context_value,
            variable_values,
            operation_name,
        )
        if isinstance(built, list):  # the operation or its variables are unusable
            return ExecutionResult(data=None, errors=built)
        # graphql-core's executor refers to itself through its helpers: left as it is, that
        # cycle would hold the context, and every row the request loads, until the cycle
        # collector ran. Only its operation, fragments and variables are used here.
        del built.async_helpers
        plan = self.plans.get(
            schema, document, built.operation, built.fragments, built.variable_values
        )
        if plan.fallback is not None:
            return reference()
        run = Run(
            plan,
            root_value,
            context_value,
            built.variable_values,
            built.fragment_definitions,
            self.converter,
        )
        return self._finish(run)

    @staticmethod
    async def _finish(run: Run) -> ExecutionResult:
        if run.plan.operation.operation is OperationType.QUERY:
            # One connection for all of a query's statements. Mutations keep their own
            # transactions, whose commit is what publishes their changes.
            async with one_connection():
                data = await run.execute()
        else:
            data = await run.execute()
        return ExecutionResult(data=data, errors=run.errors or None)


__all__ = ["FastExecutor"]
