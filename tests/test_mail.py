"""Digest emails through a real SMTP server (aiosmtpd, in-process, on a free port) and through
the file outbox: the message itself, 250 / 451 / 550 / no server, backoff until the give-up
time, leases between concurrent senders, a sender dying between the 250 and recording it,
and the SMTP URL.

The clock is injected (`now`); nothing sleeps. The database is shared by the whole session, so
every test starts with an empty outbox (anything an earlier test left open is drained first)
and deletes its portal afterwards.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import random
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from gateway.models import (
    AppLogEntry,
    Delivery,
    MarketplaceListing,
    Notification,
    NotificationEntry,
    NotificationRule,
    Portal,
    User,
)
from gateway.models.enums import (
    AppActivity,
    DeliveryStatus,
    NotificationAudience,
    NotificationChannel,
    NotificationFrequency,
    NotificationType,
)
from gateway.services import mail
from gateway.services.faults import hooked
from gateway.services.mail import SendResult, SmtpConfig, send_due
from gateway.settings import Settings, SettingsError
from tests import factories as f

# Runs no GraphQL: one executor is enough (tests/conftest.py).
pytestmark = pytest.mark.one_executor

NY = "America/New_York"
# The digest of Monday 2 November 2026 in New York (EST, UTC-5), made two minutes after.
DAY_START = datetime(2026, 11, 2, 5, 0, tzinfo=UTC)
DAY_END = datetime(2026, 11, 3, 5, 0, tzinfo=UTC)
MADE = DAY_END + timedelta(minutes=2)
NOW = MADE + timedelta(minutes=1)
MAIL_FROM = "Connected Apps <notifications@acme.example>"
LINK = "https://console.acme.example/settings/connected-apps/notifications"
SUBJECT = "Install digest: 3 app installs, Mon 2 Nov 2026 (America/New_York)"
OK = SendResult(sent=1, retrying=0, failed=0)


# --- the SMTP server -------------------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class Handler:
    """Records what it accepts; answers DATA from `data_answers` first (then 250), and every
    RCPT with `rcpt_answer` when set."""

    delivered: list[Received] = field(default_factory=list)
    data_attempts: int = 0
    data_answers: list[str] = field(default_factory=list)
    rcpt_answer: str | None = None
    logins: list[tuple[bytes, bytes]] = field(default_factory=list)

    def reset(self) -> None:
        self.delivered.clear()
        self.data_attempts = 0
        self.data_answers.clear()
        self.rcpt_answer = None
        self.logins.clear()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_answer:
            return self.rcpt_answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.data_attempts += 1
        if self.data_answers:
            answer = self.data_answers.pop(0)
            if not answer.startswith("250"):
                return answer
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.delivered.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 2.0.0 Message accepted for delivery"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        assert isinstance(auth_data, LoginPassword)
        self.logins.append((auth_data.login, auth_data.password))
        ok = (auth_data.login, auth_data.password) == (b"mailer@acme", b"p:ss w/rd")
        return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    handler: Handler
    port: int

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"


def start_server(**smtp_parameters: Any) -> tuple[Controller, Server]:
    handler = Handler()
    if smtp_parameters.pop("with_auth", False):
        smtp_parameters.update(authenticator=handler.authenticate, auth_require_tls=False)
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **smtp_parameters)
    controller.start()
    return controller, Server(handler, port)


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[Server]:
    controller, server = start_server()
    yield server
    controller.stop()


@pytest.fixture
def smtp(smtp_server: Server) -> Server:
    smtp_server.handler.reset()
    return smtp_server


@pytest.fixture
def closed_port() -> int:
    return free_port()  # nothing listens there: connections are refused


def with_smtp(settings: Settings, url: str | None, **changes: object) -> Settings:
    return settings.with_(
        smtp_url=url,
        mail_from=MAIL_FROM,
        console_url="https://console.acme.example/",
        smtp_timeout=5.0,
        **changes,
    )


# --- data ------------------------------------------------------------------------------------


@dataclass
class Digest:
    portal: Portal
    rule: NotificationRule | None
    users: dict[str, User]
    notifications: list[Notification]
    deliveries: list[Delivery]


class Outbox:
    """Builds digests with their email deliveries; deletes its portals afterwards."""

    def __init__(self) -> None:
        self.portals: list[Portal] = []
        self.listings: list[MarketplaceListing] = []

    async def digest(
        self,
        *,
        recipients: tuple[str, ...] = ("Ann Admin",),
        app_names: tuple[str, ...] = ("Quotely", "AdBeacon", "Zendo"),
        extra_entries: int = 0,
        next_attempt_at: datetime | None = MADE,
    ) -> Digest:
        names = dict.fromkeys(("Ann Admin", "Max Manager", *recipients))
        t = await f.make_tenant(timezone=NY, people=dict.fromkeys(names, "admin"), apps=app_names)
        portal, users = t.portal, t.people
        self.portals.append(portal)
        apps = [t.apps[name] for name in app_names]
        self.listings += [await app.listing for app in apps]
        # Entries of the day, oldest first: 09:05, 11:30, 15:45 EST (then any extra ones from 00:00).
        specs = [
            (
                apps[0],
                AppActivity.INSTALLED,
                DAY_START + timedelta(hours=9, minutes=5),
                users["Ann Admin"],
            ),
            (
                apps[1 % len(apps)],
                AppActivity.REINSTALLED,
                DAY_START + timedelta(hours=11, minutes=30),
                None,
            ),
            (
                apps[2 % len(apps)],
                AppActivity.INSTALLED,
                DAY_START + timedelta(hours=15, minutes=45),
                users["Max Manager"],
            ),
        ]
        specs += [
            (apps[0], AppActivity.INSTALLED, DAY_START + timedelta(minutes=n), None)
            for n in range(extra_entries)
        ]
        entries = [
            await AppLogEntry.create(
                portal=portal, app=app, user=user, activity=activity, occurred_at=at, recorded_at=at
            )
            for app, activity, at, user in specs
        ]
        rule = await NotificationRule.create(
            portal=portal,
            name="Install digest",
            sort_name="install digest",
            type=NotificationType.APP_INSTALL,
            frequency=NotificationFrequency.DAILY,
            all_apps=True,
            audience=NotificationAudience.SUPER_ADMINS,
            email=True,
            in_app=True,
            created_by=users["Ann Admin"],
            created_at=f.T0,
            updated_at=f.T0,
            cut_at=DAY_END,
        )
        notifications, deliveries = [], []
        for name in recipients:
            user = users[name]
            notification = await Notification.create(
                portal=portal,
                recipient=user,
                rule=rule,
                type=NotificationType.APP_INSTALL,
                period_start=DAY_START,
                period_end=DAY_END,
                entry_count=len(entries),
                in_app=True,
                created_at=MADE,
                cut_at=DAY_START,
            )
            newest = sorted(entries, key=lambda e: (e.occurred_at, e.id))[
                -100:
            ]  # as a digest keeps them
            await NotificationEntry.bulk_create(
                [NotificationEntry(notification=notification, entry=e) for e in newest]
            )
            notifications.append(notification)
            deliveries.append(
                await Delivery.create(
                    portal=portal,
                    notification=notification,
                    recipient=user,
                    channel=NotificationChannel.EMAIL,
                    status=DeliveryStatus.PENDING,
                    attempts=0,
                    next_attempt_at=next_attempt_at,
                    created_at=MADE,
                )
            )
        return Digest(portal, rule, users, notifications, deliveries)

    async def many(self, count: int) -> list[Delivery]:
        """`count` recipients of one digest, one email each."""
        names = tuple(f"Reader {i:03d}" for i in range(count))
        return (await self.digest(recipients=names)).deliveries

    async def close(self) -> None:
        # The catalogue is global: remove the listings too, so later tests never see them.
        for portal in self.portals:
            await Portal.filter(id=portal.id).delete()
        await MarketplaceListing.filter(id__in=[listing.id for listing in self.listings]).delete()
        assert not await Delivery.filter(portal_id__in=[p.id for p in self.portals]).exists()


@pytest.fixture
async def outbox(
    app: object, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Outbox]:
    # An empty outbox to start from: whatever earlier tests left open goes to a scratch folder.
    scratch = settings.with_(smtp_url=None, mail_dir=str(tmp_path_factory.mktemp("drained")))
    await send_due(datetime(2100, 1, 1, tzinfo=UTC), scratch, "test-drain")
    assert not await Delivery.filter(
        channel=NotificationChannel.EMAIL, status__in=mail.outbox.OPEN
    ).exists()
    box = Outbox()
    yield box
    await box.close()


async def fresh(delivery: Delivery) -> Delivery:
    return await Delivery.get(id=delivery.id)


def message_id_of(digest: Digest, user: str = "Ann Admin") -> str:
    assert digest.rule is not None
    return f"<digest.{digest.rule.id}.{int(DAY_START.timestamp())}.{digest.users[user].id}@acme.example>"


def parts(message: EmailMessage) -> tuple[str, str]:
    plain = message.get_body(preferencelist=("plain",))
    rich = message.get_body(preferencelist=("html",))
    assert plain is not None and rich is not None
    return plain.get_content(), rich.get_content()


def subject(message: EmailMessage) -> str:
    # Python folds a subject of 70-odd characters right after "Subject:" (valid RFC 5322) and
    # its parser then keeps the fold's space; mail clients drop it.
    return str(message["Subject"]).strip()


def assert_headers(message: EmailMessage, digest: Digest, user: str = "Ann Admin") -> None:
    recipient = digest.users[user]
    assert message["From"] == MAIL_FROM
    assert message["To"] == f"{recipient.name} <{recipient.email}>"
    assert subject(message) == SUBJECT
    assert message["Message-ID"] == message_id_of(digest, user)
    assert message["Date"] == "Tue, 03 Nov 2026 05:02:00 +0000"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "multipart/alternative"


# --- 250 -------------------------------------------------------------------------------------


async def test_accepted_message_is_sent_once_with_headers_and_both_parts(outbox, smtp, settings):
    given = await outbox.digest()

    result = await send_due(NOW, with_smtp(settings, smtp.url), "worker-a")

    assert result == OK
    row = await fresh(given.deliveries[0])
    assert (
        row.status,
        row.attempts,
        row.sent_at,
        row.last_error,
        row.next_attempt_at,
        row.lease_owner,
    ) == (
        DeliveryStatus.SENT,
        1,
        NOW,
        None,
        None,
        None,
    )
    assert len(smtp.handler.delivered) == 1 and smtp.handler.data_attempts == 1
    received = smtp.handler.delivered[0]
    ann = given.users["Ann Admin"]
    assert (received.mail_from, received.rcpt_tos) == ("notifications@acme.example", [ann.email])
    assert_headers(received.message, given)
    plain, rich = parts(received.message)
    expected_lines = [  # newest first, times in New York
        "- Zendo: Installed by Max Manager, Mon 2 Nov 2026, 15:45 EST",
        "- AdBeacon: Reinstalled by the integration platform, Mon 2 Nov 2026, 11:30 EST",
        "- Quotely: Installed by Ann Admin, Mon 2 Nov 2026, 09:05 EST",
    ]
    assert plain.splitlines()[:7] == [
        "Install digest",
        "",
        f"3 app installs in {given.portal.name}, Mon 2 Nov 2026 (America/New_York). Newest first:",
        "",
        *expected_lines,
    ]
    assert f"Notification rules and the app log: {LINK}" in plain
    assert not [line for line in plain.splitlines() if line.startswith("- and")]
    assert "more</p>" not in rich
    for app, activity, who, when in [
        ("Zendo", "Installed", "Max Manager", "Mon 2 Nov 2026, 15:45 EST"),
        ("AdBeacon", "Reinstalled", "the integration platform", "Mon 2 Nov 2026, 11:30 EST"),
        ("Quotely", "Installed", "Ann Admin", "Mon 2 Nov 2026, 09:05 EST"),
    ]:
        assert f'<td style="padding:4px 12px 4px 0">{app}</td>' in rich
        assert f">{activity}</td>" in rich and f">{who}</td>" in rich and f">{when}</td>" in rich
    assert rich.index("Zendo") < rich.index("AdBeacon") < rich.index("Quotely")
    assert "<h1" in rich and ">Install digest</h1>" in rich
    assert "Mon 2 Nov 2026 (America/New_York)" in rich
    assert f'<a href="{LINK}">' in rich

    # Nothing is due any more.
    assert (
        await send_due(NOW + timedelta(days=1), with_smtp(settings, smtp.url), "worker-a")
        == SendResult()
    )
    assert len(smtp.handler.delivered) == 1


async def test_pending_without_next_attempt_time_is_due(outbox, smtp, settings):
    given = await outbox.digest(next_attempt_at=None)

    assert await send_due(NOW, with_smtp(settings, smtp.url), "worker-a") == OK
    assert (await fresh(given.deliveries[0])).status is DeliveryStatus.SENT


async def test_not_yet_due_is_left_alone(outbox, smtp, settings):
    given = await outbox.digest(next_attempt_at=NOW + timedelta(seconds=1))

    assert await send_due(NOW, with_smtp(settings, smtp.url), "worker-a") == SendResult()
    assert (await fresh(given.deliveries[0])).status is DeliveryStatus.PENDING
    assert smtp.handler.data_attempts == 0


# --- 451 then 250 ----------------------------------------------------------------------------


async def test_4xx_is_retried_after_a_minute_and_delivered_once(outbox, smtp, settings):
    given = await outbox.digest()
    smtp.handler.data_answers.append("451 4.3.0 Try again later")
    conf = with_smtp(settings, smtp.url)

    assert await send_due(NOW, conf, "worker-a") == SendResult(retrying=1)
    row = await fresh(given.deliveries[0])
    assert (
        row.status,
        row.attempts,
        row.next_attempt_at,
        row.last_error,
        row.sent_at,
        row.lease_owner,
    ) == (
        DeliveryStatus.RETRYING,
        1,
        NOW + timedelta(minutes=1),
        "451 4.3.0 Try again later",
        None,
        None,
    )

    # Before the next attempt time: nothing is sent.
    assert await send_due(NOW + timedelta(seconds=59), conf, "worker-a") == SendResult()
    assert smtp.handler.data_attempts == 1

    later = NOW + timedelta(minutes=1)
    assert await send_due(later, conf, "worker-b") == OK
    row = await fresh(given.deliveries[0])
    assert (row.status, row.attempts, row.sent_at, row.last_error, row.next_attempt_at) == (
        DeliveryStatus.SENT,
        2,
        later,
        None,
        None,
    )
    assert smtp.handler.data_attempts == 2
    assert len(smtp.handler.delivered) == 1
    assert_headers(smtp.handler.delivered[0].message, given)


# --- 550 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["RCPT", "DATA"])
async def test_5xx_fails_permanently_and_is_never_retried(outbox, smtp, settings, where):
    given = await outbox.digest()
    if where == "RCPT":
        smtp.handler.rcpt_answer = "550 5.1.1 No such user"
    else:
        smtp.handler.data_answers.append("554 5.6.0 Message rejected")
    conf = with_smtp(settings, smtp.url)

    assert await send_due(NOW, conf, "worker-a") == SendResult(failed=1)
    row = await fresh(given.deliveries[0])
    expected = "550 5.1.1 No such user" if where == "RCPT" else "554 5.6.0 Message rejected"
    assert (row.status, row.attempts, row.last_error, row.next_attempt_at, row.sent_at) == (
        DeliveryStatus.FAILED,
        1,
        expected,
        None,
        None,
    )
    smtp.handler.reset()
    assert await send_due(NOW + timedelta(days=10), conf, "worker-a") == SendResult()
    assert smtp.handler.data_attempts == 0 and smtp.handler.delivered == []
    assert (await fresh(given.deliveries[0])).status is DeliveryStatus.FAILED


# --- no server -------------------------------------------------------------------------------


async def test_refused_connection_backs_off_doubling_then_fails_after_four_days(
    outbox, settings, closed_port
):
    given = await outbox.digest()
    conf = with_smtp(settings, f"smtp://127.0.0.1:{closed_port}")
    deadline = MADE + timedelta(days=4)

    now, waits, attempts = NOW, [], 0
    while True:
        result = await send_due(now, conf, "worker-a")
        attempts += 1
        row = await fresh(given.deliveries[0])
        assert row.attempts == attempts and row.lease_owner is None
        assert row.last_error is not None and row.last_error.startswith(
            f"Error connecting to 127.0.0.1 on port {closed_port}"
        )
        if row.status is DeliveryStatus.FAILED:
            assert result == SendResult(failed=1)
            break
        assert result == SendResult(retrying=1) and row.status is DeliveryStatus.RETRYING
        waits.append(row.next_attempt_at - now)
        # A pass just before the next attempt time sends nothing.
        assert (
            await send_due(row.next_attempt_at - timedelta(seconds=1), conf, "worker-a")
            == SendResult()
        )
        now = row.next_attempt_at

    minutes = [int(w.total_seconds() // 60) for w in waits]
    assert minutes[:7] == [1, 2, 4, 8, 16, 32, 60]  # doubling, at most an hour by default
    assert set(minutes[6:-1]) == {60}
    assert now == deadline  # the last attempt is made at the give-up time itself
    assert row.last_error.endswith(f"(gave up after {attempts} attempts)")
    assert row.next_attempt_at is None and row.sent_at is None
    assert await send_due(deadline + timedelta(days=1), conf, "worker-a") == SendResult()


async def test_backoff_is_configurable():
    conf = Settings(
        mail_retry_initial_seconds=30, mail_retry_max_seconds=10**6, mail_give_up_seconds=3600
    )
    created = datetime(2026, 1, 1, tzinfo=UTC)
    assert mail.retry_at(created, 1, created, conf) == created + timedelta(seconds=30)
    assert mail.retry_at(created, 3, created, conf) == created + timedelta(seconds=120)
    # Never past the give-up time; at it, give up.
    assert mail.retry_at(created, 9, created + timedelta(minutes=50), conf) == created + timedelta(
        hours=1
    )
    assert mail.retry_at(created, 10, created + timedelta(hours=1), conf) is None
    assert mail.retry_at(created, 10_000, created, conf) == created + timedelta(hours=1)


async def test_unreachable_server_marks_every_due_message_retrying(outbox, settings, closed_port):
    deliveries = await outbox.many(3)

    result = await send_due(NOW, with_smtp(settings, f"smtp://127.0.0.1:{closed_port}"), "worker-a")

    assert result == SendResult(retrying=3)
    for d in deliveries:
        row = await fresh(d)
        assert (row.status, row.attempts, row.next_attempt_at) == (
            DeliveryStatus.RETRYING,
            1,
            NOW + timedelta(minutes=1),
        )
        assert "Connect call failed" in (row.last_error or "")


# --- the file outbox -------------------------------------------------------------------------


async def test_without_smtp_each_email_is_an_eml_file_named_by_message_id(
    outbox, settings, tmp_path
):
    given = await outbox.digest(recipients=("Ann Admin", "Max Manager"))
    conf = with_smtp(settings, None, mail_dir=str(tmp_path / "mail"))

    assert await send_due(NOW, conf, "embedded") == SendResult(sent=2)

    files = sorted(p.name for p in (tmp_path / "mail").iterdir())
    assert files == sorted(
        mail.eml_name(message_id_of(given, u)) for u in ("Ann Admin", "Max Manager")
    )
    for user in ("Ann Admin", "Max Manager"):
        raw = (tmp_path / "mail" / mail.eml_name(message_id_of(given, user))).read_bytes()
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert_headers(message, given, user)
        plain, rich = parts(message)
        assert "Quotely: Installed by Ann Admin" in plain and LINK in rich
    for d in given.deliveries:
        row = await fresh(d)
        assert (row.status, row.sent_at, row.attempts) == (DeliveryStatus.SENT, NOW, 1)


async def test_file_outbox_resend_overwrites(outbox, settings, tmp_path):
    given = await outbox.digest()
    conf = with_smtp(settings, None, mail_dir=str(tmp_path))

    async def die() -> None:
        raise Died

    with hooked("mail:after-send", die), pytest.raises(Died):
        await send_due(NOW, conf, "embedded-1")
    assert await send_due(NOW + timedelta(minutes=3), conf, "embedded-2") == OK
    assert [p.name for p in tmp_path.iterdir()] == [mail.eml_name(message_id_of(given))]


def test_mail_dir_default_and_environment():
    assert Settings().mail_dir == "var/mail"
    env = {
        "GATEWAY_MAIL_DIR": "/srv/outbox",
        "GATEWAY_SMTP_TIMEOUT": "5",
        "GATEWAY_MAIL_LEASE_SECONDS": "30",
        "GATEWAY_MAIL_RETRY_INITIAL_SECONDS": "10",
        "GATEWAY_MAIL_RETRY_MAX_SECONDS": "600",
        "GATEWAY_MAIL_GIVE_UP_SECONDS": "86400",
        "GATEWAY_MAIL_BATCH_SIZE": "7",
    }
    s = Settings.from_env(env)
    assert (
        s.mail_dir,
        s.smtp_timeout,
        s.mail_lease_seconds,
        s.mail_retry_initial_seconds,
        s.mail_retry_max_seconds,
        s.mail_give_up_seconds,
        s.mail_batch_size,
    ) == (
        "/srv/outbox",
        5.0,
        30.0,
        10.0,
        600.0,
        86400.0,
        7,
    )
    for bad in ("soon", "0", "-1", "nan", "inf"):
        with pytest.raises(SettingsError, match="GATEWAY_MAIL_LEASE_SECONDS"):
            Settings.from_env({"GATEWAY_MAIL_LEASE_SECONDS": bad})


# --- leases ----------------------------------------------------------------------------------


class Died(Exception):
    """A sender killed mid-pass."""


async def test_concurrent_passes_send_each_message_once(outbox, smtp, settings):
    deliveries = await outbox.many(12)
    conf = with_smtp(settings, smtp.url, mail_batch_size=3)

    results = await asyncio.gather(*(send_due(NOW, conf, f"worker-{i}") for i in range(3)))

    assert sum(r.sent for r in results) == 12 and all(r.retrying == r.failed == 0 for r in results)
    ids = [r.message["Message-ID"] for r in smtp.handler.delivered]
    assert len(ids) == 12 and len(set(ids)) == 12
    assert {(await fresh(d)).status for d in deliveries} == {DeliveryStatus.SENT}


@pytest.mark.postgres
async def test_racing_senders_on_postgresql_send_each_message_once(outbox, smtp, settings):
    deliveries = await outbox.many(40)
    conf = with_smtp(settings, smtp.url, mail_batch_size=4)
    rng = random.Random(5)

    async def jitter() -> None:
        await asyncio.sleep(rng.random() / 200)

    with hooked("mail:after-send", jitter):
        results = await asyncio.gather(*(send_due(NOW, conf, f"pg-worker-{i}") for i in range(5)))

    assert sum(r.sent for r in results) == 40
    assert sum(1 for r in results if r.sent) > 1  # the work was actually shared
    ids = [r.message["Message-ID"] for r in smtp.handler.delivered]
    assert len(ids) == 40 and len(set(ids)) == 40
    rows = await Delivery.filter(id__in=[d.id for d in deliveries])
    assert {(r.status, r.attempts, r.lease_owner) for r in rows} == {(DeliveryStatus.SENT, 1, None)}


async def test_message_leased_by_another_sender_is_skipped_until_the_lease_expires(
    outbox, smtp, settings
):
    given = await outbox.digest()
    await Delivery.filter(id=given.deliveries[0].id).update(
        lease_owner="other", lease_until=NOW + timedelta(seconds=60)
    )
    conf = with_smtp(settings, smtp.url)

    assert await send_due(NOW, conf, "worker-a") == SendResult()
    row = await fresh(given.deliveries[0])
    assert (row.status, row.attempts, row.lease_owner) == (DeliveryStatus.PENDING, 0, "other")
    assert smtp.handler.data_attempts == 0

    assert (
        await send_due(NOW + timedelta(seconds=60), conf, "worker-a") == OK
    )  # expired: taken over
    assert len(smtp.handler.delivered) == 1


async def test_sender_dying_after_the_250_resends_with_the_same_message_id(outbox, smtp, settings):
    given = await outbox.digest()
    conf = with_smtp(settings, smtp.url)

    async def die() -> None:
        raise Died

    with hooked("mail:after-send", die), pytest.raises(Died):
        await send_due(NOW, conf, "worker-a")
    row = await fresh(given.deliveries[0])
    assert (row.status, row.attempts, row.lease_owner) == (DeliveryStatus.PENDING, 0, "worker-a")
    assert len(smtp.handler.delivered) == 1

    # Another sender waits for the lease (120 s by default), then finishes the job.
    assert await send_due(NOW + timedelta(seconds=119), conf, "worker-b") == SendResult()
    assert await send_due(NOW + timedelta(seconds=121), conf, "worker-b") == OK
    row = await fresh(given.deliveries[0])
    assert (row.status, row.attempts, row.lease_owner) == (DeliveryStatus.SENT, 1, None)
    # At-least-once: the server got it twice, both with the same Message-ID.
    assert [r.message["Message-ID"] for r in smtp.handler.delivered] == [message_id_of(given)] * 2


async def test_outcome_is_not_recorded_once_the_lease_is_lost(outbox, smtp, settings):
    given = await outbox.digest()
    delivery_id = given.deliveries[0].id

    async def steal() -> None:
        # The lease ran out mid-send and another sender took the message over.
        await Delivery.filter(id=delivery_id).update(
            lease_owner="thief", lease_until=NOW + timedelta(hours=1)
        )

    with hooked("mail:after-send", steal):
        assert await send_due(NOW, with_smtp(settings, smtp.url), "worker-a") == SendResult()
    row = await fresh(given.deliveries[0])
    assert (row.status, row.attempts, row.lease_owner, row.sent_at) == (
        DeliveryStatus.PENDING,
        0,
        "thief",
        None,
    )


# --- content ---------------------------------------------------------------------------------


async def test_data_is_html_escaped(outbox, smtp, settings):
    hostile = '<script>alert("x")</script> & <b>Co</b>'
    given = await outbox.digest(app_names=(hostile, "AdBeacon", "Zendo"))
    await NotificationRule.filter(id=given.rule.id).update(name="Installs <i>&</i> more")
    await User.filter(id=given.users["Max Manager"].id).update(
        name="Max <img src=x onerror=alert(1)>"
    )

    assert await send_due(NOW, with_smtp(settings, smtp.url), "worker-a") == OK

    message = smtp.handler.delivered[0].message
    plain, rich = parts(message)
    assert "<script>" not in rich and "<img" not in rich and "<i>" not in rich and "<b>" not in rich
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;Co&lt;/b&gt;" in rich
    assert "Max &lt;img src=x onerror=alert(1)&gt;" in rich
    assert ">Installs &lt;i&gt;&amp;&lt;/i&gt; more</h1>" in rich
    assert f"- {hostile}: Installed by Ann Admin" in plain  # plain text shows names as they are
    assert subject(message).startswith("Installs <i>&</i> more: 3 app installs")


async def test_newest_hundred_entries_and_how_many_more(outbox, smtp, settings):
    await outbox.digest(extra_entries=102)  # 105 entries; the digest keeps the newest 100

    assert await send_due(NOW, with_smtp(settings, smtp.url), "worker-a") == OK

    plain, rich = parts(smtp.handler.delivered[0].message)
    items = [line for line in plain.splitlines() if line.startswith("- ")]
    assert len(items) == 101 and items[-1] == "- and 5 more"
    assert items[0] == "- Zendo: Installed by Max Manager, Mon 2 Nov 2026, 15:45 EST"
    assert (
        items[-2] == "- Quotely: Installed by the integration platform, Mon 2 Nov 2026, 00:05 EST"
    )
    assert rich.count("<tr><td") == 100 and "<p>and 5 more</p>" in rich
    assert (
        subject(smtp.handler.delivered[0].message)
        == "Install digest: 105 app installs, Mon 2 Nov 2026 (America/New_York)"
    )


async def test_digest_of_a_deleted_rule_is_still_sent_with_its_own_message_id(
    outbox, smtp, settings
):
    given = await outbox.digest()
    await NotificationRule.filter(id=given.rule.id).delete()

    assert await send_due(NOW, with_smtp(settings, smtp.url), "worker-a") == OK
    message = smtp.handler.delivered[0].message
    assert message["Message-ID"] == f"<digest.n{given.notifications[0].id}@acme.example>"
    assert (
        subject(message)
        == "Connected apps digest: 3 app installs, Mon 2 Nov 2026 (America/New_York)"
    )


@pytest.mark.parametrize(
    ("start", "end", "tz", "expected"),
    [
        # A day, a DST day (25 hours), an ISO week across a year end, a month, an hour, the
        # hour a DST change repeats, a period that starts at a rule's creation.
        (
            datetime(2026, 11, 2, 5, tzinfo=UTC),
            datetime(2026, 11, 3, 5, tzinfo=UTC),
            NY,
            "Mon 2 Nov 2026",
        ),
        (
            datetime(2026, 11, 1, 4, tzinfo=UTC),
            datetime(2026, 11, 2, 5, tzinfo=UTC),
            NY,
            "Sun 1 Nov 2026",
        ),
        (
            datetime(2026, 12, 28, 5, tzinfo=UTC),
            datetime(2027, 1, 4, 5, tzinfo=UTC),
            NY,
            "Mon 28 Dec 2026 – Sun 3 Jan 2027",
        ),
        (
            datetime(2026, 11, 2, 5, tzinfo=UTC),
            datetime(2026, 11, 9, 5, tzinfo=UTC),
            NY,
            "Mon 2 Nov – Sun 8 Nov 2026",
        ),
        (
            datetime(2026, 11, 1, 4, tzinfo=UTC),
            datetime(2026, 12, 1, 5, tzinfo=UTC),
            NY,
            "November 2026",
        ),
        (
            datetime(2026, 11, 2, 14, tzinfo=UTC),
            datetime(2026, 11, 2, 15, tzinfo=UTC),
            NY,
            "Mon 2 Nov 2026, 09:00–10:00",
        ),
        (
            datetime(2026, 11, 1, 5, tzinfo=UTC),
            datetime(2026, 11, 1, 6, tzinfo=UTC),
            NY,
            "Sun 1 Nov 2026, 01:00 EDT–01:00 EST",
        ),
        (
            datetime(2026, 11, 2, 23, tzinfo=UTC),
            datetime(2026, 11, 3, 0, tzinfo=UTC),
            "Asia/Tokyo",
            "Tue 3 Nov 2026, 08:00–09:00",
        ),
        (
            datetime(2026, 11, 2, 22, 30, tzinfo=UTC),
            datetime(2026, 11, 3, 5, tzinfo=UTC),
            NY,
            "Mon 2 Nov 2026, 17:30–24:00",
        ),
        (
            datetime(2026, 11, 1, 22, 30, tzinfo=UTC),
            datetime(2026, 11, 3, 5, tzinfo=UTC),
            NY,
            "Sun 1 Nov 2026 17:30 – Tue 3 Nov 2026 00:00",
        ),
    ],
)
def test_period_in_the_portal_timezone(start, end, tz, expected):
    assert mail.describe_period(start, end, ZoneInfo(tz)) == expected


# --- SMTP URL and authentication ------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example", SmtpConfig("mail.example", 25, False, False)),
        ("smtp://mail.example:2525/", SmtpConfig("mail.example", 2525, False, False)),
        (
            "smtp://u%40x:p%3Ass%20w@mail.example:587?starttls=1",
            SmtpConfig("mail.example", 587, False, True, "u@x", "p:ss w"),
        ),
        ("smtp://mail.example?starttls=0", SmtpConfig("mail.example", 25, False, False)),
        (
            "smtps://user:secret@mail.example",
            SmtpConfig("mail.example", 465, True, False, "user", "secret"),
        ),
        ("SMTPS://mail.example:1465", SmtpConfig("mail.example", 1465, True, False)),
        ("smtp://apikey@[::1]:25", SmtpConfig("::1", 25, False, False, "apikey", None)),
    ],
)
def test_smtp_url_forms(url, expected):
    assert mail.parse_smtp_url(url) == expected


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://user:hunter2@mail.example", "scheme"),
        ("mail.example:25", "scheme"),
        ("smtp://user:hunter2@", "no host"),
        ("smtp://user:hunter2@mail.example:port", "Port"),
        ("smtp://user:hunter2@mail.example:99999", "Port"),
        ("smtp://user:hunter2@mail.example:0", "port 0"),
        ("smtp://user:hunter2@mail.example/relay", "path"),
        ("smtp://user:hunter2@mail.example?startls=1", "unknown parameter"),
        ("smtp://user:hunter2@mail.example?starttls=maybe", "starttls"),
        ("smtps://user:hunter2@mail.example?starttls=1", "already uses TLS"),
        ("smtp://:hunter2@mail.example", "password without a user"),
    ],
)
def test_invalid_smtp_url_is_a_clear_settings_error_without_the_password(url, problem):
    with pytest.raises(SettingsError, match="GATEWAY_SMTP_URL is invalid") as caught:
        mail.check_smtp_url(Settings(smtp_url=url))
    assert problem in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_no_smtp_url_means_the_file_outbox():
    assert mail.check_smtp_url(Settings()) is None
    assert mail.check_smtp_url(Settings(mail_from=MAIL_FROM)) is None


@pytest.mark.parametrize(
    "mail_from", ["notifications", "", "Acme <>", "@acme.example", "notifications@"]
)
def test_sender_address_is_checked_at_start_up(mail_from):
    with pytest.raises(SettingsError, match="GATEWAY_MAIL_FROM"):
        mail.check_smtp_url(Settings(mail_from=mail_from))


@pytest.fixture(scope="module")
def auth_server() -> Iterator[Server]:
    controller, server = start_server(with_auth=True)
    yield server
    controller.stop()


async def test_credentials_are_percent_decoded_and_used(outbox, auth_server, settings):
    auth_server.handler.reset()
    given = await outbox.digest()
    url = f"smtp://mailer%40acme:p%3Ass%20w%2Frd@127.0.0.1:{auth_server.port}"

    assert await send_due(NOW, with_smtp(settings, url), "worker-a") == OK
    assert auth_server.handler.logins == [(b"mailer@acme", b"p:ss w/rd")]
    assert (await fresh(given.deliveries[0])).status is DeliveryStatus.SENT


async def test_refused_login_is_retried_not_failed(outbox, auth_server, settings):
    # A wrong password is our configuration, not the message's fault: fixing it delivers.
    auth_server.handler.reset()
    given = await outbox.digest()
    url = f"smtp://mailer%40acme:wrong@127.0.0.1:{auth_server.port}"

    assert await send_due(NOW, with_smtp(settings, url), "worker-a") == SendResult(retrying=1)
    row = await fresh(given.deliveries[0])
    assert row.status is DeliveryStatus.RETRYING and (row.last_error or "").startswith("535")
    assert auth_server.handler.delivered == []


async def test_required_starttls_is_never_skipped(outbox, smtp, settings):
    given = await outbox.digest()

    result = await send_due(NOW, with_smtp(settings, smtp.url + "?starttls=1"), "worker-a")

    assert result == SendResult(retrying=1)
    row = await fresh(given.deliveries[0])
    assert "STARTTLS" in (row.last_error or "")
    assert smtp.handler.delivered == []
