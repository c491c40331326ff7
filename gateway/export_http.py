"""`GET /export/app-log`: the App log as a CSV or NDJSON download (DESIGN §6 "Log export").

This module is the HTTP edge: the request policy's steps, the parameters, the caps, and
framing the rows `services.export` reads. In order, the first failure answering as JSON
`{"errors": [...]}` before any byte of the file:

1. who: a bearer token, or a signed link's `token` (gateway/export_links.py) — 401
   UNAUTHENTICATED, the same body for every reason;
2. the parameters (gateway/export_params.py) — 400 BAD_USER_INPUT naming the parameter;
3. the concurrency caps, at most `per_viewer` exports at once per viewer and `per_process` in
   this process — 429 RATE_LIMITED (costs no points);
4. a signed link is used up here, once;
5. the cost, `COST` points of the viewer's budget — 429 RATE_LIMITED with Retry-After;
6. the first batch is read, so an unreachable database is still a 500 with a request id.

Then the file streams, a batch at a time. A failure after the first byte cuts the transfer
short (no final chunk, so no client takes it for a whole file); NDJSON first gets an
`{"error": …}` line saying so.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from datetime import UTC
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gateway import clock, export_links, export_params
from gateway.auth import load_viewer
from gateway.errors import RateLimited
from gateway.export_links import LinkRefused, UsedLinks
from gateway.export_params import BadParameter
from gateway.policy import BEARER_CHALLENGE, Policy, Refusal, Ticket, error_body
from gateway.request_ids import accepted_request_id
from gateway.services import export
from gateway.services.export import Format

log = logging.getLogger("gateway.export_http")

# What an export costs of the viewer's budget (DESIGN §6): a million rows are worth some
# hundred pages.
COST = 100
PER_VIEWER = 2
PER_PROCESS = 4
_BOM = "\ufeff".encode()
_LINK_REFUSED = "This export link is invalid, expired or used already: ask for a new one"


class Slots:
    """Exports running in this process, per viewer and in all."""

    def __init__(self, per_viewer: int = PER_VIEWER, per_process: int = PER_PROCESS) -> None:
        self.per_viewer, self.per_process = per_viewer, per_process
        self.running: dict[int, int] = {}

    @property
    def total(self) -> int:
        return sum(self.running.values())

    def take(self, user_id: int) -> str | None:
        """None when a slot was taken (give it back with `give_back`), else why not."""
        if self.running.get(user_id, 0) >= self.per_viewer:
            return f"At most {self.per_viewer} exports may run at once per person"
        if self.total >= self.per_process:
            return "Too many exports are running; try again shortly"
        self.running[user_id] = self.running.get(user_id, 0) + 1
        return None

    def give_back(self, user_id: int) -> None:
        left = self.running.get(user_id, 0) - 1
        if left > 0:
            self.running[user_id] = left
        else:
            self.running.pop(user_id, None)


def slug(name: str) -> str:
    """The portal's name for a file name: its ASCII letters and digits, lower case, in runs
    joined by `-` (accents dropped first: "Café Nord" is cafe-nord), else `portal`."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "-".join(re.findall(r"[a-z0-9]+", ascii_name.lower())) or "portal"


def unicode_slug(name: str) -> str:
    """The same in any script, for `filename*`: letters and digits, lower case, joined by `-`."""
    return "-".join(re.findall(r"[^\W_]+", name.lower())) or "portal"


def content_disposition(portal_name: str, fmt: Format) -> str:
    day = clock.utc_now().astimezone(UTC).date().isoformat()
    plain = f"app-log-{slug(portal_name)}-{day}.{fmt.value}"
    full = f"app-log-{unicode_slug(portal_name)}-{day}.{fmt.value}"
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(full, safe='')}"


class ExportHTTP:
    def __init__(self, policy: Policy, used: UsedLinks, slots: Slots | None = None) -> None:
        self.policy = policy
        self.settings = policy.settings
        self.used = used
        self.slots = slots or Slots()

    async def handle(self, request: Request) -> Response:
        request_id = accepted_request_id(request.headers.get("x-request-id"))
        ticket = self.policy.ticket(request.headers)
        ticket.operation_type, ticket.operation_name = "export", "AppLogExport"
        # The path only: the query string may hold a signed link's token, a credential.
        log.info("app log export requested", extra={"request_id": request_id})
        response: Response
        try:
            with self.policy.current(ticket):
                response = await self._start(request, request_id, ticket)
        except Refusal as refusal:
            await ticket.refused()
            ticket.answered_with("refused", refusal.code)
            response = refusal.response()
            response.headers.update(ticket.headers())
        except RateLimited as limited:
            ticket.answered_with("refused", "RATE_LIMITED")
            response = Response(
                error_body(str(limited), "RATE_LIMITED"),
                status_code=429,
                media_type="application/json",
                headers=ticket.headers(),
            )
        except Exception:
            log.exception("unexpected error starting an export", extra={"request_id": request_id})
            ticket.answered_with("error", "INTERNAL_SERVER_ERROR")
            response = Response(
                error_body(
                    f"Internal error (request id {request_id})",
                    "INTERNAL_SERVER_ERROR",
                    requestId=request_id,
                ),
                status_code=500,
                media_type="application/json",
            )
        if not isinstance(response, _Export):
            ticket.finish()
        response.headers["X-Request-ID"] = request_id
        response.headers["Cache-Control"] = "no-store"
        return response

    async def _start(self, request: Request, request_id: str, ticket: Ticket) -> Response:
        items = list(request.query_params.multi_items())
        token = next((v for k, v in items if k == export_links.TOKEN_PARAMETER), None)
        if token is None:
            viewer = await self.policy.authenticate(request, ticket, request_id)
        try:
            fmt, flt, bom, _token = export_params.parse(items)
        except BadParameter as bad:
            raise _BadInput(bad) from None
        link = None
        if token is not None:
            try:
                link = export_links.verify(
                    self.settings, token, export_params.canonical(fmt, flt, bom)
                )
                found = await load_viewer(link.user_id, link.portal_id)
                if found is None:
                    raise LinkRefused("the user is no longer in the portal")
            except LinkRefused as refused:
                raise await self._link_refused(request, request_id, ticket, str(refused)) from None
            viewer = found
            ticket.charge_to(viewer.user.id)
        user_id = viewer.user.id
        refused_slot = self.slots.take(user_id)
        if refused_slot is not None:
            self.policy.metrics.rate_limited.labels("export").inc()
            raise Refusal(429, refused_slot, "RATE_LIMITED", {"Retry-After": "1"})
        try:
            if link is not None and not await self.used.claim(link):
                raise await self._link_refused(request, request_id, ticket, "used already")
            await ticket.charge(COST)
            batches = export.batches(viewer.portal.id, flt)
            first = await anext(batches, None)
        except BaseException:
            self.slots.give_back(user_id)
            raise
        log.info(
            "app log export started",
            extra={"request_id": request_id, "format": fmt.value, "signed_link": link is not None},
        )
        return _Export(
            self._body(fmt, bom, first, batches, request_id),
            fmt,
            headers={
                "Content-Disposition": content_disposition(viewer.portal.name, fmt),
                **ticket.headers(),
            },
            done=lambda outcome: self._done(ticket, user_id, outcome),
        )

    async def _link_refused(
        self, request: Request, request_id: str, ticket: Ticket, why: str
    ) -> Refusal:
        """401, the same for every reason; a bad link costs the address a point of its
        anonymous budget, as a bad token does (guessing must be slow)."""
        log.info("export link refused: %s", why, extra={"request_id": request_id})
        ticket.decision = await self.policy.charge_anonymous(request.scope)
        if ticket.decision is not None and not ticket.decision.allowed:
            return Refusal(429, "Too many refused requests from this address", "RATE_LIMITED")
        return Refusal(
            401, _LINK_REFUSED, "UNAUTHENTICATED", {"WWW-Authenticate": BEARER_CHALLENGE}
        )

    def _done(self, ticket: Ticket, user_id: int, outcome: str) -> None:
        self.slots.give_back(user_id)
        ticket.answered_with(outcome, *(("INTERNAL_SERVER_ERROR",) if outcome == "error" else ()))
        ticket.finish()

    async def _body(
        self,
        fmt: Format,
        bom: bool,
        first: list[export.Row] | None,
        rest: AsyncIterator[list[export.Row]],
        request_id: str,
    ) -> AsyncGenerator[bytes, None]:
        writer = export.writer(fmt)
        head = (_BOM if bom else b"") + writer.header()
        if first is None:
            yield head
            return
        yield head + writer.rows(first)
        try:
            async for batch in rest:
                yield writer.rows(batch)
        except Exception as exc:
            log.exception("app log export failed mid-stream", extra={"request_id": request_id})
            if fmt is Format.NDJSON:
                yield export.ndjson_error(
                    f"Internal error (request id {request_id}): the export stopped here",
                    "INTERNAL_SERVER_ERROR",
                    request_id,
                )
            raise _Aborted from exc


class _Aborted(Exception):
    """The file failed after its first byte: its transfer is cut short."""


class _BadInput(Refusal):
    """400 BAD_USER_INPUT with `extensions.argument` naming the parameter, as a GraphQL
    argument's would."""

    def __init__(self, bad: BadParameter) -> None:
        super().__init__(400, str(bad), "BAD_USER_INPUT")
        self.argument = bad.parameter

    def response(self, media_type: str = "application/json") -> Response:
        return Response(
            error_body(self.message, self.code, argument=self.argument),
            status_code=self.status,
            media_type=media_type,
        )


class _Export(Response):
    """The file, streamed: its body is sent chunk by chunk, and whatever ends it (the last
    row, a failure, the client leaving) gives its slot back and closes its reads at once."""

    body_iterator: AsyncGenerator[bytes, None]

    def __init__(
        self,
        body: AsyncGenerator[bytes, None],
        fmt: Format,
        headers: dict[str, str],
        done: Callable[[str], None],
    ) -> None:
        self.body_iterator = body
        self.status_code = 200
        self.media_type = fmt.media_type
        self.background = None
        self.init_headers(headers)
        self._done = done

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        outcome = "ok"
        body = self.body_iterator
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            async for chunk in body:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except _Aborted:
            # Returning without the final chunk: the server closes the connection.
            outcome = "error"
        except OSError:  # the client went away
            outcome = "error"
        finally:
            await body.aclose()
            self._done(outcome)
