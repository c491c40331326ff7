"""Top-level GraphQL errors with the `extensions.code` values of DESIGN §2, and how every
error is presented where results leave the process (HTTP and WebSocket alike).

Business-rule failures are not here: they are userErrors in mutation payloads.
"""

from __future__ import annotations

import logging
import re

from graphql import GraphQLError
from graphql.error import GraphQLSyntaxError

log = logging.getLogger("gateway.graphql")

_SUGGESTION = re.compile(r" ?Did you mean [^?]*\?")


class GatewayError(GraphQLError):
    """An error of ours: its message is safe to show and is never masked."""

    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, **extensions: object) -> None:
        super().__init__(message, extensions={"code": self.code, **extensions})


class BadRequest(GatewayError):
    """A request that cannot be run as sent: the operation to run cannot be chosen."""

    code = "BAD_REQUEST"


class BadUserInput(GatewayError):
    """An argument value the field cannot use: out of range, an undecodable id."""

    code = "BAD_USER_INPUT"


class ValidationFailed(GatewayError):
    """A document over one of the request limits (depth, aliases, tokens, node count)."""

    code = "GRAPHQL_VALIDATION_FAILED"


class RateLimited(GatewayError):
    """The viewer's rate budget cannot pay for the operation: nothing ran (DESIGN §3)."""

    code = "RATE_LIMITED"

    def __init__(self, cost: int, retry_after: int) -> None:
        super().__init__(
            f"Rate limit exceeded: this request costs {cost} points; try again in {retry_after} s"
        )
        self.retry_after = retry_after


def as_graphql_error(exc: Exception) -> GraphQLError:
    """An exception escaping execution as a GraphQL error: itself if it is one, else wrapped
    (and then masked by `present_errors`)."""
    return exc if isinstance(exc, GraphQLError) else GraphQLError(str(exc), original_error=exc)


def present_errors(errors: list[GraphQLError], request_id: str, debug: bool) -> list[GraphQLError]:
    """Every error with an `extensions.code`; unexpected ones masked (message and request id
    only, the traceback goes to the log). Ours, and parse, validation and input errors, stay
    readable. Applied where results leave the process, so nothing escapes it."""
    return [_present(e, request_id, debug) for e in errors]


def _present(error: GraphQLError, request_id: str, debug: bool) -> GraphQLError:
    original = error.original_error
    if isinstance(error, GraphQLSyntaxError) or isinstance(original, GraphQLSyntaxError):
        # The parser's limits (tokens, nesting, comments, length) stop it with "Parsing
        # aborted.": those are document limits, not bad syntax.
        over_limit = error.message.rstrip().endswith("Parsing aborted.")
        set_code(error, "GRAPHQL_VALIDATION_FAILED" if over_limit else "GRAPHQL_PARSE_FAILED")
    elif isinstance(original, GatewayError):
        set_code(error, original.code)
    elif isinstance(error, GatewayError) or (error.extensions or {}).get("code"):
        pass
    elif error.path is None and (original is None or isinstance(original, GraphQLError)):
        # Before execution, with no code from validation: the request's variables could not
        # be coerced (graphql-core wraps the coercion error as the original one).
        set_code(error, "BAD_USER_INPUT")
    else:
        return _mask(error, request_id)
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


def set_code(error: GraphQLError, code: str) -> None:
    extensions = dict(error.extensions or {})
    extensions.setdefault("code", code)
    error.extensions = extensions
