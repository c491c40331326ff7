"""Webhook channels on the console's rule form, in a real browser (DESIGN §6 "More channels and
'send test'"): a super admin gives a rule a webhook, copies the secret shown once, sends a test
that a receiver started by the test gets (signed with that secret), sees its state, and
rotates the secret. The receiver is on 127.0.0.1, so the gateway allows private destinations.
"""

from __future__ import annotations

import time

import pytest
from cryptography.fernet import Fernet
from selenium.webdriver.common.by import By

from gateway.app import create_app
from tests.live_support import uvicorn_serving
from tests.test_browser_console import browsing, tenant_with_apps, thread
from tests.webhook_support import receiving

pytestmark = [pytest.mark.browser, pytest.mark.one_executor]


def fill(browser, label: str, text: str) -> None:
    """Type `text` into the rule form's field with that label."""
    found = browser.wait(
        lambda d: d.find_element(
            By.XPATH, f"//form[contains(@class, 'rule-form')]//label[normalize-space()='{label}']"
        ),
        f"the {label} field",
    )
    field = browser.driver.find_element(By.ID, str(found.get_attribute("for")))
    field.clear()
    field.send_keys(text)


def click(browser, css: str) -> bool:
    """Click what `css` finds now (a stale element makes the caller's wait try again)."""
    browser.driver.find_element(By.CSS_SELECTOR, css).click()
    return True


async def test_a_rule_gets_a_webhook_sends_a_test_that_arrives_and_shows_its_state(
    app, settings
) -> None:
    tenant = await tenant_with_apps(settings, 1)
    token = tenant.token("Ada Admin")
    served = create_app(
        settings.with_(secrets_key=Fernet.generate_key().decode(), webhook_allow_private=True)
    )
    # Its broker (live updates) started as its lifespan would; the database is the session's.
    await served.state.publisher.start()
    try:
        await _scenario(served, token)
    finally:
        await served.state.publisher.stop()
        await served.state.policy.limiter.close()
        await served.state.persisted.automatic.close()


async def _scenario(served, token: str) -> None:
    async with receiving() as hook, uvicorn_serving(served) as base:
        with browsing(base) as browser:
            await thread(browser.open, "/console/notifications", token)
            await thread(lambda: browser.one('[data-action="create-rule"]').click())
            # When a super admin creates a rule with a webhook URL
            await thread(fill, browser, "Name", "Hooked installs")
            await thread(fill, browser, "Webhook URL", hook.url())
            await thread(lambda: browser.one('form.rule-form button[type="submit"]').click())
            # Then the secret is shown, once
            shown = await thread(
                browser.wait,
                lambda d: (e := browser.one("[data-webhook-secret]")).text.strip() and e,
                "the webhook secret",
            )
            secret = shown.text.strip()
            assert secret.startswith("whsec_")
            rule = await thread(
                browser.wait,
                lambda d: next(
                    (r for r in browser.all("[data-rule-id]") if "Hooked installs" in r.text), None
                ),
                "the new rule in the list",
            )
            assert hook.url() in rule.text
            # When they send a test
            await thread(
                lambda: rule.find_element(By.CSS_SELECTOR, '[data-action="send-test"]').click()
            )
            # Then the receiver got it, signed with that secret, and the page says it was sent
            await thread(
                browser.wait,
                lambda d: browser.all(
                    '[data-test-result] [data-delivery-channel="WEBHOOK"][data-delivery-status="SENT"]'
                ),
                "the test's webhook delivery, sent",
            )
            (request,) = hook.received
            assert request.json()["isTest"] is True
            assert request.signed_by(secret, time.time())
            # and after a reload the rule shows its last delivery's state
            await thread(browser.driver.refresh)
            await thread(
                browser.wait,
                lambda d: browser.all(
                    '[data-rule-id] dd [data-delivery-channel="WEBHOOK"][data-delivery-status="SENT"]'
                ),
                "the rule's last delivery",
            )
            # When they rotate the secret, a new one is shown, once
            await thread(
                browser.wait, lambda d: click(browser, '[data-action="rotate-secret"]'), "rotate"
            )
            await thread(
                browser.wait, lambda d: click(browser, '[data-confirm="rotate-secret"]'), "confirm"
            )
            rotated = await thread(
                browser.wait,
                lambda d: (e := browser.one("[data-webhook-secret]")).text.strip() and e,
                "the new secret",
            )
            assert rotated.text.strip().startswith("whsec_") and rotated.text.strip() != secret
            assert browser.log() == []
