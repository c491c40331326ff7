"""Webhook and Slack destinations (DESIGN §6 "More channels"): which URLs a rule may deliver to,
how a message is signed, and one HTTP attempt to a checked address.

Destinations are checked when a rule is saved and again at every attempt, after resolving the
host: every address it resolves to must be global (IPv4-mapped IPv6 addresses are unwrapped
first), so a rule cannot make the gateway call into its own network (SSRF). The attempt then
connects to the address that was checked, sending the name in `Host` and, over TLS, as the SNI
name the certificate is verified against; no second lookup happens, so a DNS answer that
changes between the check and the connection (rebinding) cannot redirect it. Redirects are
never followed: the answer to the attempt is what counts.

Bodies are signed like `/events` requests (gateway/events_http.py): HMAC-SHA256 over
`timestamp + "." + body`, `X-Gateway-Timestamp` and `X-Gateway-Signature: sha256=<hex>`.

The resolver is `resolve_host` looked up at call time, so tests can make a name resolve to an
address of their choosing (and count the lookups); `tls_verify` likewise, so they can serve
https under a certificate authority of their own.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from gateway.events_http import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from gateway.settings import Settings

DELIVERY_HEADER = "X-Gateway-Delivery"
MAX_URL = 2048
# At most this much of a refusing answer is kept in the delivery's lastError.
MAX_ANSWER_BYTES = 1024
# A Retry-After asking for longer than this is capped (DESIGN §6).
MAX_RETRY_AFTER = 3600.0
USER_AGENT = "connected-apps-gateway-webhooks"

Resolver = Callable[[str, int], Awaitable[list[str]]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


async def system_resolve(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives for `host`."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


resolve_host: Resolver = system_resolve
# What a TLS destination's certificate is verified against: the system's authorities (True),
# looked up at call time, so tests can trust an authority of their own.
tls_verify: ssl.SSLContext | bool = True


class Refusal(Exception):
    """Why a URL may not be delivered to; `transient` when a later try may succeed (the name
    did not resolve in time), else the URL itself or where it leads is refused."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.message, self.transient = message, transient


@dataclass(frozen=True)
class Destination:
    """A URL checked for delivery: where to connect (`address`) and what to say."""

    url: str
    scheme: str
    host: str
    port: int
    target: str  # path and query
    address: IPAddress

    @property
    def host_header(self) -> str:
        name = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return name if self.port == default else f"{name}:{self.port}"

    @property
    def pinned_url(self) -> str:
        """The URL with the checked address in place of the name."""
        literal = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return f"{self.scheme}://{literal}:{self.port}{self.target}"


def _unwrapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _public(address: IPAddress) -> bool:
    return address.is_global and not address.is_multicast


def _parse(url: str, settings: Settings) -> tuple[str, str, int, str]:
    """Scheme, host, port and path of an acceptable URL, else a Refusal saying why."""
    if len(url) > MAX_URL:
        raise Refusal(f"The URL is longer than {MAX_URL} characters")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise Refusal("The URL must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Refusal("Not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise Refusal("The URL must start with https://")
    if scheme == "http" and not (settings.debug or settings.webhook_allow_private):
        raise Refusal("The URL must use https")
    if not parts.hostname:
        raise Refusal("The URL has no host")
    if parts.username is not None or parts.password is not None:
        raise Refusal("The URL must not contain a user name or password")
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return scheme, parts.hostname.lower(), port or (443 if scheme == "https" else 80), target


async def check(url: str, settings: Settings, resolver: Resolver | None = None) -> Destination:
    """The destination `url` delivers to, checked now; a Refusal when it may not be used."""
    scheme, host, port, target = _parse(url, settings)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [_unwrapped(literal)]
    else:
        resolve = resolver or resolve_host
        try:
            async with asyncio.timeout(settings.webhook_resolve_timeout):
                found = await resolve(host, port)
        except (TimeoutError, OSError):
            found = []
        addresses = []
        for raw in found:
            try:
                addresses.append(_unwrapped(ipaddress.ip_address(raw.split("%", 1)[0])))
            except ValueError:
                continue
        if not addresses:
            raise Refusal(
                f"The host {host} does not resolve (within {settings.webhook_resolve_timeout:g} s)",
                transient=True,
            )
    if not settings.webhook_allow_private:
        refused = [a for a in addresses if not _public(a)]
        if refused:
            raise Refusal(
                f"The host {host} resolves to {refused[0]}, a private, loopback or reserved "
                "address: only public destinations are allowed"
            )
    return Destination(url, scheme, host, port, target, addresses[0])


def host_of(url: str | None) -> str | None:
    """The URL's host, what people without MANAGE_NOTIFICATIONS see of it."""
    if not url:
        return None
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def signed_headers(secret: str, body: bytes, now: float) -> dict[str, str]:
    timestamp = str(int(now))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: sign(secret, timestamp, body)}


@dataclass(frozen=True)
class Answer:
    """What came back from one attempt: the status (None: no answer at all), the start of the
    answer's body, and the Retry-After it asked for (seconds, capped)."""

    status: int | None
    text: str
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def transient(self) -> bool:
        """Worth retrying: no answer, a timeout (408), too many requests (429), a 5xx."""
        return self.status is None or self.status in (408, 429) or self.status >= 500

    def describe(self) -> str:
        if self.status is None:
            return self.text
        head = f"HTTP {self.status}"
        return f"{head}: {self.text}" if self.text else head


def _retry_after(value: str | None, now: float) -> float | None:
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        from email.utils import parsedate_to_datetime

        try:
            seconds = parsedate_to_datetime(value).timestamp() - now
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


async def post(
    destination: Destination,
    body: bytes,
    headers: dict[str, str],
    settings: Settings,
    *,
    now: float | None = None,
) -> Answer:
    """One POST of `body` to the checked address; never raises for the network's sake."""
    sent_headers = {
        "Host": destination.host_header,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **headers,
    }
    extensions = {"sni_hostname": destination.host} if destination.scheme == "https" else {}
    try:
        async with (
            httpx.AsyncClient(
                follow_redirects=False,
                timeout=settings.webhook_timeout,
                trust_env=False,
                verify=tls_verify,
            ) as client,
            client.stream(
                "POST",
                destination.pinned_url,
                content=body,
                headers=sent_headers,
                extensions=extensions,
            ) as response,
        ):
            chunk = b""
            async for part in response.aiter_bytes():
                chunk += part
                if len(chunk) >= MAX_ANSWER_BYTES:
                    break
            text = chunk[:MAX_ANSWER_BYTES].decode("utf-8", "replace")
            if 300 <= response.status_code < 400:
                location = response.headers.get("location")
                text = f"redirects are not followed (Location: {location})"[:MAX_ANSWER_BYTES]
            retry = (
                _retry_after(response.headers.get("retry-after"), now or time.time())
                if response.status_code == 429
                else None
            )
            return Answer(response.status_code, text, retry)
    except httpx.TimeoutException:
        return Answer(None, f"No answer within {settings.webhook_timeout:g} s")
    except httpx.HTTPError as exc:
        return Answer(None, f"Connection failed: {type(exc).__name__}: {exc}"[:MAX_ANSWER_BYTES])
