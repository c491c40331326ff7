"""Settings: one frozen object read from the environment (prefix GATEWAY_) and passed in.

Nothing in the package reads the environment at import time; `Settings.from_env()` is called
by the CLI, and tests build `Settings(...)` directly.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

# Accepted only with GATEWAY_DEBUG, so a forgotten variable never ships a guessable secret.
DEV_JWT_SECRET = "dev-only-jwt-secret-change-me-0123456789"
DEV_EVENTS_SECRET = "dev-only-events-secret-change-me-0123456789"
# A Fernet key (32 bytes, URL-safe base64) for webhook secrets, likewise debug-only.
DEV_SECRETS_KEY = "ZGV2LW9ubHktc2VjcmV0cy1rZXktY2hhbmdlLW1lISE="


EXECUTORS = ("fast", "reference")


class SettingsError(Exception):
    """A configuration problem that must stop the gateway from starting."""


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite://gateway.sqlite3"
    redis_url: str | None = None
    # Namespace of this deployment's Redis channels and keys (None: derived from the database,
    # see `redis_namespace`).
    redis_prefix: str | None = None
    jwt_secret: str | None = None
    jwt_public_key: str | None = None
    jwt_issuer: str = "connected-apps-gateway"
    jwt_audience: str = "connected-apps-gateway"
    events_secret: str | None = None
    smtp_url: str | None = None
    allowed_origins: tuple[str, ...] = ()
    console_url: str = "http://127.0.0.1:8000"
    mail_from: str = "notifications@localhost"
    debug: bool = False
    # Introspection follows debug unless set on its own (the conformance audit needs it).
    introspection: bool | None = None
    # Which engine executes queries and mutations: "fast" (ours, gateway/executor/) or
    # "reference" (graphql-core, what ours is proven equal to).
    executor: str = "fast"
    # Freeze what start-up built and collect cycles less often (gateway/heap.py).
    settle_heap: bool = True
    host: str = "127.0.0.1"
    port: int = 8000
    # Request limits (DESIGN §3 "Safe defaults").
    max_depth: int = 12
    max_aliases: int = 15
    max_tokens: int = 2000
    max_page_size: int = 100
    max_nodes: int = 50_000
    max_body_bytes: int = 1024 * 1024
    max_node_ids: int = 100
    # Live updates (DESIGN §3 "Live updates").
    ws_init_timeout: float = 5.0
    ws_max_subscriptions: int = 100
    ws_max_sockets_per_user: int = 20
    ws_max_frame_bytes: int = 64 * 1024
    # How far a socket's reader may fall behind before it is closed with 1013: frames
    # waiting to be written, and their size in characters (gateway/hub.py).
    ws_queue_size: int = 100
    ws_outbox_bytes: int = 1024 * 1024
    # Seconds between checks that open sockets' users still exist and are still in their
    # portal (a socket that fails is closed with 4403): revoked access ends within this long.
    ws_access_check_interval: float = 30.0
    # Email delivery (gateway/services/mail/). Without `smtp_url`, emails are written as
    # .eml files to `mail_dir` (relative to the working directory) instead of being sent.
    mail_dir: str = "var/mail"
    smtp_timeout: float = 30.0
    # How long a sender holds a message while it talks to the server; then another may take it.
    mail_lease_seconds: float = 120.0
    # Retries after a 4xx answer or a failed connection: the first after this long, doubling
    # each time up to `mail_retry_max_seconds`, until `mail_give_up_seconds` after the message
    # was queued (RFC 5321 §4.5.4.1 asks for at least 4-5 days); then it is FAILED.
    mail_retry_initial_seconds: float = 60.0
    mail_retry_max_seconds: float = 3600.0
    mail_give_up_seconds: float = 4 * 24 * 3600.0
    # Messages claimed at once by one sender (each is leased until it is sent).
    mail_batch_size: int = 20
    # Digest worker (gateway/worker.py): seconds between passes; how long a worker holds a
    # rule while it makes its digest (then another may take over); how long after a period
    # ends its digest waits, so entries recorded just before the boundary but committed just
    # after it are not skipped; and whether the server runs the worker itself (None: when
    # there is no Redis, i.e. the embedded single-process setup).
    worker_interval: float = 30.0
    digest_lease_seconds: float = 60.0
    digest_settle_seconds: float = 60.0
    run_worker_in_process: bool | None = None
    # Operations (DESIGN §3 "Metrics", "Rate limits", "Persisted documents", "Graceful
    # shutdown", "Tracing").
    # Bearer token /metrics wants; None: it answers loopback clients only.
    metrics_token: str | None = None
    # Port of a separate worker's own /metrics (None: a separate worker serves none).
    worker_metrics_port: int | None = None
    # Peers (addresses or networks) whose X-Forwarded-For names the client.
    trusted_proxies: tuple[str, ...] = ()
    # Points per viewer a minute, and requests per anonymous address a minute (0: no limit).
    rate_limit_points: int = 2000
    rate_limit_anonymous: int = 60
    # Manifests of the only documents that may run (empty: any document).
    trusted_documents: tuple[str, ...] = ()
    # Seconds in-flight work gets after SIGTERM before what still runs is cancelled.
    shutdown_grace: float = 10.0
    # OpenTelemetry's standard variables: tracing is on when the endpoint is set.
    otlp_endpoint: str | None = None
    otel_service_name: str = "connected-apps-gateway"
    # Webhook and Slack channels (DESIGN §6 "More channels"). The key that encrypts rules'
    # webhook signing secrets (a Fernet key, see the README); without it
    # (and outside debug) a rule cannot be given a webhook. Private, loopback and link-local
    # destinations, and http, are refused unless `webhook_allow_private` (tests, private
    # networks); http alone is also allowed under debug.
    secrets_key: str | None = None
    webhook_allow_private: bool = False
    # Seconds one webhook or Slack request may take, and how long a host's name may take to
    # resolve when a rule is saved.
    webhook_timeout: float = 10.0
    webhook_resolve_timeout: float = 2.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(f"GATEWAY_{name}")
            return value if value not in (None, "") else None

        origins = tuple(o.strip() for o in (get("ALLOWED_ORIGINS") or "").split(",") if o.strip())
        values: dict[str, object] = {
            "redis_url": get("REDIS_URL"),
            "redis_prefix": _redis_prefix(get("REDIS_PREFIX")),
            "jwt_secret": get("JWT_SECRET"),
            "jwt_public_key": get("JWT_PUBLIC_KEY"),
            "events_secret": get("EVENTS_SECRET"),
            "smtp_url": get("SMTP_URL"),
            "allowed_origins": origins,
            "debug": _flag(get("DEBUG")),
            "secrets_key": _secrets_key(get("SECRETS_KEY")),
            "webhook_allow_private": _flag(get("WEBHOOK_ALLOW_PRIVATE")),
            "introspection": None if get("INTROSPECTION") is None else _flag(get("INTROSPECTION")),
        }
        if get("SETTLE_HEAP") is not None:
            values["settle_heap"] = _flag(get("SETTLE_HEAP"))
        executor = get("EXECUTOR")
        if executor is not None:
            if executor not in EXECUTORS:
                raise SettingsError(
                    f"GATEWAY_EXECUTOR must be one of {', '.join(EXECUTORS)}, got {executor!r}"
                )
            values["executor"] = executor
        for name, attr in [
            ("DATABASE_URL", "database_url"),
            ("JWT_ISSUER", "jwt_issuer"),
            ("JWT_AUDIENCE", "jwt_audience"),
            ("CONSOLE_URL", "console_url"),
            ("MAIL_FROM", "mail_from"),
            ("HOST", "host"),
        ]:
            if get(name) is not None:
                values[attr] = get(name)
        for name, attr, kind in [
            ("PORT", "port", int),
            ("WS_INIT_TIMEOUT", "ws_init_timeout", float),
            ("WS_MAX_SOCKETS_PER_USER", "ws_max_sockets_per_user", int),
            ("WS_QUEUE_SIZE", "ws_queue_size", int),
            ("WS_OUTBOX_BYTES", "ws_outbox_bytes", int),
            ("WS_ACCESS_CHECK_INTERVAL", "ws_access_check_interval", float),
        ]:
            raw = get(name)
            if raw is not None:
                try:
                    values[attr] = kind(raw)
                except ValueError as exc:
                    raise SettingsError(f"GATEWAY_{name} must be a number, got {raw!r}") from exc
        for name, attr in (
            ("WS_QUEUE_SIZE", "ws_queue_size"),
            ("WS_OUTBOX_BYTES", "ws_outbox_bytes"),
        ):
            size = values.get(attr)
            if isinstance(size, int) and size < 1:
                raise SettingsError(f"GATEWAY_{name} must be a positive number, got {size!r}")
        interval = values.get("ws_access_check_interval")
        if isinstance(interval, float) and not 0 < interval < float("inf"):
            raise SettingsError(
                f"GATEWAY_WS_ACCESS_CHECK_INTERVAL must be a positive number, got {interval!r}"
            )
        # Email delivery.
        if get("MAIL_DIR") is not None:
            values["mail_dir"] = get("MAIL_DIR")
        for name, attr, kind in [
            ("SMTP_TIMEOUT", "smtp_timeout", float),
            ("MAIL_LEASE_SECONDS", "mail_lease_seconds", float),
            ("MAIL_RETRY_INITIAL_SECONDS", "mail_retry_initial_seconds", float),
            ("MAIL_RETRY_MAX_SECONDS", "mail_retry_max_seconds", float),
            ("MAIL_GIVE_UP_SECONDS", "mail_give_up_seconds", float),
            ("MAIL_BATCH_SIZE", "mail_batch_size", int),
        ]:
            raw = get(name)
            if raw is not None:
                try:
                    value = kind(raw)
                except ValueError as exc:
                    raise SettingsError(f"GATEWAY_{name} must be a number, got {raw!r}") from exc
                if not 0 < value < float("inf"):
                    raise SettingsError(f"GATEWAY_{name} must be a positive number, got {raw!r}")
                values[attr] = value
        values.update(_worker_values(get))
        values.update(_operations_values(get, env))
        return cls(**values)  # type: ignore[arg-type]  # each value was converted to its field's type above

    @property
    def worker_in_process(self) -> bool:
        """Whether `create_app`'s lifespan runs the digest worker (embedded mode)."""
        if self.run_worker_in_process is not None:
            return self.run_worker_in_process
        return self.redis_url is None

    @property
    def redis_namespace(self) -> str:
        """What every Redis channel and key of this deployment starts with. Redis pub/sub
        ignores the URL's database index, so two deployments on one server would otherwise
        hear each other's changes; processes of one deployment share a database, hence this
        default."""
        return self.redis_prefix or default_redis_prefix(self.database_url)

    def with_(self, **changes: object) -> Settings:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]  # callers name real fields; replace() checks them

    @property
    def introspection_enabled(self) -> bool:
        return self.debug if self.introspection is None else self.introspection

    @property
    def effective_jwt_secret(self) -> str | None:
        return self.jwt_secret or (DEV_JWT_SECRET if self.debug else None)

    @property
    def effective_events_secret(self) -> str | None:
        return self.events_secret or (DEV_EVENTS_SECRET if self.debug else None)

    @property
    def effective_secrets_key(self) -> str | None:
        return self.secrets_key or (DEV_SECRETS_KEY if self.debug else None)

    def check_secrets(self) -> None:
        """Refuse to serve without real secrets unless in debug mode (the dev ones are public)."""
        if self.jwt_public_key is None and self.effective_jwt_secret is None:
            raise SettingsError(
                "GATEWAY_JWT_SECRET (or GATEWAY_JWT_PUBLIC_KEY) is not set; set it, "
                "or set GATEWAY_DEBUG=1 to use the development secret"
            )
        if self.effective_events_secret is None:
            raise SettingsError(
                "GATEWAY_EVENTS_SECRET is not set; set it, "
                "or set GATEWAY_DEBUG=1 to use the development secret"
            )


_POSTGRES_SCHEMES = {"postgres", "postgresql", "asyncpg", "psycopg"}
_DEFAULT_PORTS = {"postgres": 5432, "mysql": 3306}


def database_identity(url: str) -> str:
    """The database a URL points at, however it is spelled: the scheme's family, host
    (lower-cased), port (the default filled in) and database name (for SQLite the absolute
    file), without credentials or connection options, so a rotated password or `postgres://`
    against `postgresql://` still names one deployment."""
    scheme, _, rest = url.partition("://")
    scheme = scheme.lower()
    if scheme == "sqlite":
        path = rest.partition("?")[0]
        if path == ":memory:":
            # Each process's in-memory database is a deployment of its own.
            return f"sqlite://:memory:{os.getpid()}"
        return f"sqlite://{os.path.realpath(path)}"
    family = "postgres" if scheme in _POSTGRES_SCHEMES else scheme
    parts = urlsplit(url)
    # A Unix socket directory may come as the `host` option instead of in the authority.
    host = parts.hostname or parse_qs(parts.query).get("host", [""])[0] or "localhost"
    if ":" in host:
        host = f"[{host}]"
    port = parts.port or _DEFAULT_PORTS.get(family, 0)
    return f"{family}://{host}:{port}/{unquote(parts.path.lstrip('/'))}"


def default_redis_prefix(database_url: str) -> str:
    """`gateway:` and 12 hex digits of the SHA-256 of the database's identity: short, stable
    and free of the URL's secrets."""
    digest = hashlib.sha256(database_identity(database_url).encode()).hexdigest()
    return f"gateway:{digest[:12]}"


def _secrets_key(raw: str | None) -> str | None:
    """GATEWAY_SECRETS_KEY, checked now so a mistyped key stops the start, not a save."""
    if raw is None:
        return None
    from cryptography.fernet import Fernet

    try:
        Fernet(raw.strip().encode())
    except ValueError:
        raise SettingsError(
            "GATEWAY_SECRETS_KEY must be a Fernet key (32 bytes in URL-safe base64), e.g. from "
            "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key())'`"
        ) from None
    return raw.strip()


def _redis_prefix(raw: str | None) -> str | None:
    # Channel names are binary-safe, but ACL patterns and PSUBSCRIBE treat these specially.
    if raw is not None and not re.fullmatch(r"[^\s*?\[\]]+", raw):
        raise SettingsError(f"GATEWAY_REDIS_PREFIX must not contain spaces or * ? [ ], got {raw!r}")
    return raw


def _worker_values(get: Callable[[str], str | None]) -> dict[str, object]:
    """The digest worker's settings from the environment."""
    values: dict[str, object] = {}
    for name, attr, minimum in [
        ("WORKER_INTERVAL", "worker_interval", 0.0),
        ("DIGEST_LEASE_SECONDS", "digest_lease_seconds", 0.0),
        ("DIGEST_SETTLE_SECONDS", "digest_settle_seconds", -1.0),
    ]:
        raw = get(name)
        if raw is None:
            continue
        try:
            value = float(raw)
        except ValueError as exc:
            raise SettingsError(f"GATEWAY_{name} must be a number, got {raw!r}") from exc
        if not minimum < value < float("inf"):
            kind = "zero or more" if minimum < 0 else "a positive number"
            raise SettingsError(f"GATEWAY_{name} must be {kind}, got {raw!r}")
        values[attr] = value
    raw = get("WORKER_IN_PROCESS")
    if raw is not None:
        if raw.strip().lower() not in {"0", "1", "true", "false", "yes", "no", "on", "off"}:
            raise SettingsError(f"GATEWAY_WORKER_IN_PROCESS must be 0 or 1, got {raw!r}")
        values["run_worker_in_process"] = _flag(raw)
    return values


def _operations_values(
    get: Callable[[str], str | None], env: Mapping[str, str]
) -> dict[str, object]:
    """Metrics, rate limits, persisted documents, shutdown and tracing from the environment."""
    values: dict[str, object] = {"metrics_token": get("METRICS_TOKEN")}
    for name, attr in (
        ("WORKER_METRICS_PORT", "worker_metrics_port"),
        ("RATE_LIMIT_POINTS", "rate_limit_points"),
        ("RATE_LIMIT_ANONYMOUS", "rate_limit_anonymous"),
    ):
        raw = get(name)
        if raw is None:
            continue
        if not raw.strip().isdigit():
            raise SettingsError(f"GATEWAY_{name} must be a whole number, 0 or more, got {raw!r}")
        values[attr] = int(raw)
    port = values.get("worker_metrics_port")
    if isinstance(port, int) and not 0 < port < 65536:
        raise SettingsError(f"GATEWAY_WORKER_METRICS_PORT must be a port number, got {port!r}")
    proxies = tuple(p.strip() for p in (get("TRUSTED_PROXIES") or "").split(",") if p.strip())
    for proxy in proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise SettingsError(
                f"GATEWAY_TRUSTED_PROXIES: {proxy!r} is not an IP address or network"
            ) from None
    values["trusted_proxies"] = proxies
    values["trusted_documents"] = tuple(
        p.strip() for p in (get("TRUSTED_DOCUMENTS") or "").split(",") if p.strip()
    )
    raw = get("SHUTDOWN_GRACE")
    if raw is not None:
        try:
            grace = float(raw)
        except ValueError:
            grace = -1.0
        if not 0 <= grace < float("inf"):
            raise SettingsError(f"GATEWAY_SHUTDOWN_GRACE must be seconds, 0 or more, got {raw!r}")
        values["shutdown_grace"] = grace
    # The standard OpenTelemetry names, without our prefix.
    values["otlp_endpoint"] = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or None
    values["otel_service_name"] = env.get("OTEL_SERVICE_NAME") or "connected-apps-gateway"
    return values
