"""Brokers carry committed envelopes to every process's live subscribers (DESIGN §3).

One process: `InProcessBroker`, a synchronous fan-out. Several processes: `RedisBroker`, Redis
pub/sub with one subscriber connection per process feeding the same local fan-out, on a channel
named under the deployment's prefix (`Settings.redis_namespace`): deployments that share a
Redis server never hear each other, whatever database index their URLs name. Pub/sub is
at-most-once: when the broker is lost, listeners hear `lost()` so open subscriptions can close
(clients reconnect and refetch), and publishing never blocks or fails the writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Protocol

import orjson
import redis.asyncio as redis
from redis.exceptions import RedisError

from gateway.services.envelopes import Envelope
from gateway.settings import Settings

log = logging.getLogger("gateway.broker")

Listener = Callable[[Envelope], None]


class Broker(Protocol):
    healthy: bool

    @property
    def prefix(self) -> str | None:
        """What this deployment's Redis channels start with; None without Redis."""

    async def publish(self, envelope: Envelope) -> None: ...
    def listen(self, listener: Listener) -> Callable[[], None]: ...
    def on_lost(self, callback: Callable[[], None]) -> None: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def settled(self) -> None: ...


class _FanOut:
    """Local listeners of envelopes, and of the broker's loss."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._lost: list[Callable[[], None]] = []

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` with every envelope; returns the function that stops it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def on_lost(self, callback: Callable[[], None]) -> None:
        self._lost.append(callback)

    def _deliver(self, envelope: Envelope) -> None:
        for listener in list(self._listeners):
            try:
                listener(envelope)
            except Exception:  # one broken listener must not starve the others
                log.exception("envelope listener failed")

    def _report_lost(self) -> None:
        for callback in list(self._lost):
            try:
                callback()
            except Exception:
                log.exception("broker-lost callback failed")


class InProcessBroker(_FanOut):
    """The embedded broker: envelopes go straight to this process's listeners."""

    healthy = True
    prefix = None

    async def publish(self, envelope: Envelope) -> None:
        self._deliver(envelope)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def settled(self) -> None:
        """Everything published so far has been delivered (it is, at once)."""


class RedisBroker(_FanOut):
    """Redis pub/sub on the deployment's channel; each process keeps one subscriber
    connection."""

    def __init__(
        self, url: str, prefix: str, *, prefix_source: str = "", outbox_size: int = 10_000
    ) -> None:
        super().__init__()
        self._url = url
        self.prefix = prefix
        self._prefix_source = prefix_source
        self.channel = f"{prefix}:envelopes"
        self._client = redis.from_url(url, socket_connect_timeout=1, socket_timeout=5)
        # Writers hand envelopes to one sender task and return at once: a busy event loop or
        # a slow Redis delays delivery, it never delays (or fails) the committed change.
        self._outbox: asyncio.Queue[bytes] = asyncio.Queue(maxsize=outbox_size)
        self._tasks: list[asyncio.Task[None]] = []
        self._subscribed = asyncio.Event()
        self._markers: dict[str, asyncio.Event] = {}
        self.healthy = False

    async def start(self) -> None:
        log.info("Redis prefix %s%s", self.prefix, self._prefix_source)
        self._tasks = [
            asyncio.create_task(self._listen_forever(), name="redis-broker-listen"),
            asyncio.create_task(self._send_forever(), name="redis-broker-send"),
        ]
        # Start-up does not wait for Redis: without it the gateway serves all but live updates.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), timeout=2)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._client.aclose()

    async def publish(self, envelope: Envelope) -> None:
        if not self.healthy:
            log.warning("broker down: envelope for portal %s dropped", envelope.portal_id)
            return
        self._enqueue(orjson.dumps({"envelope": envelope.to_json()}))

    def _enqueue(self, data: bytes) -> None:
        try:
            self._outbox.put_nowait(data)
        except asyncio.QueueFull:
            # Redis has not taken anything for a long while: the broker is as good as lost.
            log.error("broker outbox full: envelope dropped")
            self._report_lost()

    async def _send_forever(self) -> None:
        while True:
            data = await self._outbox.get()
            try:
                await self._client.publish(self.channel, data)
            except (RedisError, OSError) as exc:
                # Redis is failing; the listener notices the loss and closes subscriptions.
                log.warning("publishing to Redis failed, envelope dropped: %s", exc)

    async def settled(self) -> None:
        """Everything this process published so far has come back from Redis: a marker sent
        after it arrives after it (Redis delivers one channel in order)."""
        marker = f"{id(self)}-{len(self._markers)}"
        arrived = self._markers[marker] = asyncio.Event()
        try:
            self._enqueue(orjson.dumps({"marker": marker}))
            await asyncio.wait_for(arrived.wait(), timeout=5)
        finally:
            self._markers.pop(marker, None)

    async def _listen_forever(self) -> None:
        backoff = 0.2
        while True:
            # A pub/sub connection must not time out while waiting (redis-py 8's 5 s default).
            client = redis.from_url(
                self._url, socket_connect_timeout=1, socket_timeout=None, health_check_interval=10
            )
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self.healthy = True
                self._subscribed.set()
                backoff = 0.2
                log.info("subscribed to Redis channel %s", self.channel)
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._receive(message["data"])
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.warning("Redis subscription lost: %s", exc)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                    await client.aclose()
                if self.healthy:
                    self.healthy = False
                    self._report_lost()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    def _receive(self, data: bytes) -> None:
        try:
            message = orjson.loads(data)
            if "marker" in message:
                if (event := self._markers.get(message["marker"])) is not None:
                    event.set()
                return
            envelope = Envelope.from_json(message["envelope"])
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed broker message")
            return
        self._deliver(envelope)


def make_broker(settings: Settings) -> InProcessBroker | RedisBroker:
    if settings.redis_url is None:
        return InProcessBroker()
    source = (
        " (from GATEWAY_REDIS_PREFIX)"
        if settings.redis_prefix
        else " (from the database URL; set GATEWAY_REDIS_PREFIX to choose one)"
    )
    return RedisBroker(settings.redis_url, settings.redis_namespace, prefix_source=source)
