"""The per-request GraphQL context: who asks, their portal, fresh loaders, settings."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from strawberry.types import Info as StrawberryInfo

from gateway.loaders import Loaders
from gateway.models import Portal, User
from gateway.services.envelopes import Publisher
from gateway.settings import Settings

if TYPE_CHECKING:
    from gateway.live import Hub, Socket

# A subscription event's loaders. A subscription's context lives as long as the subscription,
# so its own loaders would serve stale data to later events; each event's execution (in the
# operation's own task) sets fresh ones here instead.
event_loaders: ContextVar[Loaders | None] = ContextVar("event_loaders", default=None)


@dataclass
class Context:
    """One request's: an HTTP request, or one operation over a socket (gateway/live.py)."""

    settings: Settings
    viewer: User
    portal: Portal
    request_id: str
    publisher: Publisher
    # Set on WebSocket connections only.
    websocket: Any = None
    socket: Socket | None = None
    hub: Hub | None = None
    _loaders: Loaders = field(default_factory=Loaders)

    @property
    def loaders(self) -> Loaders:
        return event_loaders.get() or self._loaders

    @loaders.setter
    def loaders(self, value: Loaders) -> None:
        self._loaders = value


Info = StrawberryInfo[Context, None]
