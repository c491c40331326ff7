"""Structured JSON logs, one object per line, carrying the request id when there is one."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

from gateway.settings import Settings
from gateway.tracing import current_trace_id

_STANDARD = set(vars(logging.makeLogRecord({})))


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        # Fields passed with `extra=` (request_id, …) become keys of their own.
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        trace_id = current_trace_id()
        if trace_id is not None:
            entry.setdefault("trace_id", trace_id)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


# A signed export link's token in a logged request target (gateway/export_links.py).
_LINK_TOKEN = re.compile(r"([?&]token=)[^&\s\"]*")


def _redacted(value: object) -> object:
    return _LINK_TOKEN.sub(r"\1[redacted]", value) if isinstance(value, str) else value


class RedactLinkTokens(logging.Filter):
    """Takes export links' tokens out of access log lines: a link is a credential for a
    minute, and an access log (uvicorn's, when an operator turns it on) keeps request targets."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(map(_redacted, record.args))
        record.msg = _redacted(record.msg)
        return True


def redact_link_tokens() -> None:
    """Install `RedactLinkTokens` on uvicorn's access logger, once per process: whoever serves
    the app, with or without its access log."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactLinkTokens) for f in access.filters):
        access.addFilter(RedactLinkTokens())


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if settings.debug else logging.INFO)
    # The ORM logs every statement at DEBUG: too much even for development.
    logging.getLogger("tortoise").setLevel(logging.INFO)
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
    logging.getLogger("asyncio").setLevel(logging.WARNING)
