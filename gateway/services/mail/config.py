"""Mail configuration: `GATEWAY_SMTP_URL` and `GATEWAY_MAIL_FROM`, checked at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parseaddr
from urllib.parse import parse_qsl, unquote, urlsplit

from gateway.settings import Settings, SettingsError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class SmtpConfig:
    hostname: str
    port: int
    use_tls: bool  # smtps://: TLS from the first byte
    start_tls: bool  # smtp://…?starttls=1: STARTTLS required (no silent fallback to plain text)
    username: str | None = None
    password: str | None = None


_URL_FORM = "smtp://[user:pass@]host[:port][?starttls=1] or smtps://[user:pass@]host[:port]"


def parse_smtp_url(url: str) -> SmtpConfig:
    """`GATEWAY_SMTP_URL` → connection settings; a `SettingsError` says what is wrong.

    Default ports: 25 for smtp://, 465 for smtps://. Credentials are percent-decoded. The
    messages never repeat the URL: it may hold a password.
    """

    def bad(problem: str) -> SettingsError:
        return SettingsError(f"GATEWAY_SMTP_URL is invalid: {problem} (expected {_URL_FORM})")

    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise bad(str(exc)) from None
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps"):
        raise bad(f"the scheme must be smtp or smtps, not {scheme!r}" if scheme else "no scheme")
    if not parts.hostname:
        raise bad("no host")
    if parts.path not in ("", "/") or parts.fragment:
        raise bad("a path or fragment is not allowed")
    start_tls = False
    try:
        query = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise bad("the query string cannot be parsed") from None
    for key, value in query:
        if key != "starttls":
            raise bad(f"unknown parameter {key!r}")
        if value.lower() in _TRUE:
            start_tls = True
        elif value.lower() in _FALSE:
            start_tls = False
        else:
            raise bad(f"starttls must be 1 or 0, not {value!r}")
    if scheme == "smtps" and start_tls:
        raise bad("smtps:// already uses TLS; starttls=1 is for smtp://")
    if port == 0:
        raise bad("port 0")
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    if password is not None and not username:
        raise bad("a password without a user name")
    return SmtpConfig(
        hostname=parts.hostname,
        port=port or (465 if scheme == "smtps" else 25),
        use_tls=scheme == "smtps",
        start_tls=start_tls,
        username=username or None,
        password=password if username else None,
    )


def check_smtp_url(settings: Settings) -> SmtpConfig | None:
    """Validate the mail settings at start-up (serve and worker), so a typo stops the process
    instead of failing every email for days: `GATEWAY_SMTP_URL` (None: the file outbox) and
    `GATEWAY_MAIL_FROM` (an address with a domain, optionally with a display name)."""
    address = parseaddr(settings.mail_from)[1]
    local, _, domain = address.rpartition("@")
    if not local or not domain or any(c.isspace() for c in address):
        raise SettingsError(
            f"GATEWAY_MAIL_FROM must be an email address such as notifications@example.com "
            f"or 'Name <notifications@example.com>', got {settings.mail_from!r}"
        )
    if settings.smtp_url is None:
        return None
    return parse_smtp_url(settings.smtp_url)
