"""GraphQL over HTTP (graphql.github.io/graphql-over-http) in front of the Strawberry schema.

Ours rather than Strawberry's view because the spec's media type and status codes, the auth
answer, the body limit, batching refusal and CSRF-safe content types all need to be decided
before execution, and Strawberry's view answers application/json with 200 for everything.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import orjson
from strawberry.types.graphql import OperationType
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from strawberry import Schema
from strawberry.http.ides import get_graphql_ide_html
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError

from gateway.auth import UNAUTHENTICATED_MESSAGE, AuthenticationFailed, authenticate
from gateway.context import Context
from gateway.schema.limits import present_errors
from gateway.settings import Settings

log = logging.getLogger("gateway.http")

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"


class HTTPProblem(Exception):
    """A request refused before execution: status, message and error code."""

    def __init__(self, status: int, message: str, code: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}


def error_body(message: str, code: str, **extensions: Any) -> bytes:
    return orjson.dumps({"errors": [{"message": message, "extensions": {"code": code, **extensions}}]})


def unauthenticated() -> Response:
    """The same answer for every authentication failure: nothing tells which check failed."""
    return Response(
        error_body(UNAUTHENTICATED_MESSAGE, "UNAUTHENTICATED"),
        status_code=401,
        media_type=JSON,
        headers={"WWW-Authenticate": 'Bearer realm="gateway"'},
    )


def _media_type(accept: str | None) -> str | None:
    """The response media type the client accepts, preferring the spec's own; None: none."""
    if not accept:
        return JSON
    offered = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    if GRAPHQL_RESPONSE in offered:
        return GRAPHQL_RESPONSE
    if any(t in (JSON, "application/*", "*/*") for t in offered):
        return JSON
    return None


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPProblem(413, f"Request body is larger than {limit} bytes", "PAYLOAD_TOO_LARGE")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPProblem(413, f"Request body is larger than {limit} bytes", "PAYLOAD_TOO_LARGE")
        chunks.append(chunk)
    return b"".join(chunks)


def _bad_request(message: str) -> HTTPProblem:
    return HTTPProblem(400, message, "BAD_REQUEST")


def _json_param(raw: Any, name: str) -> dict[str, Any] | None:
    """`variables` / `extensions`: an object, null, or (in a GET) a JSON-encoded object."""
    if isinstance(raw, str):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise _bad_request(f"`{name}` is not valid JSON") from None
    if raw is not None and not isinstance(raw, dict):
        raise _bad_request(f"`{name}` must be an object")
    return raw


def _params(source: Any) -> tuple[str, str | None, dict[str, Any] | None]:
    if isinstance(source, list):
        raise _bad_request("Batched requests are not supported: send one operation per request")
    if not isinstance(source, dict):
        raise _bad_request("The request body must be a JSON object")
    query = source.get("query")
    if not isinstance(query, str) or not query.strip():
        raise _bad_request("`query` must be a non-empty string")
    operation_name = source.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise _bad_request("`operationName` must be a string")
    variables = _json_param(source.get("variables"), "variables")
    _json_param(source.get("extensions"), "extensions")
    return query, operation_name, variables


class GraphQLHTTP:
    """The /graphql endpoint for GET and POST."""

    def __init__(self, schema: Schema, settings: Settings) -> None:
        self.schema = schema
        self.settings = settings

    async def handle(self, request: Request) -> Response:
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        try:
            response = await self._handle(request, request_id)
        except HTTPProblem as problem:
            response = Response(
                error_body(problem.message, problem.code),
                status_code=problem.status,
                media_type=JSON,
                headers=problem.headers,
            )
        response.headers["X-Request-ID"] = request_id
        return response

    async def _handle(self, request: Request, request_id: str) -> Response:
        if request.method not in ("GET", "POST"):
            raise HTTPProblem(405, "Use GET or POST", "METHOD_NOT_ALLOWED", {"Allow": "GET, POST"})
        accept = request.headers.get("accept")
        if request.method == "GET" and self.settings.debug and "text/html" in (accept or ""):
            return HTMLResponse(get_graphql_ide_html("graphiql"))

        body = await _read_body(request, self.settings.max_body_bytes)
        try:
            viewer, _expires = await authenticate(request.headers.get("authorization"), self.settings)
        except AuthenticationFailed as exc:
            log.info("authentication failed: %s", exc, extra={"request_id": request_id})
            return unauthenticated()

        media_type = _media_type(accept)
        if media_type is None:
            raise HTTPProblem(406, f"Accept {GRAPHQL_RESPONSE} or {JSON}", "NOT_ACCEPTABLE")

        if request.method == "GET":
            query, operation_name, variables = _params(dict(request.query_params))
            allowed = {OperationType.QUERY}
        else:
            content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type != JSON:
                # Only JSON bodies run operations: a browser form cannot send one cross-site.
                raise HTTPProblem(415, f"Send the request as {JSON}", "UNSUPPORTED_MEDIA_TYPE")
            try:
                source = orjson.loads(body)
            except orjson.JSONDecodeError:
                raise _bad_request("The request body is not valid JSON") from None
            query, operation_name, variables = _params(source)
            allowed = {OperationType.QUERY, OperationType.MUTATION}

        context = Context(
            settings=self.settings, viewer=viewer.user, portal=viewer.portal, request_id=request_id
        )
        try:
            result = await self.schema.execute(
                query,
                variable_values=variables,
                context_value=context,
                operation_name=operation_name,
                allowed_operation_types=allowed,
            )
        except InvalidOperationTypeError as exc:
            raise HTTPProblem(
                405, exc.as_http_error_reason(request.method), "METHOD_NOT_ALLOWED", {"Allow": "POST"}
            ) from None
        except CannotGetOperationTypeError as exc:
            raise _bad_request(exc.as_http_error_reason()) from None

        errors = present_errors(result.errors or [], request_id, self.settings.debug)
        # Errors without a path stopped the request before execution (parse, validation,
        # variables, limits): no `data` entry, and 4xx under the spec's own media type.
        executed = result.data is not None or any(e.path for e in errors)
        payload: dict[str, Any] = {}
        if errors:
            payload["errors"] = [e.formatted for e in errors]
        if executed:
            payload["data"] = result.data
        status = 400 if media_type == GRAPHQL_RESPONSE and not executed else 200
        return Response(orjson.dumps(payload), status_code=status, media_type=media_type)
