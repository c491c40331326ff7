"""The schema: Query (and later Mutation, Subscription) and the request-level extensions."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import Any

import strawberry
from graphql import DocumentNode, GraphQLError
from graphql import ExecutionResult as GraphQLExecutionResult
from strawberry.extensions import (
    DisableIntrospection,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.exceptions import CannotGetOperationTypeError
from strawberry.schema.schema import DEFAULT_ALLOWED_OPERATION_TYPES
from strawberry.types.execution import ExecutionResult, PreExecutionError
from strawberry.types.graphql import OperationType
from strawberry.utils.await_maybe import await_maybe

from gateway.context import Info
from gateway.db import hand_back
from gateway.errors import RateLimited, as_graphql_error, present_errors
from gateway.executor import FastExecutor, reference_event
from gateway.executor.batch import reads_viewer
from gateway.resolvers import node as node_r
from gateway.schema.apps import (
    AppAlert,
    AppConnection,
    ConnectedApp,
    LearningResource,
    MarketplaceListing,
)
from gateway.schema.base import Node
from gateway.schema.install_requests import InstallRequest
from gateway.schema.limits import (
    TagValidationErrors,
    document_limits_extension,
    node_limit,
)
from gateway.schema.log import AppLogEntry
from gateway.schema.mutations import Mutation
from gateway.schema.notifications import Delivery, Notification, NotificationRule
from gateway.schema.operation_checks import (
    DirectiveConditionsHaveValues,
    SeveralOperationsNeedAName,
)
from gateway.schema.portal import Portal, Team, User, Viewer
from gateway.schema.prepared import Prepared, PreparedDocuments, remember_prepared
from gateway.schema.subscriptions import Subscription
from gateway.settings import Settings


@strawberry.type(description="Everything the console reads; every answer is the viewer's portal's.")
class Query:
    @strawberry.field(description="The signed-in user, their portal and their inbox.")
    def viewer(self) -> Viewer:
        return Viewer()

    @strawberry.field(
        description="Any object by global id; null when it does not exist or is not visible.",
        # Visibility: a colleague's notification is null, deliveries are for MANAGE_NOTIFICATIONS.
        metadata=reads_viewer("id", "can_manage_notifications", "can_install"),
    )
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        return await node_r.node(info, id)

    @strawberry.field(
        description="Objects by global ids (at most 100), in order; null for each that is not visible.",
        metadata=reads_viewer("id", "can_manage_notifications", "can_install"),
    )
    async def nodes(self, info: Info, ids: list[strawberry.ID]) -> list[Node | None]:
        return await node_r.nodes(info, ids)


# Types reachable only through the Node interface must still be in the schema.
NODE_TYPES = [
    Portal,
    User,
    Team,
    ConnectedApp,
    AppConnection,
    AppAlert,
    AppLogEntry,
    NotificationRule,
    Notification,
    Delivery,
    MarketplaceListing,
    LearningResource,
    InstallRequest,
]


class GatewaySchema(strawberry.Schema):
    # Queries and mutations run on our executor unless GATEWAY_EXECUTOR=reference
    # (subscriptions are executed by graphql-core either way), and texts that passed every
    # check before execution once run without Strawberry's pipeline (schema/prepared.py).
    fast_executor: FastExecutor | None = None
    prepared: PreparedDocuments | None = None

    def _get_execute_function(self) -> Callable[..., Any]:
        if self.fast_executor is not None:
            return self.fast_executor
        return super()._get_execute_function()

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        documents = self.prepared
        if (
            documents is not None
            and (prepared := documents.get(query, operation_name)) is not None
            and root_value is None
            and operation_extensions is None
            and prepared.operation_type
            in (allowed_operation_types or DEFAULT_ALLOWED_OPERATION_TYPES)
            and (nodes := documents.node_count(self._schema, prepared, variable_values)) is not None
            and nodes <= documents.max_nodes
        ):
            ticket = getattr(context_value, "ticket", None)
            if ticket is not None:
                operation = prepared.operation
                try:
                    await ticket.admit(
                        prepared.operation_type.value,
                        operation.name.value if operation.name else None,
                        nodes,
                    )
                except RateLimited as refused:
                    return PreExecutionError(data=None, errors=[refused])
            if prepared.operation_type is not OperationType.QUERY:
                await hand_back()
            return await self._execute_prepared(
                prepared, variable_values, context_value, operation_name
            )
        # The request's connection (gateway/db.py) goes on only to a prepared query: this
        # could be a mutation, or run by graphql-core, which takes connections of its own.
        await hand_back()
        return await super().execute(
            query,
            variable_values=variable_values,
            context_value=context_value,
            root_value=root_value,
            operation_name=operation_name,
            allowed_operation_types=allowed_operation_types,
            operation_extensions=operation_extensions,
        )

    async def _execute_prepared(
        self,
        prepared: Prepared,
        variable_values: dict[str, Any] | None,
        context_value: Any,
        operation_name: str | None,
    ) -> ExecutionResult:
        assert self.fast_executor is not None  # documents are prepared for it only
        try:
            result = await await_maybe(
                self.fast_executor(
                    self._schema,
                    prepared.document,
                    context_value=context_value,
                    variable_values=variable_values,
                    operation_name=operation_name,
                )
            )
        except Exception as exc:
            # As Strawberry's own path answers an exception escaping execution.
            return PreExecutionError(data=None, errors=[as_graphql_error(exc)])
        return ExecutionResult(data=result.data, errors=result.errors, extensions={})

    def execute_event(
        self,
        document: DocumentNode,
        event: Any,
        context_value: Any,
        variable_values: dict[str, Any] | None,
        operation_name: str | None,
    ) -> Awaitable[GraphQLExecutionResult] | GraphQLExecutionResult:
        """One event of a subscription executed, by our executor or graphql-core's: once
        for a whole group of subscribers (gateway/live.py)."""
        if self.fast_executor is not None:
            return self.fast_executor.execute_event(
                self._schema, document, event, context_value, variable_values, operation_name
            )
        return reference_event(
            self._schema, document, event, context_value, variable_values, operation_name
        )

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        """Strawberry logs every error with a traceback; client mistakes are not ours to log,
        and unexpected errors are logged once, with the request id, where they are masked."""

    async def stream(self, *args: Any, **kwargs: Any) -> Any:
        """Results sent over WebSocket get the same error codes and masking as HTTP ones.

        Errors that escape Strawberry's stream (a parse error raised by the parser cache, or
        anything unexpected) become the stream's last result instead of ending the operation
        with a traceback and a bare `complete`."""
        source: Any = await super().stream(*args, **kwargs)
        context = kwargs.get("context_value")
        request_id = getattr(context, "request_id", "-")
        debug = bool(getattr(getattr(context, "settings", None), "debug", False))

        async def presented() -> AsyncIterator[Any]:
            started = False
            try:
                async for result in source:
                    if getattr(result, "errors", None):
                        errors = [_operation_choice(e) for e in result.errors]
                        result.errors = present_errors(errors, request_id, debug)
                    started = True
                    yield result
            except Exception as exc:
                errors = present_errors([as_graphql_error(exc)], request_id, debug)
                kind = ExecutionResult if started else PreExecutionError
                yield kind(data=None, errors=errors)
            finally:
                await source.aclose()

        return presented()


class StampOperationType(SchemaExtension):
    """The request's ticket (gateway/policy.py) learns the operation's type once the document
    parsed, so a refusal after parsing (validation, limits, variables) is counted under it;
    the operation's name waits until it passed validation (metrics labels are bounded)."""

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        ticket = getattr(ctx.context, "ticket", None)
        if ticket is not None and ctx.graphql_document is not None:
            # No such operation (RuntimeError): refused before it is known, as `unknown`.
            with contextlib.suppress(RuntimeError):
                ticket.operation_type = ctx.operation_type.value
        yield


def _operation_choice(error: GraphQLError) -> GraphQLError:
    """An operation name the document doesn't define is the request's mistake, coded as over
    HTTP (gateway/graphql_http.py), not an unexpected error to mask."""
    if isinstance(error.original_error, CannotGetOperationTypeError):
        return GraphQLError(
            error.original_error.as_http_error_reason(), extensions={"code": "BAD_REQUEST"}
        )
    return error


def build_schema(settings: Settings) -> strawberry.Schema:
    extensions: list[Any] = [
        TagValidationErrors,
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        ParserCache,
        StampOperationType,
        # Ours, not QueryDepthLimiter/MaxAliasesLimiter: theirs take exponential time on
        # fragments that spread each other (gateway/schema/limits.py).
        document_limits_extension(settings.max_depth, settings.max_aliases),
        ValidationCache,
        SeveralOperationsNeedAName,
        DirectiveConditionsHaveValues,
        node_limit(settings.max_nodes),
    ]
    if not settings.introspection_enabled:
        extensions.append(DisableIntrospection)
    prepared = PreparedDocuments(settings.max_nodes) if settings.executor == "fast" else None
    if prepared is not None:
        # Last: entering its hook means every check before execution passed.
        extensions.append(remember_prepared(prepared))
    schema = GatewaySchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=NODE_TYPES,
        extensions=extensions,
        config=StrawberryConfig(auto_camel_case=True),
    )
    if settings.executor == "fast":
        schema.fast_executor = FastExecutor(schema)
        schema.prepared = prepared
    return schema


def export_sdl() -> str:
    """The schema as clients see it (introspection settings don't change the SDL)."""
    return build_schema(Settings(debug=True)).as_str() + "\n"
