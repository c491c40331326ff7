"""One request policy (DESIGN §3): the steps every endpoint takes where they apply — request
id, the client's address, authentication, rate limits, metrics — so an endpoint plugs into
them instead of writing its own.

A request carries a `Ticket` through its life: the endpoint opens it as the request arrives
(with tracing, its span starts), `Policy.authenticate` finds the viewer whose budget it
charges (or refuses: 401, or 429 for an address out of anonymous budget), the schema's
pipeline stamps it with the operation and charges its cost (after validation and variable
coercion, before execution; `Ticket.charge` for an endpoint with a cost of its own), and the
endpoint closes it with the outcome, which becomes metrics and the `RateLimit-*` headers.
Refusals are `Refusal`s, presented alike on every endpoint (`error_body`).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from gateway.auth import (
    UNAUTHENTICATED_MESSAGE,
    AuthenticationFailed,
    Bearer,
    TokenExpired,
    Viewer,
    verify,
    viewer_of,
)
from gateway.errors import RateLimited
from gateway.metrics import ANONYMOUS, CONTENT_TYPE, UNKNOWN, Metrics
from gateway.persisted import document_hash
from gateway.ratelimit import Decision, RateLimiter
from gateway.settings import Settings
from gateway.tracing import Tracing, failed

if TYPE_CHECKING:
    from opentelemetry.trace import Span

log = logging.getLogger("gateway.policy")

# Each step of 100 nodes costs a point, on top of the request's own (DESIGN §3).
NODES_PER_POINT = 100
LIMIT_PERIOD = 60.0

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


BEARER_CHALLENGE = 'Bearer realm="gateway"'
# RFC 6750 §3.1: a token that has expired (and only that) tells the client to get a new one.
EXPIRED_CHALLENGE = f'{BEARER_CHALLENGE}, error="invalid_token", error_description="expired"'


def error_body(message: str, code: str, **extensions: Any) -> bytes:
    """Every refusal's body, on every endpoint: a GraphQL error with a code."""
    return orjson.dumps(
        {"errors": [{"message": message, "extensions": {"code": code, **extensions}}]}
    )


class Refusal(Exception):
    """A request refused before it runs: status, message, error code and headers."""

    def __init__(
        self, status: int, message: str, code: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}

    def response(self, media_type: str = "application/json") -> Response:
        return Response(
            error_body(self.message, self.code),
            status_code=self.status,
            media_type=media_type,
            headers=self.headers,
        )


def cost_of(nodes: int) -> int:
    """1 + ceil(nodes / 100): what an operation that may return `nodes` nodes costs."""
    return 1 + -(-max(nodes, 0) // NODES_PER_POINT)


def _parsed(text: str) -> _Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def trusted_networks(settings: Settings) -> tuple[_Network, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in settings.trusted_proxies)


def client_ip(scope: Scope, proxies: Sequence[_Network]) -> _Address | None:
    """The client's address: the peer's, or with a trusted proxy in front the rightmost
    address of X-Forwarded-For that is not one of our proxies (what is left of it, anyone
    may have written)."""

    def trusted(address: _Address) -> bool:
        return any(address in network for network in proxies)

    peer = _parsed((scope.get("client") or ("", 0))[0] or "")
    address = peer
    if peer is not None and trusted(peer):
        forwarded = [
            value.decode("latin-1")
            for name, value in scope["headers"]
            if name == b"x-forwarded-for"
        ]
        hops = [hop for value in forwarded for hop in value.split(",")]
        for hop in reversed(hops):
            parsed = _parsed(hop)
            if parsed is None:
                break  # a malformed hop: trust nothing to its left
            address = parsed
            if not trusted(parsed):
                break
    return address


class Policy:
    """The request policy of one app: its settings, metrics and rate limiter."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        limiter: RateLimiter,
        tracing: Tracing | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.limiter = limiter
        self.tracing = tracing
        self._proxies = trusted_networks(settings)

    # The client
    def client_address(self, scope: Scope) -> str:
        """Who an anonymous rate budget belongs to (see `client_ip`). IPv6 clients are counted
        per /64, the block one subscriber usually gets."""
        address = client_ip(scope, self._proxies)
        if address is None:
            return "unknown"
        if address.version == 6:
            mapped = getattr(address, "ipv4_mapped", None)
            if mapped is not None:
                return str(mapped)
            return str(ipaddress.ip_network(f"{address}/64", strict=False))
        return str(address)

    # Authentication
    async def authenticate(self, request: Request, ticket: Ticket, request_id: str) -> Viewer:
        """The viewer of a request's bearer token, whose budget the ticket charges from now
        on; or a Refusal: 401 with the same body whatever failed (the challenge says when the
        token merely expired), or 429 once the client address has spent its anonymous budget,
        since each attempt costs the address a point and guessing tokens must be slow."""
        bearer = await self.verify(request, ticket, request_id)
        return await self.viewer(bearer, request, ticket, request_id)

    async def verify(self, request: Request, ticket: Ticket, request_id: str) -> Bearer:
        """`authenticate`'s first half, which sends no statement: the token, verified. Its
        user's budget pays from now on."""
        try:
            bearer = verify(request.headers.get("authorization"), self.settings)
        except AuthenticationFailed as exc:
            raise await self._refusal(exc, request, ticket, request_id) from None
        ticket.charge_to(bearer.user_pk)
        return bearer

    async def viewer(
        self, bearer: Bearer, request: Request, ticket: Ticket, request_id: str
    ) -> Viewer:
        """`authenticate`'s second half: the viewer the token names, as they are now."""
        try:
            return await viewer_of(bearer)
        except AuthenticationFailed as exc:
            ticket.bucket = None  # nobody's budget: an anonymous attempt
            raise await self._refusal(exc, request, ticket, request_id) from None

    async def _refusal(
        self, exc: AuthenticationFailed, request: Request, ticket: Ticket, request_id: str
    ) -> Refusal:
        log.info("authentication failed: %s", exc, extra={"request_id": request_id})
        ticket.decision = await self.charge_anonymous(request.scope)
        if ticket.decision is not None and not ticket.decision.allowed:
            return Refusal(
                429,
                "Too many requests without a valid token from this address; "
                f"try again in {ticket.decision.retry_after} s",
                "RATE_LIMITED",
            )
        challenge = EXPIRED_CHALLENGE if isinstance(exc, TokenExpired) else BEARER_CHALLENGE
        return Refusal(
            401, UNAUTHENTICATED_MESSAGE, "UNAUTHENTICATED", {"WWW-Authenticate": challenge}
        )

    # Rate limits
    @property
    def limits_on(self) -> bool:
        return self.settings.rate_limit_points > 0

    async def charge_anonymous(self, scope: Scope) -> Decision | None:
        """One point of the address's budget, for a request without a valid token (None:
        anonymous limits are off)."""
        limit = self.settings.rate_limit_anonymous
        if limit <= 0:
            return None
        decision = await self.limiter.charge(f"a:{self.client_address(scope)}", 1, limit)
        if not decision.allowed:
            self.metrics.rate_limited.labels("anonymous").inc()
        return decision

    def ticket(self, headers: Mapping[str, str] | None = None) -> Ticket:
        """A ticket for one GraphQL operation, opened as its request arrives (with tracing, its
        span starts now, continuing the trace of the request's `traceparent`)."""
        ticket = Ticket(self, None, time.perf_counter())
        if self.tracing is not None:
            ticket.span = self.tracing.start("graphql", headers)
        return ticket

    def current(self, ticket: Ticket) -> AbstractContextManager[Any]:
        """The ticket's span is the current one in the block (SQL statements nest in it)."""
        if self.tracing is None or ticket.span is None:
            return nullcontext()
        return self.tracing.current(ticket.span)


def metrics_endpoint(
    settings: Settings, metrics: Metrics
) -> Callable[[Request], Awaitable[Response]]:
    """GET /metrics: the series, for a bearer of GATEWAY_METRICS_TOKEN, or without one for
    loopback clients only, so nothing leaks through the public port by default."""
    token = settings.metrics_token
    proxies = trusted_networks(settings)

    async def endpoint(request: Request) -> Response:
        if token is not None:
            scheme, _, sent = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                sent.strip().encode(), token.encode()
            ):
                return Response(
                    "metrics need the bearer token GATEWAY_METRICS_TOKEN names\n",
                    status_code=401,
                    media_type="text/plain",
                    headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
                )
        else:
            # The client, not the peer: a proxy on this machine is not the caller.
            client = client_ip(request.scope, proxies)
            if client is None or not client.is_loopback:
                return Response(
                    "metrics answer loopback clients only; set GATEWAY_METRICS_TOKEN to "
                    "read them from elsewhere\n",
                    status_code=403,
                    media_type="text/plain",
                )
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    return endpoint


def rate_limit_headers(decision: Decision | None) -> dict[str, str]:
    """RateLimit-Limit, -Remaining and -Reset of a budget just charged; Retry-After when it
    refused."""
    if decision is None:
        return {}
    headers = {
        "RateLimit-Limit": str(decision.limit),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(decision.reset),
    }
    if not decision.allowed:
        headers["Retry-After"] = str(decision.retry_after)
    return headers


@dataclass(slots=True, eq=False)
class Ticket:
    """One GraphQL operation on its way through the policy."""

    policy: Policy
    bucket: str | None  # the viewer's budget; None when nothing is charged
    started: float
    operation_type: str = UNKNOWN
    operation_name: str = ANONYMOUS
    decision: Decision | None = None
    # How the transport answered: ok, error or refused, and the top-level errors' codes.
    outcome: str = "refused"
    error_codes: list[str] = field(default_factory=list)
    # With tracing: the operation's span, and the document it ran (its hash is an attribute).
    span: Span | None = None
    document: str | None = None

    def charge_to(self, user_id: int) -> None:
        """From now on the viewer's budget pays (when limits are on)."""
        if self.policy.limits_on:
            self.bucket = f"u:{user_id}"

    async def admit(self, operation_type: str, operation_name: str | None, nodes: int) -> None:
        """Called by the schema once the operation passed validation and its variables were
        coerced: the operation is known, and its cost is charged. Raises RateLimited (nothing
        runs) when the budget cannot pay it."""
        self.operation_type = operation_type
        self.operation_name = self.policy.metrics.operation_label(operation_name)
        if self.span is not None:
            self.span.update_name(f"{operation_type} {operation_name or ANONYMOUS}")
            self.span.set_attribute("graphql.operation.type", operation_type)
            self.span.set_attribute("graphql.operation.name", operation_name or "")
        await self.charge(cost_of(nodes))

    async def charge(self, cost: int) -> None:
        """The viewer's budget pays `cost` points, or RateLimited is raised (nothing runs)."""
        if self.bucket is None:
            return
        decision = await self.policy.limiter.charge(
            self.bucket, cost, self.policy.settings.rate_limit_points, LIMIT_PERIOD
        )
        self.decision = decision
        if not decision.allowed:
            self.policy.metrics.rate_limited.labels("user").inc()
            raise RateLimited(cost, decision.retry_after)

    async def refused(self) -> None:
        """A request refused before its cost was charged (a bad parameter, a parse or
        validation error) costs one point."""
        if self.bucket is not None and self.decision is None:
            self.decision = await self.policy.limiter.charge(
                self.bucket, 1, self.policy.settings.rate_limit_points, LIMIT_PERIOD
            )

    def headers(self) -> dict[str, str]:
        return rate_limit_headers(self.decision)

    def answered(self, outcome: str, errors: Sequence[Any] = ()) -> None:
        """How the operation was answered; `errors` are formatted top-level errors."""
        self.answered_with(
            outcome,
            *(
                str((error.get("extensions") or {}).get("code") or "INTERNAL_SERVER_ERROR")
                for error in errors
            ),
        )

    def answered_with(self, outcome: str, *codes: str) -> None:
        """How the operation was answered, where only its errors' codes are known."""
        self.outcome = outcome
        self.error_codes = list(codes)

    def finish(self) -> None:
        """The operation's metrics, once its answer is on its way."""
        self.policy.metrics.operation(
            self.operation_type,
            self.operation_name,
            self.outcome,
            time.perf_counter() - self.started,
            self.error_codes,
        )
        span = self.span
        if span is not None:
            if self.document is not None:
                span.set_attribute("graphql.document.hash", document_hash(self.document))
            span.set_attribute("graphql.outcome", self.outcome)
            if self.outcome != "ok":
                failed(span, description=", ".join(self.error_codes) or self.outcome)
            span.end()
