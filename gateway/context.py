"""The per-request GraphQL context: who asks, their portal, fresh loaders, settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from strawberry.types import Info as StrawberryInfo

from gateway.loaders import Loaders
from gateway.models import Portal, User
from gateway.services.envelopes import Envelope, Publisher
from gateway.settings import Settings

if TYPE_CHECKING:
    from gateway.policy import Ticket


@dataclass
class Context:
    """One request's: an HTTP request, or one operation over a socket (gateway/live.py)."""

    settings: Settings
    viewer: User
    portal: Portal
    request_id: str
    publisher: Publisher
    loaders: Loaders = field(default_factory=Loaders)
    # The event a subscription's group executes (gateway/live.py); None when a subscription
    # is checked at `subscribe`, when its field yields nothing.
    envelope: Envelope | None = None
    # The request policy's record of this operation (gateway/policy.py): the schema stamps it
    # with the operation and charges its cost before execution. None: nothing is charged.
    ticket: Ticket | None = None


Info = StrawberryInfo[Context, None]
