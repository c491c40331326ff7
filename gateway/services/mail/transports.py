"""Where messages go: an SMTP server, or `.eml` files in a folder (embedded mode)."""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

import aiosmtplib

from gateway.services.mail.config import SmtpConfig, check_smtp_url
from gateway.settings import Settings


class ConnectFailed(Exception):
    """No conversation with the server (refused, timeout, TLS, greeting or login failure)."""


class Transport(Protocol):
    async def send(self, message: EmailMessage, sender: str, recipient: str) -> None: ...

    async def close(self) -> None: ...


class SmtpTransport:
    """One SMTP session per pass, reused for its messages (reconnecting after a drop).

    Once connecting has failed in a pass, the pass's other messages record the same failure
    without trying again: a server that is down would otherwise cost a timeout per message.
    """

    def __init__(self, config: SmtpConfig, timeout: float) -> None:
        self._config = config
        self._timeout = timeout
        self._client: aiosmtplib.SMTP | None = None
        self._unreachable: str | None = None

    async def send(self, message: EmailMessage, sender: str, recipient: str) -> None:
        if self._unreachable is not None:
            raise ConnectFailed(self._unreachable)
        if self._client is None or not self._client.is_connected:
            c = self._config
            client = aiosmtplib.SMTP(
                hostname=c.hostname,
                port=c.port,
                use_tls=c.use_tls,
                start_tls=c.start_tls,
                username=c.username,
                password=c.password,
                timeout=self._timeout,
            )
            try:
                await client.connect()
            except Exception as exc:
                self._unreachable = describe_error(exc)
                raise ConnectFailed(self._unreachable) from exc
            self._client = client
        try:
            await self._client.send_message(message, sender=sender, recipients=[recipient])
        finally:
            if not self._client.is_connected:
                self._client = None

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and client.is_connected:
            try:
                await client.quit()
            except Exception:
                client.close()


class FileTransport:
    """Embedded mode without SMTP: each message becomes `<Message-ID>.eml` in `mail_dir`; a
    resend overwrites its file (written to a temporary name, then renamed)."""

    def __init__(self, directory: str) -> None:
        self._directory = Path(directory)

    async def send(self, message: EmailMessage, sender: str, recipient: str) -> None:
        await asyncio.to_thread(self._write, message)

    def _write(self, message: EmailMessage) -> None:
        self._directory.mkdir(parents=True, exist_ok=True)
        path = self._directory / eml_name(str(message["Message-ID"]))
        fd, tmp = tempfile.mkstemp(dir=self._directory, prefix=".tmp-", suffix=".eml")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(message.as_bytes())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def close(self) -> None:
        return None


def eml_name(message_id_: str) -> str:
    """The outbox file of a Message-ID: `<digest.3.1793577600.7@localhost>` →
    `digest.3.1793577600.7@localhost.eml`."""
    return re.sub(r"[^A-Za-z0-9.@_\-]", "_", message_id_.strip().strip("<>")) + ".eml"


def transport_for(settings: Settings) -> Transport:
    config = check_smtp_url(settings)
    if config is None:
        return FileTransport(settings.mail_dir)
    return SmtpTransport(config, settings.smtp_timeout)


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        return describe_error(exc.recipients[0])
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"{exc.code} {exc.message}".strip()
    text = str(exc).strip()
    return text if text else type(exc).__name__
