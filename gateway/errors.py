"""Top-level GraphQL errors with the `extensions.code` values of DESIGN §2.

Business-rule failures are not here: they are userErrors in mutation payloads.
"""

from __future__ import annotations

from graphql import GraphQLError


class GatewayError(GraphQLError):
    """An error of ours: its message is safe to show and is never masked."""

    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, **extensions: object) -> None:
        super().__init__(message, extensions={"code": self.code, **extensions})


class BadUserInput(GatewayError):
    """An argument value the field cannot use: out of range, an undecodable id."""

    code = "BAD_USER_INPUT"


class ValidationFailed(GatewayError):
    """A document over one of the request limits (depth, aliases, tokens, node count)."""

    code = "GRAPHQL_VALIDATION_FAILED"
