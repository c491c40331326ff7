"""WEBHOOK and SLACK channels (DESIGN §6 "More channels and 'send test'"), through real HTTP: a
receiver on 127.0.0.1 started by each test (tests/webhook_support.py), rules made through the
API, worker passes run with an injected clock (nothing sleeps), and names made to resolve
where a test wants by an injected resolver.

The receiver is a loopback address, so delivering to it needs GATEWAY_WEBHOOK_ALLOW_PRIVATE;
the tests without it prove such destinations are refused, at save and at send.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from tortoise.exceptions import IntegrityError

from gateway import clock
from gateway.models import AppLogEntry, Delivery, Notification, NotificationRule, Portal
from gateway.models.enums import AppActivity, DeliveryStatus, NotificationChannel
from gateway.services import webhooks
from gateway.settings import Settings
from gateway.worker import run_pass
from tests import factories as f
from tests.helpers import gid, gql
from tests.webhook_support import FakeDNS, Reply, certificate_authority, receiving

KEY = Fernet.generate_key().decode()
# A digest's hour, and the pass made after it (past the worker's settle delay).
CUT = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
RECORDED = CUT + timedelta(minutes=20)
PASS = CUT + timedelta(hours=1, minutes=5)
LONG_AGO = datetime(2025, 1, 1, tzinfo=UTC)

CREATE = """
mutation($input: CreateNotificationRuleInput!) {
  createNotificationRule(input: $input) {
    rule { id channels webhookUrl slackWebhookUrl webhookHost }
    webhookSecret
    userErrors { field message code }
  }
}"""
UPDATE = """
mutation($input: UpdateNotificationRuleInput!) {
  updateNotificationRule(input: $input) {
    rule { id channels webhookUrl webhookHost }
    webhookSecret
    userErrors { field message code }
  }
}"""
ROTATE = """
mutation($id: ID!) {
  rotateNotificationRuleSecret(input: {ruleId: $id}) {
    rule { id } webhookSecret userErrors { field message code }
  }
}"""
SEND_TEST = """
mutation($id: ID!) {
  sendTestNotification(input: {ruleId: $id}) {
    deliveries {
      id channel status attempts lastError isTest target
      recipient { id } notification { id isTest entryCount }
      rule { id }
    }
    userErrors { field message code }
  }
}"""
RULE = """
query($id: ID!) {
  node(id: $id) {
    ... on NotificationRule {
      name channels webhookUrl slackWebhookUrl webhookHost
      lastDelivery { id channel status attempts lastError target isTest
                     periodStart periodEnd recipient { id } notification { id } rule { id } }
    }
  }
}"""


@dataclass
class Setup:
    """A portal of its own (an admin, a member, two apps), a client of a gateway that may keep
    webhook secrets and deliver to private addresses, and the worker's settings."""

    tenant: f.Tenant
    client: httpx.AsyncClient
    settings: Settings

    @property
    def admin_token(self) -> str:
        return self.tenant.tokens["Ada Admin"]

    @property
    def member_token(self) -> str:
        return self.tenant.tokens["Mia Member"]

    async def create(self, token: str | None = None, **fields: Any) -> dict[str, Any]:
        given = {
            "name": f.unique("Hook rule"),
            "type": "APP_INSTALL",
            "frequency": "HOURLY",
            "allApps": True,
            "audience": "SPECIFIC",
            "channels": ["WEBHOOK"],
        } | fields
        body = await gql(self.client, CREATE, {"input": given}, token=token or self.admin_token)
        return body["data"]["createNotificationRule"]

    async def webhook_rule(self, url: str, **fields: Any) -> tuple[NotificationRule, str]:
        made = await self.create(webhookUrl=url, **fields)
        assert made["userErrors"] == [], made
        pk = await self.rule_pk(made["rule"]["id"])
        rule = await NotificationRule.get(id=pk)
        # The rule's cut: digests cover what is recorded after it.
        await NotificationRule.filter(id=pk).update(cut_at=CUT, created_at=CUT)
        return rule, made["webhookSecret"]

    async def rule_pk(self, global_id: str) -> int:
        from gateway.ids import decode_id

        pk = decode_id(global_id, "NotificationRule")
        assert pk is not None
        return pk

    async def entry(self, app: str = "Ledger", at: datetime = RECORDED) -> AppLogEntry:
        return await AppLogEntry.create(
            portal=self.tenant.portal,
            app=self.tenant.apps[app],
            user=self.tenant.people["Ada Admin"],
            activity=AppActivity.INSTALLED,
            occurred_at=at,
            recorded_at=at,
        )

    async def run(self, at: datetime, **changes: Any) -> None:
        await run_pass(
            at,
            self.settings.with_(**changes),
            self.client_publisher,
            "test-webhooks",
            portal_ids=[self.tenant.portal.id],
        )

    client_publisher: Any = None


@pytest.fixture
async def setup(app, settings, make_client, tmp_path) -> AsyncIterator[Setup]:
    worker_settings = settings.with_(
        secrets_key=KEY, webhook_allow_private=True, smtp_url=None, mail_dir=str(tmp_path)
    )
    tenant = await f.make_tenant(
        settings,
        people={"Ada Admin": "admin", "Mia Member": "member"},
        apps=["Ledger", "Mailer"],
        installed_at=LONG_AGO,
    )
    async with make_client(secrets_key=KEY, webhook_allow_private=True) as client:
        made = Setup(tenant, client, worker_settings)
        made.client_publisher = app.state.publisher
        yield made
    await Portal.filter(id=tenant.portal.id).delete()


@pytest.fixture
def dns(monkeypatch) -> FakeDNS:
    fake = FakeDNS()
    monkeypatch.setattr(webhooks, "resolve_host", fake)
    return fake


async def deliveries_of(rule: NotificationRule) -> list[Delivery]:
    return await Delivery.filter(rule_id=rule.id).order_by("id")


# --- one signed message per digest -----------------------------------------------------------


async def test_a_digest_posts_one_signed_message_per_cut_whatever_the_audience(setup):
    async with receiving() as hook:
        # Given a webhook-only rule with nobody in its audience, and two installs in its hour
        rule, secret = await setup.webhook_rule(hook.url())
        assert secret.startswith("whsec_")
        first = await setup.entry("Ledger", RECORDED)
        second = await setup.entry("Mailer", RECORDED + timedelta(minutes=1))
        # When two workers pass after the hour
        await setup.run(PASS)
        await setup.run(PASS + timedelta(minutes=1))
        # Then the receiver got one POST, signed with the rule's secret as /events requests are
        assert len(hook.received) == 1
        request = hook.received[0]
        assert request.method == "POST" and request.path == "/hook"
        assert request.signed_by(secret, time.time())
        assert not request.signed_by("whsec_another", time.time())
        (delivery,) = await deliveries_of(rule)
        assert request.headers["x-gateway-delivery"] == gid("Delivery", delivery.id)
        body = request.json()
        assert body["rule"] == {
            "id": gid("NotificationRule", rule.id),
            "name": rule.name,
            "type": "APP_INSTALL",
        }
        assert body["portal"]["id"] == gid("Portal", setup.tenant.portal.id)
        assert body["entryCount"] == 2 and body["isTest"] is False
        assert body["periodStart"] == CUT.isoformat()
        assert body["periodEnd"] == (CUT + timedelta(hours=1)).isoformat()
        assert [e["id"] for e in body["entries"]] == [
            gid("AppLogEntry", second.id),
            gid("AppLogEntry", first.id),
        ]
        assert body["entries"][0]["app"]["name"] == "Mailer"
        assert body["entries"][0]["user"]["name"] == "Ada Admin"
        assert body["entries"][0]["alertReason"] is None
        # and the delivery is SENT, with no recipient nor notification, and its period and host
        assert delivery.status is DeliveryStatus.SENT and delivery.attempts == 1
        assert delivery.recipient_id is None and delivery.notification_id is None
        assert (delivery.period_start, delivery.period_end) == (CUT, CUT + timedelta(hours=1))
        assert delivery.target == "127.0.0.1"
        assert await Notification.filter(rule_id=rule.id).count() == 0
        # and (rule, cut, channel) is a unique key: a second message of that digest cannot exist
        with pytest.raises(IntegrityError):
            await Delivery.create(
                portal_id=rule.portal_id,
                rule_id=rule.id,
                cut_at=CUT,
                channel=NotificationChannel.WEBHOOK,
                status=DeliveryStatus.PENDING,
                created_at=PASS,
            )


async def test_people_and_the_webhook_each_get_the_digest_once(setup):
    async with receiving() as hook:
        # Given a rule for everyone by email and in-app, and a webhook
        rule, _ = await setup.webhook_rule(
            hook.url(), audience="EVERYONE", channels=["EMAIL", "IN_APP", "WEBHOOK"]
        )
        await setup.entry()
        await setup.run(PASS)
        # Then each person has their notification, and the webhook one message
        rows = await deliveries_of(rule)
        by_channel = sorted(d.channel.value for d in rows)
        assert by_channel == ["EMAIL", "EMAIL", "IN_APP", "IN_APP", "WEBHOOK"]
        assert len(hook.received) == 1


# --- outcomes: retries, failures, Retry-After, redirects ----------------------------------------


async def test_500_then_200_is_one_delivery_sent_after_a_retry(setup):
    async with receiving() as hook:
        rule, secret = await setup.webhook_rule(hook.url())
        await setup.entry()
        hook.answer(Reply(500, body=b"busy"))
        await setup.run(PASS)
        (delivery,) = await deliveries_of(rule)
        # The email backoff: the first retry a minute later
        assert delivery.status is DeliveryStatus.RETRYING and delivery.attempts == 1
        assert delivery.last_error == "HTTP 500: busy"
        assert delivery.next_attempt_at == PASS + timedelta(seconds=60)
        # Not yet due: nothing is sent
        await setup.run(PASS + timedelta(seconds=30))
        assert len(hook.received) == 1
        await setup.run(PASS + timedelta(seconds=61))
        (delivery,) = await deliveries_of(rule)
        assert delivery.status is DeliveryStatus.SENT and delivery.attempts == 2
        assert delivery.last_error is None
        # Both attempts carried the same delivery id, for the receiver to deduplicate
        assert [r.headers["x-gateway-delivery"] for r in hook.received] == [
            gid("Delivery", delivery.id)
        ] * 2
        assert all(r.signed_by(secret, time.time()) for r in hook.received)


async def test_410_fails_with_the_status_and_at_most_1_kib_of_the_answer(setup):
    async with receiving() as hook:
        rule, _ = await setup.webhook_rule(hook.url())
        await setup.entry()
        hook.answer(Reply(410, body=b"x" * 5000))
        await setup.run(PASS)
        (delivery,) = await deliveries_of(rule)
        assert delivery.status is DeliveryStatus.FAILED and delivery.next_attempt_at is None
        assert delivery.last_error == "HTTP 410: " + "x" * 1024
        # FAILED is final: later passes send nothing
        await setup.run(PASS + timedelta(hours=2))
        assert len(hook.received) == 1


@pytest.mark.parametrize(("asked", "waited"), [("120", 120), ("86400", 3600)])
async def test_429_waits_as_long_as_retry_after_says_at_most_an_hour(setup, asked, waited):
    async with receiving() as hook:
        rule, _ = await setup.webhook_rule(hook.url())
        await setup.entry()
        hook.answer(Reply(429, headers={"Retry-After": asked}, body=b"slow down"))
        await setup.run(PASS)
        (delivery,) = await deliveries_of(rule)
        assert delivery.status is DeliveryStatus.RETRYING
        assert delivery.next_attempt_at == PASS + timedelta(seconds=waited)
        await setup.run(PASS + timedelta(seconds=waited - 1))
        assert len(hook.received) == 1
        await setup.run(PASS + timedelta(seconds=waited))
        assert len(hook.received) == 2
        assert (await deliveries_of(rule))[0].status is DeliveryStatus.SENT


async def test_a_redirect_is_not_followed(setup):
    async with receiving() as hook:
        rule, _ = await setup.webhook_rule(hook.url())
        await setup.entry()
        hook.answer(Reply(302, headers={"Location": hook.url("/elsewhere")}, body=b""))
        await setup.run(PASS)
        assert [r.path for r in hook.received] == ["/hook"]
        (delivery,) = await deliveries_of(rule)
        assert delivery.status is DeliveryStatus.FAILED
        assert delivery.last_error is not None and delivery.last_error.startswith("HTTP 302")
        assert "not followed" in delivery.last_error


async def test_slack_gets_text_and_blocks(setup):
    async with receiving() as hook:
        made = await setup.create(channels=["SLACK"], slackWebhookUrl=hook.url("/slack"))
        assert made["userErrors"] == [] and made["webhookSecret"] is None
        rule = await NotificationRule.get(id=await setup.rule_pk(made["rule"]["id"]))
        await NotificationRule.filter(id=rule.id).update(cut_at=CUT)
        await setup.entry("Mailer")
        await setup.run(PASS)
        (request,) = hook.received
        body = request.json()
        assert set(body) == {"text", "blocks"}
        assert body["text"].startswith(rule.name) and "1 entry" in body["text"]
        assert "Mailer" in body["blocks"][1]["text"]["text"]
        assert "x-gateway-signature" not in request.headers


# --- destinations: public only, checked at save and at send, no second lookup ------------------


PRIVATE = [
    "https://127.0.0.1/hook",
    "https://10.1.2.3/hook",
    "https://169.254.169.254/latest",
    "https://[::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://internal.example/hook",  # resolves to 10.0.0.7 (below)
    "https://mixed.example/hook",  # one public address and one loopback
]


@pytest.mark.parametrize("url", PRIVATE)
async def test_private_and_loopback_destinations_are_refused_at_save(setup, make_client, dns, url):
    dns.names["internal.example"] = ["10.0.0.7"]
    dns.names["mixed.example"] = ["93.184.216.34", "127.0.0.1"]
    before = await NotificationRule.filter(portal_id=setup.tenant.portal.id).count()
    async with make_client(secrets_key=KEY) as strict:
        body = await gql(
            strict,
            CREATE,
            {
                "input": {
                    "name": f.unique("Private"),
                    "type": "APP_INSTALL",
                    "frequency": "HOURLY",
                    "allApps": True,
                    "audience": "SUPER_ADMINS",
                    "channels": ["WEBHOOK"],
                    "webhookUrl": url,
                }
            },
            token=setup.admin_token,
        )
    made = body["data"]["createNotificationRule"]
    assert made["rule"] is None and made["webhookSecret"] is None
    assert [(e["code"], e["field"]) for e in made["userErrors"]] == [
        ("INVALID", ["input", "webhookUrl"])
    ]
    assert "public" in made["userErrors"][0]["message"]
    assert await NotificationRule.filter(portal_id=setup.tenant.portal.id).count() == before


async def test_http_is_refused_outside_debug_and_a_silent_host_is_invalid(setup, make_client, dns):
    dns.names["hooks.example"] = ["93.184.216.34"]
    dns.hang.add("slow.example")
    async with make_client(secrets_key=KEY, webhook_resolve_timeout=0.01) as strict:
        made = await setup.create(channels=["EMAIL"], audience="SUPER_ADMINS")
        rule_id = made["rule"]["id"]
        for url, words in [
            ("http://hooks.example/hook", "https"),
            ("https://slow.example/hook", "does not resolve"),
            ("https://nowhere.example/hook", "does not resolve"),
            ("ftp://hooks.example/hook", "https"),
            ("https://user:pw@hooks.example/hook", "user name"),
        ]:
            body = await gql(
                strict,
                UPDATE,
                {"input": {"id": rule_id, "channels": ["EMAIL", "WEBHOOK"], "webhookUrl": url}},
                token=setup.admin_token,
            )
            payload = body["data"]["updateNotificationRule"]
            assert payload["rule"] is None, url
            (error,) = payload["userErrors"]
            assert error["code"] == "INVALID" and error["field"] == ["input", "webhookUrl"]
            assert words in error["message"], (url, error)
    # Nothing changed
    rule = await NotificationRule.get(id=await setup.rule_pk(rule_id))
    assert rule.webhook_url is None and rule.webhook_secret is None
    # With debug, http is accepted (the host is public)
    async with make_client(secrets_key=KEY, debug=True) as debug:
        body = await gql(
            debug,
            UPDATE,
            {"input": {"id": rule_id, "webhookUrl": "http://hooks.example/hook"}},
            token=setup.admin_token,
        )
    payload = body["data"]["updateNotificationRule"]
    assert payload["userErrors"] == []
    assert payload["rule"]["channels"] == ["EMAIL", "WEBHOOK"]
    assert payload["webhookSecret"].startswith("whsec_")


async def test_a_destination_is_checked_again_at_send(setup, dns):
    async with receiving() as hook:
        # Given a rule saved while the name resolved to a public address (so it was accepted)
        dns.names["hooks.example"] = ["93.184.216.34"]
        rule, _ = await setup.webhook_rule(hook.url(host="hooks.example"))
        await setup.entry()
        # When the name now resolves to the loopback receiver (DNS rebinding), without the setting
        dns.names["hooks.example"] = ["127.0.0.1"]
        # (debug allows http, not private addresses)
        await setup.run(PASS, webhook_allow_private=False, debug=True)
        # Then nothing is sent: the delivery FAILED, saying why
        assert hook.received == []
        (delivery,) = await deliveries_of(rule)
        assert delivery.status is DeliveryStatus.FAILED
        assert "127.0.0.1" in (delivery.last_error or "")


async def test_the_connection_goes_to_the_checked_address_without_a_second_lookup(setup, dns):
    async with receiving() as hook:
        # A name no real DNS knows, made to resolve to the receiver
        dns.names["hooks.internal.test"] = ["127.0.0.1"]
        rule, _ = await setup.webhook_rule(hook.url(host="hooks.internal.test"))
        await setup.entry()
        dns.lookups.clear()
        await setup.run(PASS)
        # One lookup for the attempt, and the request reached the address it gave, naming the host
        assert dns.lookups == ["hooks.internal.test"]
        (request,) = hook.received
        assert request.headers["host"] == f"hooks.internal.test:{hook.port}"
        assert (await deliveries_of(rule))[0].status is DeliveryStatus.SENT


async def test_https_goes_to_the_checked_address_and_verifies_the_name(dns, monkeypatch, tmp_path):
    # A receiver serving https under a certificate for hooks.tls.test only, from an authority
    # the gateway is made to trust; two names resolving to it
    server_tls, trusted = certificate_authority(tmp_path, "hooks.tls.test")
    monkeypatch.setattr(webhooks, "tls_verify", trusted)
    settings = Settings(debug=True, webhook_allow_private=True)
    async with receiving(tls=server_tls) as hook:
        dns.names["hooks.tls.test"] = dns.names["other.tls.test"] = ["127.0.0.1"]
        # When a message goes to the certificate's name
        good = await webhooks.check(hook.url(host="hooks.tls.test"), settings)
        answer = await webhooks.post(good, b"{}", {}, settings)
        # Then it arrives over TLS at the checked address, the name verified as the SNI name
        assert (answer.status, str(good.address)) == (200, "127.0.0.1"), answer
        assert [r.headers["host"] for r in hook.received] == [f"hooks.tls.test:{hook.port}"]
        # And to another name at the same address, verification refuses the certificate
        other = await webhooks.check(hook.url(host="other.tls.test"), settings)
        refused = await webhooks.post(other, b"{}", {}, settings)
        assert refused.status is None and "certificate" in refused.text.lower(), refused
        assert len(hook.received) == 1


# --- the secret: shown once, rotated, never readable, encrypted ---------------------------------


async def test_the_secret_is_shown_once_kept_encrypted_and_rotation_takes_effect_at_once(
    setup, caplog
):
    caplog.set_level("DEBUG")
    async with receiving() as hook:
        rule, secret = await setup.webhook_rule(hook.url())
        stored = (await NotificationRule.get(id=rule.id)).webhook_secret
        assert stored is not None and secret not in stored
        rule_id = gid("NotificationRule", rule.id)
        # An update keeping the webhook shows no secret
        body = await gql(
            setup.client,
            UPDATE,
            {"input": {"id": rule_id, "name": "Renamed hook"}},
            token=setup.admin_token,
        )
        assert body["data"]["updateNotificationRule"]["webhookSecret"] is None
        # A member sees the host, not the URL; an admin sees the URL
        seen = await gql(setup.client, RULE, {"id": rule_id}, token=setup.member_token)
        assert seen["data"]["node"]["webhookUrl"] is None
        assert seen["data"]["node"]["webhookHost"] == "127.0.0.1"
        assert seen["data"]["node"]["lastDelivery"] is None
        seen = await gql(setup.client, RULE, {"id": rule_id}, token=setup.admin_token)
        assert seen["data"]["node"]["webhookUrl"] == hook.url()
        # A member may not rotate; nothing changes
        denied = await gql(setup.client, ROTATE, {"id": rule_id}, token=setup.member_token)
        assert (
            denied["data"]["rotateNotificationRuleSecret"]["userErrors"][0]["code"] == "FORBIDDEN"
        )
        assert (await NotificationRule.get(id=rule.id)).webhook_secret == stored
        # A digest whose first attempt fails
        await setup.entry()
        hook.answer(Reply(503))
        await setup.run(PASS)
        assert hook.received[0].signed_by(secret, time.time())
        # When the admin rotates the secret
        body = await gql(setup.client, ROTATE, {"id": rule_id}, token=setup.admin_token)
        rotated = body["data"]["rotateNotificationRuleSecret"]
        assert rotated["userErrors"] == []
        new_secret = rotated["webhookSecret"]
        assert new_secret.startswith("whsec_") and new_secret != secret
        # Then the retry is signed with the new secret, not the old one
        await setup.run(PASS + timedelta(minutes=2))
        retry = hook.received[1]
        assert retry.signed_by(new_secret, time.time())
        assert not retry.signed_by(secret, time.time())
        # and lastDelivery shows it sent
        seen = await gql(setup.client, RULE, {"id": rule_id}, token=setup.admin_token)
        last = seen["data"]["node"]["lastDelivery"]
        assert last["status"] == "SENT" and last["attempts"] == 2 and last["channel"] == "WEBHOOK"
        assert last["recipient"] is None and last["notification"] is None
        assert last["rule"] == {"id": rule_id} and last["target"] == "127.0.0.1"
        assert last["periodStart"] == CUT.isoformat()
        # and neither secret was ever logged
        assert secret not in caplog.text and new_secret not in caplog.text


async def test_without_a_secrets_key_a_webhook_cannot_be_saved(setup, make_client):
    async with make_client(webhook_allow_private=True) as keyless:
        body = await gql(
            keyless,
            CREATE,
            {
                "input": {
                    "name": f.unique("Keyless"),
                    "type": "APP_INSTALL",
                    "frequency": "HOURLY",
                    "allApps": True,
                    "audience": "SUPER_ADMINS",
                    "channels": ["WEBHOOK"],
                    "webhookUrl": "http://127.0.0.1:9/hook",
                }
            },
            token=setup.admin_token,
        )
    made = body["data"]["createNotificationRule"]
    assert made["rule"] is None
    assert [(e["code"], e["field"]) for e in made["userErrors"]] == [
        ("INVALID", ["input", "webhookUrl"])
    ]
    assert "GATEWAY_SECRETS_KEY" in made["userErrors"][0]["message"]


async def test_channels_and_urls_must_agree(setup):
    missing = await setup.create(channels=["WEBHOOK", "SLACK"], webhookUrl=None)
    assert sorted((e["code"], e["field"][1]) for e in missing["userErrors"]) == [
        ("INVALID", "slackWebhookUrl"),
        ("INVALID", "webhookUrl"),
    ]
    left_out = await setup.create(
        channels=["EMAIL"], audience="EVERYONE", webhookUrl="http://127.0.0.1:9/"
    )
    assert [e["field"] for e in left_out["userErrors"]] == [["input", "webhookUrl"]]
    # A person channel still needs an audience
    nobody = await setup.create(channels=["EMAIL", "WEBHOOK"], webhookUrl="http://127.0.0.1:9/")
    assert [e["field"] for e in nobody["userErrors"]] == [["input", "audience"]]


# --- sendTestNotification ----------------------------------------------------------------------


async def test_send_test_reaches_the_viewer_and_the_urls_once_a_minute(
    setup, make_client, monkeypatch, tmp_path
):
    from tests.test_mail import start_server

    controller, smtp = start_server()
    try:
        async with receiving() as hook, receiving() as slack:
            # Given a rule for everyone on all four channels, and six matching entries
            rule, secret = await setup.webhook_rule(
                hook.url(),
                audience="EVERYONE",
                channels=["EMAIL", "IN_APP", "WEBHOOK", "SLACK"],
                slackWebhookUrl=slack.url("/slack"),
            )
            entries = [await setup.entry(at=RECORDED + timedelta(minutes=i)) for i in range(6)]
            rule_id = gid("NotificationRule", rule.id)
            now = datetime(2026, 5, 4, 12, 0, 0, tzinfo=UTC)
            monkeypatch.setattr(clock, "utc_now", lambda: now)
            async with make_client(
                secrets_key=KEY, webhook_allow_private=True, smtp_url=smtp.url
            ) as client:
                # A member may not send a test: nothing happens
                denied = await gql(client, SEND_TEST, {"id": rule_id}, token=setup.member_token)
                payload = denied["data"]["sendTestNotification"]
                assert payload["deliveries"] == []
                assert payload["userErrors"][0]["code"] == "FORBIDDEN"
                assert await deliveries_of(rule) == []
                assert (await NotificationRule.get(id=rule.id)).test_sent_at is None

                body = await gql(client, SEND_TEST, {"id": rule_id}, token=setup.admin_token)
                payload = body["data"]["sendTestNotification"]
                assert payload["userErrors"] == []
                sent = {d["channel"]: d for d in payload["deliveries"]}
                assert set(sent) == {"EMAIL", "IN_APP", "WEBHOOK", "SLACK"}
                assert all(d["status"] == "SENT" and d["isTest"] for d in sent.values()), sent
                admin_id = gid("User", setup.tenant.people["Ada Admin"].id)
                assert sent["EMAIL"]["recipient"] == {"id": admin_id}
                assert sent["IN_APP"]["notification"]["isTest"] is True
                assert sent["IN_APP"]["notification"]["entryCount"] == 5
                assert (
                    sent["WEBHOOK"]["recipient"] is None
                    and sent["WEBHOOK"]["target"] == "127.0.0.1"
                )
                # The viewer's email only, marked as a test
                (mail,) = smtp.handler.delivered
                assert mail.rcpt_tos == [setup.tenant.people["Ada Admin"].email]
                assert mail.message["Subject"].startswith("[Test] ")
                # Only the viewer has a notification
                notes = await Notification.filter(rule_id=rule.id)
                assert [(n.recipient_id, n.is_test) for n in notes] == [
                    (setup.tenant.people["Ada Admin"].id, True)
                ]
                # The webhook got the five newest entries, signed, marked isTest
                (request,) = hook.received
                assert request.signed_by(secret, time.time())
                posted = request.json()
                assert posted["isTest"] is True and posted["entryCount"] == 5
                assert [e["id"] for e in posted["entries"]] == [
                    gid("AppLogEntry", e.id) for e in reversed(entries[1:])
                ]
                assert slack.received[0].json()["text"].startswith("[Test] ")

                # A second test within the minute is a CONFLICT saying when, and changes nothing
                now = now + timedelta(seconds=59)
                again = await gql(client, SEND_TEST, {"id": rule_id}, token=setup.admin_token)
                payload = again["data"]["sendTestNotification"]
                assert payload["deliveries"] == []
                (error,) = payload["userErrors"]
                assert error["code"] == "CONFLICT" and "12:01:00 UTC" in error["message"]
                assert len(await deliveries_of(rule)) == 4 and len(hook.received) == 1

                # A minute on, it goes
                now = now + timedelta(seconds=2)
                later = await gql(client, SEND_TEST, {"id": rule_id}, token=setup.admin_token)
                assert later["data"]["sendTestNotification"]["userErrors"] == []
                assert len(hook.received) == 2
        # The rule's cut never moved
        assert (await NotificationRule.get(id=rule.id)).cut_at == CUT
    finally:
        controller.stop()


async def test_send_test_to_a_failing_webhook_shows_the_failure(setup):
    async with receiving() as hook:
        # (a disconnection rule: nothing has been disconnected yet)
        rule, _ = await setup.webhook_rule(hook.url(), type="APP_DISCONNECT")
        hook.answer(Reply(404, body=b"no such hook"))
        body = await gql(
            setup.client,
            SEND_TEST,
            {"id": gid("NotificationRule", rule.id)},
            token=setup.admin_token,
        )
        (delivery,) = body["data"]["sendTestNotification"]["deliveries"]
        assert delivery["status"] == "FAILED"
        assert delivery["lastError"] == "HTTP 404: no such hook"
        # With no entries yet, the sample says so
        assert hook.received[0].json()["entries"] == []
        assert hook.received[0].json()["entryCount"] == 0


async def test_a_refused_connection_is_retried_with_the_email_backoff(setup):
    async with receiving() as hook:
        port = hook.port
    # Nothing listens there any more
    rule, _ = await setup.webhook_rule(f"http://127.0.0.1:{port}/hook")
    await setup.entry()
    await setup.run(PASS)
    (delivery,) = await deliveries_of(rule)
    assert delivery.status is DeliveryStatus.RETRYING
    assert delivery.next_attempt_at == PASS + timedelta(seconds=60)
    assert (delivery.last_error or "").startswith("Connection failed")


def test_the_settings_read_the_secrets_key_and_the_private_switch():
    from gateway.settings import SettingsError

    read = Settings.from_env({"GATEWAY_SECRETS_KEY": KEY, "GATEWAY_WEBHOOK_ALLOW_PRIVATE": "1"})
    assert read.secrets_key == KEY and read.webhook_allow_private is True
    assert Settings.from_env({}).webhook_allow_private is False
    with pytest.raises(SettingsError, match="GATEWAY_SECRETS_KEY"):
        Settings.from_env({"GATEWAY_SECRETS_KEY": "not-a-key"})
    # Debug has a development key; production has none until one is set
    assert Settings(debug=True).effective_secrets_key is not None
    assert Settings().effective_secrets_key is None
