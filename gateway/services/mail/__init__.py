"""Digest emails (DESIGN §1 "Digests"): the mail settings (`config`), the message (`message`),
where it goes (`transports`: SMTP or `.eml` files) and the outbox pass that sends what is due
with leases and retries (`outbox`)."""

from gateway.services.mail.config import SmtpConfig, check_smtp_url, parse_smtp_url
from gateway.services.mail.message import (
    CONSOLE_PATH,
    PLATFORM,
    build_message,
    describe_period,
    message_id,
)
from gateway.services.mail.outbox import MAX_ERROR, SendResult, retry_at, send_due
from gateway.services.mail.transports import eml_name

__all__ = [
    "CONSOLE_PATH",
    "MAX_ERROR",
    "PLATFORM",
    "SendResult",
    "SmtpConfig",
    "build_message",
    "check_smtp_url",
    "describe_period",
    "eml_name",
    "message_id",
    "parse_smtp_url",
    "retry_at",
    "send_due",
]
