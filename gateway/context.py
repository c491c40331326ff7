"""The per-request GraphQL context: who asks, their portal, fresh loaders, settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from strawberry.types import Info as StrawberryInfo

from gateway.models import Portal, User
from gateway.resolvers.loaders import Loaders
from gateway.services.events import Publisher
from gateway.settings import Settings


@dataclass
class Context:
    settings: Settings
    viewer: User
    portal: Portal
    request_id: str
    publisher: Publisher
    loaders: Loaders = field(default_factory=Loaders)


Info = StrawberryInfo[Context, None]
