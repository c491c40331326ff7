"""Persisted documents (DESIGN.md §3): which document a request runs when it names one by hash.

`PersistedDocuments.lookup` takes a request's `query`, `extensions` and `documentId` as sent
(over HTTP or in a WebSocket `subscribe`) and returns the text to run, or raises
`PersistedProblem` with the code the transport presents. Two modes:

- automatic persisted queries (Apollo's protocol): a hash alone runs a stored document; hash and
  query register it, which the caller completes with `register` once the document validates;
- trusted documents (`TrustedDocuments`, the manifests' union): only their documents run, by
  `documentId` or by APQ hash, and nothing is registered.

In both, the documents the package ships (the console's: gateway/console.py) run by hash.

The store never fails a request because Redis does: without it each process keeps its own.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from time import monotonic
from typing import Any

import redis.asyncio as redis
from graphql import GraphQLError, OperationDefinitionNode, parse
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from gateway.settings import SettingsError

log = logging.getLogger("gateway.persisted")

NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
REQUIRED = "PERSISTED_QUERY_REQUIRED"
BAD_REQUEST = "BAD_REQUEST"
BAD_USER_INPUT = "BAD_USER_INPUT"

# Apollo's links match on this exact message to resend the hash with its document.
NOT_FOUND_MESSAGE = "PersistedQueryNotFound"
REQUIRED_MESSAGE = (
    "Only persisted documents run on this gateway: send a `documentId` "
    '("sha256:<hex>") or `extensions.persistedQuery` of a trusted document'
)

_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
_SUPPORTED_APQ_VERSIONS = (1,)
# Warnings about a missing Redis repeat at most this often: one per request would flood the log.
_WARN_EVERY_SECONDS = 60.0


def document_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _is_sha256_hex(value: str) -> bool:
    return _SHA256_HEX.fullmatch(value) is not None


class PersistedProblem(Exception):
    """A request refused on its persisted-document parameters: code and message to present."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"PersistedProblem({self.code!r}, {self.message!r})"


@dataclass(frozen=True, slots=True)
class Lookup:
    query: str
    register: str | None
    document_id: str | None


@dataclass(slots=True)
class _Entry:
    text: str
    # When Redis last heard of this document from us (monotonic); refreshes of its expiry
    # while the document is served from memory are spaced by it.
    touched: float


class AutomaticStore:
    """APQ documents by sha256: a bounded LRU per process, shared through Redis when set.

    Redis calls are bounded by `redis_timeout` in all; after a failure Redis is left alone for
    `retry_seconds`, so an unreachable server costs one timeout per interval, not per request.
    """

    def __init__(
        self,
        redis_url: str | None,
        prefix: str,
        *,
        maxsize: int = 1000,
        ttl_seconds: int = 24 * 3600,
        redis_timeout: float = 0.1,
        retry_seconds: float = 5.0,
    ) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        if ttl_seconds < 1:
            raise ValueError("ttl_seconds must be at least 1")
        self._local: OrderedDict[str, _Entry] = OrderedDict()
        self._maxsize = maxsize
        self._prefix = prefix
        self._ttl = ttl_seconds
        self._timeout = redis_timeout
        self._retry_seconds = retry_seconds
        # A document served from memory still counts as used for the other processes: its
        # Redis expiry is pushed back, but at most this often per document and process.
        self._refresh_every = ttl_seconds / 24
        self._down_until = 0.0
        self._down = False
        self._last_warning = -_WARN_EVERY_SECONDS
        self._redis: redis.Redis | None = None
        if redis_url is not None:
            self._redis = redis.from_url(
                redis_url,
                socket_connect_timeout=redis_timeout,
                socket_timeout=redis_timeout,
                # The overall timeout below is the budget; a retry would only overrun it.
                retry=Retry(NoBackoff(), 0),
            )

    def __len__(self) -> int:
        return len(self._local)

    def _key(self, sha256_hex: str) -> str:
        return f"{self._prefix}:apq:{sha256_hex}"

    async def get(self, sha256_hex: str) -> str | None:
        entry = self._local.get(sha256_hex)
        if entry is not None:
            self._local.move_to_end(sha256_hex)
            if monotonic() - entry.touched >= self._refresh_every:
                entry.touched = monotonic()
                # SET rather than EXPIRE: it also restores an entry Redis lost or never got.
                await self._redis_call(
                    lambda r: r.set(self._key(sha256_hex), entry.text.encode(), ex=self._ttl)
                )
            return entry.text
        raw = await self._redis_call(lambda r: r.getex(self._key(sha256_hex), ex=self._ttl))
        if raw is None:
            return None
        text = _decoded(raw, sha256_hex)
        if text is not None:
            self._remember(sha256_hex, text)
        return text

    async def put(self, sha256_hex: str, text: str) -> None:
        self._remember(sha256_hex, text)
        await self._redis_call(lambda r: r.set(self._key(sha256_hex), text.encode(), ex=self._ttl))

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()

    def _remember(self, sha256_hex: str, text: str) -> None:
        self._local[sha256_hex] = _Entry(text, monotonic())
        self._local.move_to_end(sha256_hex)
        while len(self._local) > self._maxsize:
            self._local.popitem(last=False)

    async def _redis_call(self, call: Callable[[redis.Redis], Any]) -> Any:
        """The call's answer, or None when Redis is not configured, resting or failing."""
        if self._redis is None or monotonic() < self._down_until:
            return None
        try:
            async with asyncio.timeout(self._timeout):
                result = await call(self._redis)
        except (RedisError, OSError, TimeoutError) as exc:
            now = monotonic()
            self._down, self._down_until = True, now + self._retry_seconds
            if now - self._last_warning >= _WARN_EVERY_SECONDS:
                self._last_warning = now
                log.warning(
                    "Redis unavailable for persisted queries, each process keeps its own: %s",
                    str(exc) or type(exc).__name__,
                )
            return None
        if self._down:
            self._down = False
            log.info("Redis available again for persisted queries")
        return result


def _decoded(raw: bytes, sha256_hex: str) -> str | None:
    """The text of a Redis entry, if it is what its key says: whatever wrote it, the key
    promises the document with that hash."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or document_hash(text) != sha256_hex:
        log.warning("ignored a persisted query in Redis that does not match its key %s", sha256_hex)
        return None
    return text


class TrustedDocuments:
    """The union of the trusted-document manifests, each checked when loaded."""

    def __init__(self, documents: dict[str, str], operation_names: list[str]) -> None:
        self._documents = documents
        self._operation_names = operation_names

    @classmethod
    def load(cls, paths: Sequence[str], check: Callable[[str], str | None]) -> TrustedDocuments:
        documents: dict[str, str] = {}
        names: dict[str, None] = {}  # ordered and unique
        for path in paths:
            for key, text in _manifest(path):
                where = f"trusted documents {path}, key {key!r}"
                if not _is_sha256_hex(key):
                    raise SettingsError(f"{where}: the key must be 64 hex digits (a sha256)")
                if not isinstance(text, str):
                    raise SettingsError(f"{where}: the document must be a string")
                sha256_hex = key.lower()
                if document_hash(text) != sha256_hex:
                    raise SettingsError(
                        f"{where}: the key is not the sha256 of its document "
                        f"(that is {document_hash(text)})"
                    )
                if sha256_hex in documents:
                    continue  # the same document in two releases' manifests
                problem = check(text)
                if problem is not None:
                    raise SettingsError(f"{where}: invalid document: {problem}")
                try:
                    names.update(dict.fromkeys(_operation_names(text)))
                except GraphQLError as exc:
                    raise SettingsError(f"{where}: invalid document: {exc.message}") from None
                documents[sha256_hex] = text
        return cls(documents, list(names))

    def get(self, sha256_hex: str) -> str | None:
        return self._documents.get(sha256_hex)

    def operation_names(self) -> list[str]:
        return list(self._operation_names)

    def __len__(self) -> int:
        return len(self._documents)


class _Pairs(list[tuple[str, Any]]):
    """A JSON object's members as written, so a manifest's order (and repeats) are kept."""


def _manifest(path: str) -> Iterator[tuple[str, Any]]:
    try:
        with open(path, encoding="utf-8") as file:
            content = file.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"trusted documents {path}: cannot read the file: {exc}") from None
    try:
        manifest = json.loads(content, object_pairs_hook=_Pairs)
    except ValueError as exc:
        raise SettingsError(f"trusted documents {path}: not valid JSON: {exc}") from None
    if not isinstance(manifest, _Pairs):
        raise SettingsError(
            f'trusted documents {path}: must be a JSON object {{"<sha256 hex>": "<document>"}}'
        )
    return iter(manifest)


def _operation_names(text: str) -> list[str]:
    return [
        definition.name.value
        for definition in parse(text, no_location=True).definitions
        if isinstance(definition, OperationDefinitionNode) and definition.name is not None
    ]


def parse_document_id(raw: object) -> str:
    """The sha256 hex of a `documentId` ("sha256:<hex>" or a bare "<hex>"), lower-case."""
    if not isinstance(raw, str):
        raise PersistedProblem(BAD_REQUEST, '`documentId` must be a string: "sha256:<hex>"')
    scheme, colon, value = raw.partition(":")
    if not colon:
        value = raw
    elif scheme != "sha256":
        raise PersistedProblem(
            BAD_REQUEST,
            f'`documentId` prefix {scheme!r} is not supported: use "sha256:<hex>" or a bare sha256 hex',
        )
    if not _is_sha256_hex(value):
        raise PersistedProblem(
            BAD_REQUEST, '`documentId` must be "sha256:" followed by 64 hex digits, or those alone'
        )
    return value.lower()


def _apq_hash(extensions: object) -> str | None:
    """The sha256 of `extensions.persistedQuery`, or None when none is asked for."""
    if extensions is None:
        return None
    if not isinstance(extensions, dict):
        raise PersistedProblem(BAD_REQUEST, "`extensions` must be an object")
    persisted = extensions.get("persistedQuery")
    if persisted is None:
        return None
    if not isinstance(persisted, dict):
        raise PersistedProblem(
            BAD_REQUEST, "`extensions.persistedQuery` must be an object {version, sha256Hash}"
        )
    version = persisted.get("version")
    # bool is an int to Python, not to JSON.
    if isinstance(version, bool) or version not in _SUPPORTED_APQ_VERSIONS:
        supported = ", ".join(str(v) for v in _SUPPORTED_APQ_VERSIONS)
        raise PersistedProblem(
            BAD_REQUEST,
            f"`extensions.persistedQuery.version` {json.dumps(version, default=str)} is not supported "
            f"(supported: {supported})",
        )
    sha256_hash = persisted.get("sha256Hash")
    if not isinstance(sha256_hash, str) or not _is_sha256_hex(sha256_hash):
        raise PersistedProblem(
            BAD_REQUEST, "`extensions.persistedQuery.sha256Hash` must be 64 hex digits"
        )
    return sha256_hash.lower()


def _sent_query(query: object) -> str | None:
    """The document text sent alongside a hash or id; None, "" and blanks are none."""
    if query is None:
        return None
    if not isinstance(query, str):
        raise PersistedProblem(BAD_REQUEST, "`query` must be a string")
    return query if query.strip() else None


class PersistedDocuments:
    """The rule both transports apply to a request's `query`, `extensions` and `documentId`."""

    def __init__(
        self,
        automatic: AutomaticStore,
        trusted: TrustedDocuments | None,
        shipped: Mapping[str, str] | None = None,
    ) -> None:
        self.automatic = automatic
        self.trusted = trusted
        # Documents the package ships (the console's, by sha256): trusted in either mode.
        self.shipped: Mapping[str, str] = shipped or {}

    async def lookup(self, query: object, extensions: object, document_id: object) -> Lookup:
        """The document to run. `extensions` is the decoded object (a GET's is JSON-decoded
        first); a `Lookup.register` hash is stored with `register` only after validation."""
        apq_hash = _apq_hash(extensions)
        by_id = parse_document_id(document_id) if document_id is not None else None
        if apq_hash is not None and by_id is not None:
            raise PersistedProblem(
                BAD_REQUEST, "Send either `documentId` or `extensions.persistedQuery`, not both"
            )
        if by_id is not None:
            if _sent_query(query) is not None:
                raise PersistedProblem(BAD_REQUEST, "Send either `documentId` or `query`, not both")
            return await self._stored(by_id)
        if apq_hash is not None:
            text = _sent_query(query)
            if text is None:
                return await self._stored(apq_hash)
            if document_hash(text) != apq_hash:
                raise PersistedProblem(
                    BAD_USER_INPUT,
                    "The provided sha256Hash does not match the query "
                    "(the sha256 of its UTF-8 text, in lower-case hex)",
                )
            if self.trusted is None:
                return Lookup(query=text, register=apq_hash, document_id=None)
            if self.trusted.get(apq_hash) is None and apq_hash not in self.shipped:
                # The client sent the document itself: it is a document like any other.
                raise PersistedProblem(REQUIRED, REQUIRED_MESSAGE)
            return Lookup(query=text, register=None, document_id=apq_hash)
        if self.trusted is not None:
            raise PersistedProblem(REQUIRED, REQUIRED_MESSAGE)
        if query is None:
            raise PersistedProblem(BAD_REQUEST, "`query` is missing")
        if not isinstance(query, str) or not query.strip():
            raise PersistedProblem(BAD_REQUEST, "`query` must be a non-empty string")
        return Lookup(query=query, register=None, document_id=None)

    async def _stored(self, sha256_hex: str) -> Lookup:
        text = self.shipped.get(sha256_hex)
        if text is None and self.trusted is not None:
            text = self.trusted.get(sha256_hex)
        elif text is None:
            text = await self.automatic.get(sha256_hex)
        if text is None:
            raise PersistedProblem(NOT_FOUND, NOT_FOUND_MESSAGE)
        return Lookup(query=text, register=None, document_id=sha256_hex)

    async def register(self, lookup: Lookup) -> None:
        if lookup.register is not None:
            await self.automatic.put(lookup.register, lookup.query)
