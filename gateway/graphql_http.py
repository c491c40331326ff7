"""GraphQL over HTTP (graphql.github.io/graphql-over-http) in front of the Strawberry schema.

Ours rather than Strawberry's view because the spec's media type and status codes, the auth
answer, the body limit, batching refusal and CSRF-safe content types all need to be decided
before execution, and Strawberry's view answers application/json with 200 for everything.

The order of the checks is the contract (tests/test_http_protocol.py, DESIGN §3):
method (405) → GraphiQL (debug only) → authentication (401; 429 while the address's
anonymous budget is spent) → Accept (406) → POST content type (415) → body size (413) →
request parameters (400) → persisted documents (gateway/persisted.py) → mutation over GET
(405) → the GraphQL request itself (several operations and no operationName is a request
error, as a parse or validation error is) → its cost (429; gateway/policy.py) → execution.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import GraphQLError, GraphQLFormattedError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from strawberry import Schema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from gateway import graphiql
from gateway.auth import Viewer
from gateway.bodies import BodyTooLarge, read_limited
from gateway.context import Context
from gateway.db import request_connection
from gateway.errors import present_errors
from gateway.persisted import NOT_FOUND as PERSISTED_NOT_FOUND
from gateway.persisted import PersistedDocuments, PersistedProblem
from gateway.policy import Policy, Refusal, Ticket, error_body
from gateway.request_ids import accepted_request_id
from gateway.services.envelopes import Publisher
from gateway.services.faults import pause_point
from gateway.settings import Settings

log = logging.getLogger("gateway.http")

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
HTML = "text/html"

# graphql-core's own words for it (the spec: the operation to run must be named).


def _accept_ranges(accept: str) -> list[tuple[str, float]]:
    """The media ranges of an Accept header with their q-values, lower-cased."""
    ranges = []
    for part in accept.split(","):
        media_range, *params = (p.strip() for p in part.split(";"))
        if not media_range:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        ranges.append((media_range.lower(), q))
    return ranges


def _negotiate(accept: str | None, offered: tuple[str, ...]) -> str | None:
    """The offered media type the client prefers (RFC 9110 §12.5.1); None: none acceptable.

    No Accept header means application/json (the spec's default). On a tie the more specific
    match wins; then the spec's own type when the client named it, application/json when it
    only matched a wildcard (`*/*` gets application/json, as the spec recommends)."""
    if not accept or not accept.strip():
        return JSON if JSON in offered else None
    ranges = _accept_ranges(accept)
    best: tuple[float, int, int] | None = None
    chosen: str | None = None
    for media_type in offered:
        kind = media_type.split("/")[0]
        matches = [
            (q, specificity)
            for media_range, q in ranges
            for pattern, specificity in ((media_type, 2), (f"{kind}/*", 1), ("*/*", 0))
            if media_range == pattern
        ]
        if not matches:
            continue
        specificity = max(s for _, s in matches)
        q = max(q for q, s in matches if s == specificity)  # the most specific range decides
        if q <= 0:
            continue
        preferred = media_type == GRAPHQL_RESPONSE if specificity == 2 else media_type == JSON
        score = (q, specificity, int(preferred))
        if best is None or score > best:
            best, chosen = score, media_type
    return chosen


async def _read_body(request: Request, limit: int) -> bytes:
    try:
        return await read_limited(request, limit)
    except BodyTooLarge:
        raise Refusal(
            413, f"Request body is larger than {limit} bytes", "PAYLOAD_TOO_LARGE"
        ) from None


def _bad_request(message: str) -> Refusal:
    return Refusal(400, message, "BAD_REQUEST")


def _map_param(raw: Any, name: str, *, encoded: bool) -> dict[str, Any] | None:
    """`variables` / `extensions`: an object or null; in a GET, a JSON-encoded object."""
    if encoded:
        if raw is None or raw == "":
            return None
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise _bad_request(f"`{name}` is not valid JSON") from None
    if raw is not None and not isinstance(raw, dict):
        raise _bad_request(f"`{name}` must be an object")
    return raw


@dataclass(frozen=True, slots=True)
class _Params:
    """A request's parameters (spec §"Request Parameters"), `query` as sent: with a persisted
    document it may be absent (gateway/persisted.py decides)."""

    query: Any
    operation_name: str | None
    variables: dict[str, Any] | None
    extensions: dict[str, Any] | None
    document_id: Any


def _params(source: Any, *, from_url: bool) -> _Params:
    if isinstance(source, list):
        raise _bad_request("Batched requests are not supported: send one operation per request")
    if not isinstance(source, dict):
        raise _bad_request("The request body must be a JSON object")
    operation_name = source.get("operationName")
    if from_url and operation_name == "":
        operation_name = None  # an empty form field is an absent one
    if operation_name is not None and not isinstance(operation_name, str):
        raise _bad_request("`operationName` must be a string")
    query = source.get("query")
    if from_url and query == "":
        query = None
    return _Params(
        query,
        operation_name,
        _map_param(source.get("variables"), "variables", encoded=from_url),
        _map_param(source.get("extensions"), "extensions", encoded=from_url),
        source.get("documentId"),
    )


def _content_type(request: Request) -> tuple[str, str | None]:
    """The request's media type and charset parameter, lower-cased."""
    media_type, *params = (p.strip() for p in request.headers.get("content-type", "").split(";"))
    charset = None
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return media_type.lower(), charset


class GraphQLHTTP:
    """The /graphql endpoint for GET and POST."""

    def __init__(
        self,
        schema: Schema,
        settings: Settings,
        publisher: Publisher,
        policy: Policy,
        persisted: PersistedDocuments,
    ) -> None:
        self.schema = schema
        self.settings = settings
        self.publisher = publisher
        self.policy = policy
        self.persisted = persisted

    async def handle(self, request: Request) -> Response:
        request_id = accepted_request_id(request.headers.get("x-request-id"))
        # Errors are answered in the negotiated media type; before (or without) one, JSON.
        media_type = _negotiate(request.headers.get("accept"), (GRAPHQL_RESPONSE, JSON))
        ticket = self.policy.ticket(request.headers)
        try:
            with self.policy.current(ticket):
                response = await self._handle(request, request_id, media_type, ticket)
        except Refusal as refusal:
            await ticket.refused()
            ticket.answered_with("refused", refusal.code)
            response = refusal.response(media_type or JSON)
        except ClientDisconnect:
            # The client went away mid-body: nobody reads the answer, and it is not our error.
            log.info("client disconnected", extra={"request_id": request_id})
            ticket.finish()
            return Response(status_code=400)
        except Exception:
            # Outside GraphQL execution (the auth lookup, reading the body): still a GraphQL
            # answer with a code, masked like any unexpected error, the traceback in the log.
            log.exception("unexpected error handling /graphql", extra={"request_id": request_id})
            ticket.answered_with("error", "INTERNAL_SERVER_ERROR")
            response = Response(
                error_body(
                    f"Internal error (request id {request_id})",
                    "INTERNAL_SERVER_ERROR",
                    requestId=request_id,
                ),
                status_code=500,
                media_type=media_type or JSON,
            )
        headers = response.headers
        headers["X-Request-ID"] = request_id
        headers["Vary"] = "Accept"
        # Answers are one viewer's data (or say who may not see it): no cache may keep them.
        headers["Cache-Control"] = "no-store"
        headers.update(ticket.headers())
        ticket.finish()
        return response

    async def _handle(
        self, request: Request, request_id: str, media_type: str | None, ticket: Ticket
    ) -> Response:
        if request.method not in ("GET", "POST"):
            raise Refusal(405, "Use GET or POST", "METHOD_NOT_ALLOWED", {"Allow": "GET, POST"})
        if (
            request.method == "GET"
            and self.settings.debug
            and _negotiate(request.headers.get("accept"), (HTML, GRAPHQL_RESPONSE, JSON)) == HTML
        ):
            return graphiql.page_response()

        # Authentication first: an anonymous caller learns nothing about its request. The token
        # now, the viewer once the request is read (below).
        bearer = await self.policy.verify(request, ticket, request_id)

        if media_type is None:
            raise Refusal(406, f"Accept {GRAPHQL_RESPONSE} or {JSON}", "NOT_ACCEPTABLE")

        if request.method == "GET":
            params = _params(dict(request.query_params), from_url=True)
            allowed = {OperationType.QUERY}
        else:
            content_type, charset = _content_type(request)
            if content_type != JSON or charset not in (None, "utf-8", "utf8"):
                # Only JSON bodies run operations: a browser form cannot send one cross-site.
                raise Refusal(415, f"Send the request as {JSON} (UTF-8)", "UNSUPPORTED_MEDIA_TYPE")
            body = await _read_body(request, self.settings.max_body_bytes)
            if not body.strip():
                raise _bad_request("The request body is empty: send a JSON object with `query`")
            try:
                source = orjson.loads(body)
            except orjson.JSONDecodeError:
                raise _bad_request("The request body is not valid JSON") from None
            params = _params(source, from_url=False)
            allowed = {OperationType.QUERY, OperationType.MUTATION}
        # From here on nothing waits for the client: one pooled connection for the request's
        # statements, its viewer's and its query's (gateway/db.py), which a slow client
        # sending its body could otherwise hold.
        async with request_connection():
            viewer = await self.policy.viewer(bearer, request, ticket, request_id)
            return await self._execute(viewer, params, allowed, request_id, media_type, ticket)

    async def _execute(
        self,
        viewer: Viewer,
        params: _Params,
        allowed: set[OperationType],
        request_id: str,
        media_type: str,
        ticket: Ticket,
    ) -> Response:
        try:
            lookup = await self.persisted.lookup(
                params.query, params.extensions, params.document_id
            )
        except PersistedProblem as problem:
            # A hash the server doesn't know is a protocol answer Apollo's link acts on (it
            # sends the document next), not a request error: 200 in both media types.
            status = 200 if problem.code == PERSISTED_NOT_FOUND else 400
            raise Refusal(status, problem.message, problem.code) from None
        query, operation_name, variables = lookup.query, params.operation_name, params.variables
        ticket.document = query

        context = Context(
            settings=self.settings,
            viewer=viewer.user,
            portal=viewer.portal,
            request_id=request_id,
            publisher=self.publisher,
            ticket=ticket,
        )
        await pause_point("http:before-execute")
        try:
            result = await self.schema.execute(
                query,
                variable_values=variables,
                context_value=context,
                operation_name=operation_name,
                allowed_operation_types=allowed,
            )
        except InvalidOperationTypeError as exc:
            if exc.operation_type is OperationType.MUTATION:
                # The spec: a mutation over GET is 405, whatever the schema would say of it.
                raise Refusal(
                    405, "Mutations need POST", "METHOD_NOT_ALLOWED", {"Allow": "POST"}
                ) from None
            return await self._answer(
                [_request_error("Subscriptions are served over WebSocket (graphql-transport-ws)")],
                media_type,
                ticket,
                executed=False,
            )
        except CannotGetOperationTypeError as exc:
            # A GraphQL request error (the operation to run can't be chosen), like a
            # validation error: 200 with errors under application/json, 400 under ours.
            error = _request_error(exc.as_http_error_reason())
            return await self._answer([error], media_type, ticket, executed=False)
        finally:
            context.loaders.clear()

        errors = present_errors(result.errors or [], request_id, self.settings.debug)
        # Errors without a path stopped the request before execution (parse, validation,
        # variables, limits): no `data` entry, and 4xx under the spec's own media type.
        executed = result.data is not None or any(e.path for e in errors)
        if executed and lookup.register is not None:
            # It passed validation: an automatic persisted query is kept from now on.
            await self.persisted.register(lookup)
        return await self._answer(
            [e.formatted for e in errors], media_type, ticket, executed=executed, data=result.data
        )

    @staticmethod
    async def _answer(
        errors: list[GraphQLFormattedError],
        media_type: str,
        ticket: Ticket,
        *,
        executed: bool,
        data: dict[str, Any] | None = None,
    ) -> Response:
        payload: dict[str, Any] = {}
        if errors:
            payload["errors"] = errors
        if executed:
            payload["data"] = data
            ticket.answered("error" if errors else "ok", errors)
            return Response(orjson.dumps(payload), status_code=200, media_type=media_type)
        await ticket.refused()
        codes = {(e.get("extensions") or {}).get("code") for e in errors}
        if "INTERNAL_SERVER_ERROR" in codes:
            ticket.answered("error", errors)
            status = 500  # the server failed before execution: not the client's request
        else:
            ticket.answered("refused", errors)
            status = 400 if media_type == GRAPHQL_RESPONSE else 200
        if "RATE_LIMITED" in codes:
            status = 429  # the budget's headers, Retry-After included, come from the ticket
        return Response(orjson.dumps(payload), status_code=status, media_type=media_type)


def _request_error(message: str) -> GraphQLFormattedError:
    return GraphQLError(message, extensions={"code": "BAD_REQUEST"}).formatted
