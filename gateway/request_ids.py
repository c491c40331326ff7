"""The id a request is logged and answered under (X-Request-ID), the same for every endpoint."""

from __future__ import annotations

import re
import uuid

# A client's id is echoed and logged only when it looks like one: printable ASCII without
# spaces, at most 128 characters, so it can't forge log lines or bloat them.
_USABLE = re.compile(r"[\x21-\x7e]{1,128}")


def accepted_request_id(header: str | None) -> str:
    """The client's X-Request-ID when it is usable, else a fresh id of our own."""
    if header and _USABLE.fullmatch(header):
        return header
    return uuid.uuid4().hex
