"""The console in a real browser (CONSOLE.md), against the gateway on PostgreSQL + Redis, as a
person uses it: signed in by the link `make run` prints, on a portal of the test's own, through
the hooks CONSOLE.md keeps stable. Every page is also held to two rules: it asks nothing of
another host, and it logs no error."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import pytest
import pytest_asyncio
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.auth import mint_token
from gateway.demo import ADMIN_EMAIL, MEMBER_EMAIL
from gateway.ids import to_global_id
from gateway.models import AppLogEntry, ConnectedApp, MarketplaceListing, NotificationRule
from gateway.models.enums import (
    AppActivity,
    InstallLevel,
    NotificationAudience,
    NotificationFrequency,
    NotificationType,
    Permission,
    SubscriptionTier,
)
from gateway.settings import Settings
from tests.browser_support import chrome, requested_urls
from tests.conftest import EVENTS_SECRET, REDIS_URL
from tests.factories import Tenant, install, make_listing, make_tenant, make_user, unique
from tests.helpers import data
from tests.live_support import free_port, post_event, signed, uvicorn_serving

pytestmark = [pytest.mark.browser, pytest.mark.one_executor]

GATEWAY = str(Path(sys.executable).parent / "gateway")

T = TypeVar("T")
WAIT = 20.0

MY_APPS = """
query { viewer { portal {
  appSummary { total connected disconnected errored updateAvailable upgradeAvailable }
  connectedApps(first: 50) { nodes { id status } }
} } }
"""


@pytest_asyncio.fixture
async def base(app: Starlette) -> AsyncIterator[str]:
    """The session's gateway (its broker started, on Redis), served by uvicorn."""
    async with uvicorn_serving(app) as url:
        yield url


class Browser:
    """One Chromium, and what every page it showed must satisfy."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.driver: Chrome = chrome()
        self.urls: list[str] = []

    def open(self, path: str, token: str | None = None) -> None:
        self.driver.get(self.base + path + (f"#token={token}" if token else ""))

    def wait(self, condition: Callable[[Chrome], T], what: str, timeout: float = WAIT) -> T:
        try:
            # A list re-rendered while it was read is read again.
            return WebDriverWait(
                self.driver, timeout, ignored_exceptions=(StaleElementReferenceException,)
            ).until(condition)
        except TimeoutException:
            shown = self.driver.execute_script("return document.body.innerText")[:2000]
            raise AssertionError(
                f"waited {timeout} s for {what} at {self.driver.current_url}; "
                f"console log: {self.log()}; page: {shown}"
            ) from None

    def all(self, css: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def one(self, css: str) -> WebElement:
        return self.wait(lambda d: d.find_element(By.CSS_SELECTOR, css), css)

    def rows(self) -> list[tuple[str, str]]:
        return [
            (str(r.get_attribute("data-app-id")), str(r.get_attribute("data-status")))
            for r in self.all("[data-app-id]")
        ]

    def summary(self) -> dict[str, int]:
        return {
            str(e.get_attribute("data-summary")): int(e.text)
            for e in self.all("[data-summary]")
            if e.text.strip().isdigit()
        }

    def log(self) -> list[str]:
        return [e["message"] for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]

    def close(self) -> list[str]:
        """Quit; the URLs of other hosts the pages asked for."""
        try:
            self.urls += requested_urls(self.driver)
        finally:
            self.driver.quit()
        return [
            url
            for url in self.urls
            if url.startswith(("http", "ws")) and urlsplit(url).hostname != "127.0.0.1"
        ]


@contextmanager
def browsing(base: str) -> Iterator[Browser]:
    browser = Browser(base)
    try:
        yield browser
    finally:
        elsewhere = browser.close()
    assert elsewhere == [], "the console asked another host"


async def thread(fn: Callable[..., T], *args: Any) -> T:
    return await asyncio.to_thread(fn, *args)


async def tenant_with_apps(settings: Settings, count: int = 12) -> Tenant:
    names = [f"Console app {i:02d}" for i in range(count)]
    return await make_tenant(
        settings,
        people={"Ada Admin": "admin", "Max Member": "member"},
        apps=names,
        installed_at=datetime.now(UTC) - timedelta(days=3),
    )


async def api(base: str, token: str, query: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base) as client:
        return await data(client, query, token=token)


async def test_signing_in_by_fragment_shows_my_apps_as_the_api_answers(base, settings) -> None:
    tenant = await tenant_with_apps(settings)
    token = tenant.token("Ada Admin")
    expected = (await api(base, token, MY_APPS))["viewer"]["portal"]
    with browsing(base) as browser:
        # when the person opens the link `make run` prints
        await thread(browser.open, "/console/", token)
        await thread(browser.wait, lambda d: len(browser.rows()) >= 12, "12 app rows")
        # then the token left the address bar for this tab's session storage
        assert "token" not in browser.driver.current_url
        stored = browser.driver.execute_script("return JSON.stringify(sessionStorage)")
        assert token in stored
        # and the rows are the API's apps, in its order, with its statuses
        apps = expected["connectedApps"]["nodes"]
        assert browser.rows() == [(a["id"], a["status"] or "") for a in apps]
        # and the summary is the API's
        await thread(browser.wait, lambda d: len(browser.summary()) == 6, "six summary counts")
        assert browser.summary() == expected["appSummary"]
        assert browser.log() == []


async def test_a_platform_event_turns_a_row_disconnected_live_and_back(base, settings) -> None:
    tenant = await tenant_with_apps(settings, 3)
    app_id = tenant.app_gid("Console app 01")
    row = f'[data-app-id="{app_id}"]'
    with browsing(base) as browser:
        await thread(browser.open, "/console/", tenant.token("Ada Admin"))
        await thread(browser.wait, lambda d: browser.summary().get("disconnected") == 0, "summary")
        await thread(browser.wait, lambda d: browser.all(row), "the app's row")
        for event, status, disconnected in (
            ("app.disconnected", "DISCONNECTED", 1),
            ("app.reconnected", "CONNECTED", 0),
        ):
            # when the platform reports the app disconnected (then reconnected)
            sent = await post_event(base, EVENTS_SECRET, event, tenant.gid, app_id)
            assert sent.status_code == 202, sent.text
            # then its row and the summary change in place, without a reload
            await thread(
                browser.wait,
                lambda d, s=status: browser.all(row)[0].get_attribute("data-status") == s,
                f"the row to say {status}",
            )
            await thread(
                browser.wait,
                lambda d, n=disconnected: browser.summary().get("disconnected") == n,
                f"{disconnected} disconnected in the summary",
            )
        assert browser.driver.execute_script("return performance.navigation.type") == 0
        assert browser.log() == []


def _action(browser: Browser, name: str) -> WebElement | None:
    found = browser.all(f'[data-action="{name}"]')
    return found[0] if found else None


def _click(browser: Browser, css: str) -> None:
    """Click the element once it is there, again if it was drawn anew meanwhile."""

    def clicked(_driver: Chrome) -> bool:
        found = browser.all(css)
        if found:
            found[0].click()
        return bool(found)

    browser.wait(clicked, f"to click {css}")


def _permitted(element: WebElement | None) -> bool:
    return (
        element is not None
        and element.is_enabled()
        and element.get_attribute("aria-disabled") != "true"
    )


async def test_members_get_no_uninstall_or_reauthorize_and_admins_do(base, settings) -> None:
    tenant = await tenant_with_apps(settings, 1)
    path = f"/console/apps/{tenant.app_gid()}"
    seen = {}
    for person in ("Max Member", "Ada Admin"):
        with browsing(base) as browser:
            await thread(browser.open, path, tenant.token(person))
            await thread(browser.wait, lambda d: browser.all("[data-action]"), "the app's actions")
            seen[person] = {
                name: _permitted(_action(browser, name)) for name in ("uninstall", "reauthorize")
            }
            assert browser.log() == []
    assert seen["Max Member"] == {"uninstall": False, "reauthorize": False}
    # reauthorizing needs an update to take: a freshly installed app has none
    assert seen["Ada Admin"] == {"uninstall": True, "reauthorize": False}


async def test_each_permission_shows_its_own_actions_and_names_what_others_need(
    base, settings
) -> None:
    # given an app with a scope to reauthorize, a listing not installed, and a person holding
    # one permission each
    tenant = await make_tenant(settings, people={"Ada Admin": "admin"})
    listing = await make_listing(
        "Scoped app",
        scopes=[
            ("basic.read", SubscriptionTier.FREE, True),
            ("extra.write", SubscriptionTier.FREE, False),
        ],
    )
    app = await install(tenant.portal, listing, tenant.people["Ada Admin"], grant=["basic.read"])
    other = await make_listing(unique("Not installed yet"))
    other_listing = f'[data-listing-id="{to_global_id("MarketplaceListing", other.id)}"]'
    tokens = {}
    for permission in Permission:
        user = await make_user(tenant.portal, permission.value.title(), permissions=[permission])
        tokens[permission] = mint_token(user, settings)
    seen = {}
    for permission, token in tokens.items():
        with browsing(base) as browser:
            # when each opens the app's page, the marketplace and the notifications
            await thread(
                browser.open, f"/console/apps/{to_global_id('ConnectedApp', app.id)}", token
            )
            await thread(browser.wait, lambda d: browser.all("[data-action=uninstall]"), "actions")
            actions = {n: _permitted(_action(browser, n)) for n in ("uninstall", "reauthorize")}
            page = browser.driver.find_element(By.TAG_NAME, "main").text
            await thread(browser.open, "/console/marketplace")
            search = await thread(browser.one, "#market-search")
            await thread(search.send_keys, other.name)
            button = await thread(browser.one, f"{other_listing} [data-action=install]")
            actions["install"] = _permitted(button)
            await thread(browser.open, "/console/notifications")
            actions["create-rule"] = _permitted(
                await thread(browser.one, '[data-action="create-rule"]')
            )
            seen[permission] = (actions, page)
            assert browser.log() == []
    # then each may take exactly its own actions
    allowed = {p: {a for a, ok in actions.items() if ok} for p, (actions, _page) in seen.items()}
    assert allowed == {
        Permission.INSTALL_APPS: {"install"},
        Permission.APPROVE_SCOPES: {"reauthorize"},
        Permission.UNINSTALL_APPS: {"uninstall"},
        Permission.MANAGE_NOTIFICATIONS: {"create-rule"},
    }
    # and the app page says which permission a disabled action needs
    assert "This needs the UNINSTALL_APPS permission." in seen[Permission.INSTALL_APPS][1]
    assert "This needs the APPROVE_SCOPES permission." in seen[Permission.UNINSTALL_APPS][1]


async def test_an_app_page_opened_by_its_link_survives_a_reload(base, settings) -> None:
    tenant = await tenant_with_apps(settings, 2)
    app_id = tenant.app_gid("Console app 01")
    with browsing(base) as browser:
        await thread(browser.open, "/console/", tenant.token("Ada Admin"))
        link = await thread(browser.one, f'[data-app-id="{app_id}"] a[data-app-link]')
        await thread(link.click)
        await thread(
            browser.wait, lambda d: d.current_url.endswith(f"/console/apps/{app_id}"), "the URL"
        )
        await thread(browser.wait, lambda d: "Console app 01" in browser.one("h1").text, "h1")
        # when the page is reloaded (the token is in this tab's session)
        await thread(browser.driver.refresh)
        # then the same app is shown
        await thread(browser.wait, lambda d: "Console app 01" in browser.one("h1").text, "h1")
        assert browser.driver.current_url.endswith(f"/console/apps/{app_id}")
        assert browser.log() == []


SCREENS = (
    "/console/",
    "/console/marketplace",
    "/console/log",
    "/console/notifications",
    "/console/inbox",
    "/console/people",
)


async def test_every_screen_fits_375_px_without_sideways_scrolling(base, settings) -> None:
    tenant = await tenant_with_apps(settings, 4)
    screens = [*SCREENS, f"/console/apps/{tenant.app_gid('Console app 01')}"]
    with browsing(base) as browser:
        browser.driver.set_window_size(375, 812)
        await thread(browser.open, "/console/", tenant.token("Ada Admin"))
        for path in screens:
            await thread(browser.open, path)
            await thread(browser.wait, lambda d: d.find_elements(By.CSS_SELECTOR, "main h1"), path)
            await asyncio.sleep(0.5)  # its data rendered
            overflow = browser.driver.execute_script(
                "const e = document.documentElement; return e.scrollWidth - e.clientWidth"
            )
            assert overflow <= 0, f"{path} scrolls sideways by {overflow} px"
        assert browser.log() == []


async def test_the_console_works_when_only_trusted_documents_run(
    gateway, settings, tmp_path
) -> None:
    manifest = tmp_path / "nothing.json"
    manifest.write_text("{}")
    tenant = await tenant_with_apps(settings, 2)
    async with (
        gateway(trusted_documents=(str(manifest),)) as trusted,
        uvicorn_serving(trusted) as url,
    ):
        with browsing(url) as browser:
            await thread(browser.open, "/console/", tenant.token("Ada Admin"))
            await thread(browser.wait, lambda d: len(browser.rows()) == 2, "two app rows")


async def test_an_expired_token_returns_to_the_sign_in_screen(base, settings) -> None:
    tenant = await tenant_with_apps(settings, 1)
    user = tenant.people["Ada Admin"]
    token = mint_token(user, settings, ttl=timedelta(seconds=5))
    with browsing(base) as browser:
        await thread(browser.open, "/console/", token)
        await thread(browser.wait, lambda d: browser.rows(), "the app's row")
        # when the token expires (the server closes the socket with 4403 at its expiry)
        # then the sign-in screen says why, and the token is forgotten
        await thread(
            browser.wait,
            lambda d: "Your session expired" in d.find_element(By.TAG_NAME, "main").text,
            "the sign-in screen",
        )
        assert browser.rows() == []
        stored = browser.driver.execute_script("return JSON.stringify(sessionStorage)")
        assert token not in stored


async def test_under_debug_the_sign_in_screen_offers_the_demo_users(app, demo, settings) -> None:
    for debug in (True, False):
        async with uvicorn_serving(create_app(settings.with_(debug=debug))) as url:
            with browsing(url) as browser:
                # when someone opens the console without a token
                await thread(browser.open, "/console/")
                await thread(browser.one, "textarea")  # the sign-in screen
                await asyncio.sleep(0.5)  # the demo users asked for
                offered = browser.all("[data-demo-user]")
                if not debug:
                    # then without debug only the token field is there
                    assert offered == []
                    continue
                # then under debug each demo user has a button, which signs in as them
                emails = [str(b.get_attribute("data-demo-user")) for b in offered]
                assert ADMIN_EMAIL in emails and MEMBER_EMAIL in emails
                await thread(offered[emails.index(ADMIN_EMAIL)].click)
                await thread(browser.wait, lambda d: len(browser.rows()) >= 10, "the demo apps")
                assert browser.log() == []


async def test_after_a_restart_the_console_reconnects_and_shows_what_changed(app, settings) -> None:
    tenant = await tenant_with_apps(settings, 2)
    app_id = tenant.app_gid("Console app 01")
    row = f'[data-app-id="{app_id}"]'
    port = free_port()

    def status() -> str | None:
        found = browser.all(row)
        return found[0].get_attribute("data-status") if found else None

    def live(d: Chrome) -> bool:
        return bool(browser.all(".live-state--connected"))

    with browsing(f"http://127.0.0.1:{port}") as browser:
        async with uvicorn_serving(app, port=port):
            await thread(browser.open, "/console/", tenant.token("Ada Admin"))
            await thread(browser.wait, lambda d: status() == "CONNECTED", "the row")
            await thread(browser.wait, live, "the live connection")
        # when the server goes away, and the app disconnects while nobody is told
        await ConnectedApp.filter(id=tenant.apps["Console app 01"].id).update(disconnected=True)
        await thread(browser.wait, lambda d: not live(d), "the connection lost")
        async with uvicorn_serving(app, port=port):
            # then once the server is back the console reconnects by itself and refetches
            await thread(browser.wait, live, "the connection again", 60)
            await thread(browser.wait, lambda d: status() == "DISCONNECTED", "the refetched row")
            # and live updates flow again
            sent = await post_event(
                f"http://127.0.0.1:{port}", EVENTS_SECRET, "app.reconnected", tenant.gid, app_id
            )
            assert sent.status_code == 202, sent.text
            await thread(browser.wait, lambda d: status() == "CONNECTED", "the live update")
        assert browser.driver.execute_script("return performance.navigation.type") == 0


async def test_text_from_the_api_is_shown_as_text_never_as_html(base, settings) -> None:
    name = '<img src="/x.png" data-injected>Bold <b data-injected>move</b>'
    listing = await make_listing(name, InstallLevel.MULTI_ACCOUNT)
    # and a listing's link that is not a web page
    await MarketplaceListing.filter(id=listing.id).update(
        manage_connections_url="javascript:document.title='owned'"
    )
    tenant = await make_tenant(settings, apps=[listing])
    with browsing(base) as browser:
        for path in ("/console/", f"/console/apps/{tenant.app_gid()}"):
            await thread(browser.open, path, tenant.token("Ada Admin"))
            await thread(
                browser.wait,
                lambda d: name in d.find_element(By.TAG_NAME, "main").text,
                "the name, as written",
            )
            assert browser.all("[data-injected]") == [], path
        # the link is there, leading nowhere
        manage = await thread(
            browser.wait,
            lambda d: d.find_element(By.LINK_TEXT, "Manage connections"),
            "the manage connections link",
        )
        assert manage.get_attribute("href") is None
        assert browser.all('[href^="javascript:"]') == []
        assert not any(url.endswith("/x.png") for url in requested_urls(browser.driver))
        assert browser.log() == []


CREATE_RULE = """
mutation ($input: CreateNotificationRuleInput!) {
  createNotificationRule(input: $input) { rule { id } userErrors { field message } }
}
"""
RULES = "query { viewer { portal { notificationRules(first: 50) { nodes { name } } } } }"


async def rule_names(base: str, token: str) -> list[str]:
    rules = (await api(base, token, RULES))["viewer"]["portal"]["notificationRules"]["nodes"]
    return sorted(r["name"] for r in rules)


def fill_rule_name(browser: Browser, name: str) -> None:
    """Type `name` into the rule form's field labelled "Name", and submit the form."""
    label = browser.wait(
        lambda d: d.find_element(
            By.XPATH, "//form[contains(@class, 'rule-form')]//label[normalize-space()='Name']"
        ),
        "the Name field",
    )
    field = browser.driver.find_element(By.ID, str(label.get_attribute("for")))
    field.clear()
    field.send_keys(name)
    browser.one('form.rule-form button[type="submit"]').click()


async def test_a_rule_form_shows_a_duplicate_name_on_its_field_then_saves(base, settings) -> None:
    tenant = await tenant_with_apps(settings, 1)
    token = tenant.token("Ada Admin")
    rule = {
        "name": "Ops alerts",
        "type": "APP_DISCONNECT",
        "frequency": "DAILY",
        "allApps": True,
        "audience": "SUPER_ADMINS",
        "channels": ["IN_APP"],
    }
    async with httpx.AsyncClient(base_url=base) as client:
        made = await data(client, CREATE_RULE, {"input": rule}, token=token)
    assert made["createNotificationRule"]["userErrors"] == []
    with browsing(base) as browser:
        await thread(browser.open, "/console/notifications", token)
        await thread(lambda: browser.one('[data-action="create-rule"]').click())
        # when a super admin creates a rule under a name the portal has already
        await thread(fill_rule_name, browser, "Ops alerts")
        # then the name field says so, and nothing was saved
        error = await thread(
            browser.wait,
            lambda d: (e := browser.one('[data-error-for="name"]')).text.strip() and e,
            "the name field's error",
        )
        assert "Ops alerts" in error.text or "name" in error.text.lower(), error.text
        assert await rule_names(base, token) == ["Ops alerts"]
        # when the name is changed
        await thread(fill_rule_name, browser, "Ops alerts, weekly")
        # then the rule is saved and listed
        await thread(
            browser.wait,
            lambda d: any("Ops alerts, weekly" in r.text for r in browser.all("[data-rule-id]")),
            "the new rule in the list",
        )
        assert await rule_names(base, token) == ["Ops alerts", "Ops alerts, weekly"]
        assert browser.log() == []


CUT = datetime(2026, 6, 15, tzinfo=UTC)


async def test_the_inbox_badge_counts_a_digest_a_worker_pass_makes_until_it_is_read(
    base, settings
) -> None:
    tenant = await tenant_with_apps(settings, 1)
    (app,) = tenant.apps.values()
    await NotificationRule.create(
        portal=tenant.portal,
        name="Disconnects",
        sort_name="disconnects",
        type=NotificationType.APP_DISCONNECT,
        frequency=NotificationFrequency.DAILY,
        all_apps=True,
        audience=NotificationAudience.SUPER_ADMINS,
        email=False,
        in_app=True,
        created_at=CUT,
        updated_at=CUT,
        cut_at=CUT,
    )
    await AppLogEntry.create(
        portal=tenant.portal,
        app=app,
        activity=AppActivity.DISCONNECTED,
        occurred_at=CUT + timedelta(hours=9),
        recorded_at=CUT + timedelta(hours=9),
    )
    badge = "[data-unread-count]"
    with browsing(base) as browser:
        await thread(browser.open, "/console/", tenant.token("Ada Admin"))
        await thread(
            browser.wait,
            lambda d: browser.one(badge).get_attribute("data-unread-count") == "0",
            "0",
        )
        # when a worker pass makes the day's digest
        await thread(worker_pass, settings, CUT + timedelta(days=1, minutes=5), tenant.gid)
        # then the badge goes up, live
        await thread(
            browser.wait,
            lambda d: browser.one(badge).get_attribute("data-unread-count") == "1",
            "1",
        )
        # and when the digest is marked read in the inbox, it goes down
        await thread(browser.open, "/console/inbox")
        await thread(lambda: browser.one('[data-action="mark-read"]:not([disabled])').click())
        await thread(
            browser.wait,
            lambda d: browser.one(badge).get_attribute("data-unread-count") == "0",
            "0",
        )
        assert browser.log() == []


def worker_pass(settings: Settings, now: datetime, portal: str) -> str:
    """`gateway worker --once` against the session's database, publishing through Redis."""
    env = {
        **os.environ,
        "GATEWAY_DATABASE_URL": settings.database_url,
        "GATEWAY_REDIS_URL": REDIS_URL or "",
        "GATEWAY_JWT_SECRET": settings.jwt_secret or "",
        "GATEWAY_EVENTS_SECRET": settings.events_secret or "",
    }
    done = subprocess.run(
        [GATEWAY, "worker", "--once", "--now", now.isoformat(), "--portal", portal],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


ATTENTION = """query { viewer { portal {
  connectedApps(first: 50, filter: { needsAttention: true }) { nodes { id } } } } }"""


async def test_an_alert_is_acknowledged_with_a_note_and_leaves_needs_attention(
    base, settings
) -> None:
    # given an app the platform reported broken: an open alert and its entry in the log
    tenant = await tenant_with_apps(settings, 2)
    app_id = tenant.app_gid("Console app 01")
    alert = {"severity": "ERROR", "code": "sync_failed", "message": "Sync failed: quota"}
    sent = await post_event(base, EVENTS_SECRET, "app.error", tenant.gid, app_id, alert=alert)
    assert sent.status_code == 202, sent.text
    token = tenant.token("Ada Admin")
    assert (await api(base, token, ATTENTION))["viewer"]["portal"]["connectedApps"]["nodes"] == [
        {"id": app_id}
    ]
    with browsing(base) as browser:
        # when an admin opens the app, reads why in its log, and acknowledges the alert
        await thread(browser.open, f"/console/apps/{app_id}", token)
        reason = await thread(browser.one, '[data-alert-reason="sync_failed"]')
        assert reason.text == "Error sync_failed: Sync failed: quota"
        await thread(browser.one, '[data-alert-code="sync_failed"] [data-action=acknowledge]')
        await thread(_action(browser, "acknowledge").click)  # type: ignore[union-attr]
        note = await thread(browser.one, 'input[name="note"]')
        await thread(note.send_keys, "Vendor is raising our quota")
        await thread((await thread(browser.one, "[data-confirm=acknowledge]")).click)
        # then the alert says who acknowledged it and why, and the app stays in error
        done = await thread(browser.one, "[data-acknowledged]")
        assert "Acknowledged by Ada Admin" in done.text
        assert "Vendor is raising our quota" in done.text
        assert browser.one("[data-status]").get_attribute("data-status") == "ERROR"
        assert browser.log() == []
    # and the app no longer needs attention
    assert (await api(base, token, ATTENTION))["viewer"]["portal"]["connectedApps"]["nodes"] == []


REQUESTS = """query ($status: InstallRequestStatus) { viewer { portal {
  installRequests(first: 10, status: $status) {
    nodes { id status decisionNote listing { name } app { id name } } }
  connectedApps(first: 50) { nodes { id name } } } } }"""
REQUEST_APP = """mutation ($input: RequestAppInstallInput!) {
  requestAppInstall(input: $input) { request { id } userErrors { field message } } }"""
PERMISSIONS_OF = "query ($id: ID!) { node(id: $id) { ... on User { permissions } } }"


async def requests_seen(base: str, token: str, status: str | None = None) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base) as client:
        return (await data(client, REQUESTS, {"status": status}, token=token))["viewer"]["portal"]


def in_row(browser: Browser, row: str, css: str) -> WebElement:
    return browser.one(f"{row} {css}")


def status_of(browser: Browser, row: str) -> str | None:
    found = browser.all(row)
    return found[0].get_attribute("data-request-status") if found else None


async def people_tenant(settings: Settings) -> Tenant:
    return await make_tenant(
        settings,
        people={"Ada Admin": "admin", "Rita Reviewer": "manager", "Max Member": "member"},
    )


async def test_a_member_requests_an_app_and_a_reviewer_approves_it_on_people(
    base, settings
) -> None:
    tenant = await people_tenant(settings)
    listing = await make_listing(unique("Requested app"))
    card = f'[data-listing-id="{to_global_id("MarketplaceListing", listing.id)}"]'
    reviewer = tenant.token("Rita Reviewer")
    with browsing(base) as member, browsing(base) as review:
        # when a member without INSTALL_APPS asks for the app from the Marketplace
        await thread(member.open, "/console/marketplace", tenant.token("Max Member"))
        search = await thread(member.one, "#market-search")
        await thread(search.send_keys, listing.name)
        # (the list is drawn again as the search narrows it: act once it shows this one only)
        await thread(
            member.wait, lambda d: len(member.all("[data-listing-id]")) == 1, "the search's result"
        )
        install = f"{card} [data-action=install]"
        await thread(
            member.wait,
            lambda d: member.all(install) and not _permitted(member.all(install)[0]),
            "install offered disabled",
        )
        await thread(_click, member, f"{card} [data-action=request]")
        why = await thread(member.one, f'{card} textarea[name="justification"]')
        await thread(why.send_keys, "Our sales team needs it for the Q3 campaign")
        await thread(lambda: member.one(f"{card} [data-confirm=request]").click())
        # then the card says it waits for review, with a cancel action
        pending = await thread(member.one, f"{card} [data-pending-request]")
        assert "Requested — pending review" in pending.text
        cancel = f"{card} [data-action=cancel-request]"
        await thread(
            member.wait,
            lambda d: member.all(cancel) and _permitted(member.all(cancel)[0]),
            "cancel offered",
        )
        (request,) = (await requests_seen(base, reviewer, "PENDING"))["installRequests"]["nodes"]
        row = f'[data-request-id="{request["id"]}"]'
        # when a reviewer opens People, sees the pending request and approves it
        await thread(review.open, "/console/people", reviewer)
        await thread(review.wait, lambda d: status_of(review, row) == "PENDING", "the request")
        text = await thread(lambda: review.one(row).text)
        assert "Max Member" in text and "Q3 campaign" in text and listing.name in text
        await thread(lambda: in_row(review, row, "[data-action=approve]").click())
        await thread(lambda: in_row(review, row, "[data-confirm=approve]").click())
        await thread(review.wait, lambda d: status_of(review, row) == "APPROVED", "APPROVED")
        # then the app is installed and the request approved
        seen = await requests_seen(base, reviewer)
        assert listing.name in [a["name"] for a in seen["connectedApps"]["nodes"]]
        (approved,) = seen["installRequests"]["nodes"]
        assert approved["status"] == "APPROVED" and approved["app"]["name"] == listing.name
        # and the requester's Marketplace says so, live, then after a reload lists it no more
        await thread(member.one, f'{card} [data-request-outcome="APPROVED"]')
        await thread(member.open, "/console/marketplace")
        await thread(member.wait, lambda d: status_of(member, row) == "APPROVED", "their request")
        assert "Open " + listing.name in await thread(lambda: member.one(row).text)
        await thread(lambda: member.one("#market-search").send_keys(listing.name))
        await thread(member.wait, lambda d: "No listings match." in member.one("main").text, "it")
        assert member.log() == [] and review.log() == []


async def test_a_denial_needs_a_note_and_the_requester_reads_it(base, settings) -> None:
    tenant = await people_tenant(settings)
    listing = await make_listing(unique("Denied app"))
    async with httpx.AsyncClient(base_url=base) as client:
        asked = await data(
            client,
            REQUEST_APP,
            {
                "input": {
                    "listingId": to_global_id("MarketplaceListing", listing.id),
                    "justification": "For the support team",
                }
            },
            token=tenant.token("Max Member"),
        )
    request_id = asked["requestAppInstall"]["request"]["id"]
    row = f'[data-request-id="{request_id}"]'
    reviewer = tenant.token("Rita Reviewer")
    with browsing(base) as browser:
        await thread(browser.open, "/console/people", reviewer)
        await thread(browser.wait, lambda d: status_of(browser, row) == "PENDING", "the request")
        # when the reviewer denies it without a note
        await thread(lambda: in_row(browser, row, "[data-action=deny]").click())
        await thread(lambda: in_row(browser, row, "[data-confirm=deny]").click())
        # then the note field says it is needed, and nothing changed
        error = await thread(
            browser.wait,
            lambda d: (e := in_row(browser, row, '[data-error-for="note"]')).text.strip() and e,
            "the note's error",
        )
        assert "note" in error.text.lower(), error.text
        assert (await requests_seen(base, reviewer))["installRequests"]["nodes"][0][
            "status"
        ] == "PENDING"
        # when a note is written
        note = await thread(in_row, browser, row, 'textarea[name="note"]')
        await thread(note.send_keys, "We already use another helpdesk")
        await thread(lambda: in_row(browser, row, "[data-confirm=deny]").click())
        await thread(browser.wait, lambda d: status_of(browser, row) == "DENIED", "DENIED")
        assert browser.log() == []
    # then the requester sees it denied, with the note
    with browsing(base) as browser:
        await thread(browser.open, "/console/people?status=DENIED", tenant.token("Max Member"))
        await thread(browser.wait, lambda d: status_of(browser, row) == "DENIED", "their request")
        decision = await thread(in_row, browser, row, "[data-decision]")
        assert "Rita Reviewer" in decision.text
        assert "We already use another helpdesk" in decision.text
        assert browser.all(f"{row} [data-action]") == []
        assert browser.log() == []
    (denied,) = (await requests_seen(base, reviewer))["installRequests"]["nodes"]
    assert denied["status"] == "DENIED"
    assert denied["decisionNote"] == "We already use another helpdesk"


async def test_a_super_admin_changes_a_members_permissions_on_people(base, settings) -> None:
    tenant = await people_tenant(settings)
    token = tenant.token("Ada Admin")
    gid = {name: to_global_id("User", user.id) for name, user in tenant.people.items()}
    member = f'[data-user-id="{gid["Max Member"]}"]'
    with browsing(base) as browser:
        await thread(browser.open, "/console/people", token)
        await thread(browser.one, f"{member} [data-action=save-permissions]")
        # their own row and a super admin's cannot be changed; a member's can
        own = await thread(in_row, browser, f'[data-user-id="{gid["Ada Admin"]}"]', "button")
        assert not _permitted(own)
        assert "your own permissions" in browser.one(f'[data-user-id="{gid["Ada Admin"]}"]').text
        for value in ("INSTALL_APPS", "MANAGE_NOTIFICATIONS"):
            box = await thread(in_row, browser, member, f'input[name=permission][value="{value}"]')
            assert not box.is_selected() and box.is_enabled()
            await thread(box.click)
        # when the super admin saves them
        await thread(lambda: in_row(browser, member, "[data-action=save-permissions]").click())
        # then the row says who changed them, and the API has them
        await thread(
            browser.wait,
            lambda d: "by Ada Admin" in in_row(browser, member, "[data-permissions-changed]").text,
            "who changed them",
        )
        assert browser.log() == []
    async with httpx.AsyncClient(base_url=base) as client:
        held = await data(client, PERMISSIONS_OF, {"id": gid["Max Member"]}, token=token)
    assert sorted(held["node"]["permissions"]) == ["INSTALL_APPS", "MANAGE_NOTIFICATIONS"]


async def test_my_apps_shows_usage_and_the_unused_filter_keeps_the_unused_app(
    base, settings
) -> None:
    # Given an app in daily use, one installed yesterday, and one installed long ago and never used
    now = datetime.now(UTC)
    tenant = await make_tenant(
        settings,
        apps=["Busy Usage App", "Dormant Usage App"],
        installed_at=now - timedelta(days=200),
    )
    tenant.apps["Fresh Usage App"] = await install(
        tenant.portal, await make_listing("Fresh Usage App"), None, now - timedelta(days=1)
    )
    busy = tenant.app_gid("Busy Usage App")
    for back, calls in ((0, 30), (1, 80), (6, 5)):
        day = (now - timedelta(days=back)).date().isoformat()
        sent = await post_event(
            base, EVENTS_SECRET, "app.usage", tenant.gid, busy, day=day, calls=calls, errors=1
        )
        assert sent.status_code == 202, sent.text
    with browsing(base) as browser:
        await thread(browser.open, "/console/", tenant.token("Ada Admin"))
        await thread(browser.wait, lambda d: len(browser.rows()) == 3, "three app rows")
        # Then each row says when it was last used and draws its 30 days
        busy_row = await thread(browser.one, f'[data-app-id="{busy}"]')
        used = busy_row.find_element(By.CSS_SELECTOR, "[data-last-used]")
        found = await api(base, tenant.token("Ada Admin"), USAGE_OF)
        expected = found["viewer"]["portal"]["connectedApps"]["nodes"][0]
        assert used.get_attribute("data-last-used") == expected["lastUsedAt"]
        chart = busy_row.find_element(By.CSS_SELECTOR, "svg[data-usage-sparkline]")
        assert chart.get_attribute("data-calls") == "115"
        points = chart.find_element(By.CSS_SELECTOR, "polyline").get_attribute("points")
        assert len(str(points).split()) == 30
        dormant = await thread(
            browser.one, f'[data-app-id="{tenant.app_gid("Dormant Usage App")}"]'
        )
        assert dormant.find_element(By.CSS_SELECTOR, "[data-last-used]").text == "Never used"
        # When the "Unused for 90 days" filter is on, only the dormant app is left
        await thread((await thread(browser.one, "[data-filter=unused]")).click)
        await thread(
            browser.wait,
            lambda d: browser.rows() == [(tenant.app_gid("Dormant Usage App"), "CONNECTED")],
            "only the dormant app",
        )
        assert "unused=1" in browser.driver.current_url
        # And the App page shows the usage in words
        await thread(browser.open, f"/console/apps/{busy}")
        words = await thread(browser.one, "[data-usage-words]")
        assert (words.get_attribute("data-calls"), words.get_attribute("data-errors")) == (
            "115",
            "3",
        )
        assert browser.all("[data-usage] svg[data-usage-sparkline]")
        assert browser.log() == []


USAGE_OF = """{ viewer { portal { connectedApps(first: 1, filter: {search: "busy usage"}) {
  nodes { lastUsedAt } } } } }"""


async def test_the_log_shows_scope_diffs_and_the_app_page_what_a_reauthorize_would_do(
    base, settings
) -> None:
    # given an app holding basic.read and old.write, whose listing then stops requesting
    # old.write and starts requesting extra.write (the platform reports the new list)
    tenant = await make_tenant(settings, people={"Ada Admin": "admin"})
    listing = await make_listing(
        unique("Rescoped"),
        scopes=[
            ("basic.read", SubscriptionTier.FREE, True),
            ("old.write", SubscriptionTier.FREE, False),
        ],
    )
    app = await install(
        tenant.portal, listing, tenant.people["Ada Admin"], grant=["basic.read", "old.write"]
    )
    app_id = to_global_id("ConnectedApp", app.id)
    scopes = [
        {"name": n, "description": n, "requiredTier": "FREE", "required": n == "basic.read"}
        for n in ("basic.read", "extra.write")
    ]
    body = {
        "id": unique("event"),
        "type": "listing.scopes_changed",
        "occurredAt": datetime.now(UTC).isoformat(),
        "listingId": to_global_id("MarketplaceListing", listing.id),
        "scopes": scopes,
    }
    raw, headers = signed(body, EVENTS_SECRET)
    async with httpx.AsyncClient() as client:
        sent = await client.post(f"{base}/events", content=raw, headers=headers)
    assert sent.status_code == 202, sent.text
    with browsing(base) as browser:
        # when an admin opens the app's page
        await thread(browser.open, f"/console/apps/{app_id}", tenant.token("Ada Admin"))
        # then the Reauthorize action says what it would do
        pending = await thread(browser.one, "[data-pending-scope-changes]")
        assert pending.text == "Reauthorizing will add extra.write, and remove old.write."
        # and the log shows the listing's change, added and removed each in their own words
        diff = await thread(browser.one, "[data-scope-changes]")
        added = diff.find_element(By.CSS_SELECTOR, "[data-scope-added]")
        removed = diff.find_element(By.CSS_SELECTOR, "[data-scope-removed]")
        assert (added.text, removed.text) == ("Added: extra.write", "Removed: old.write")
        assert added.get_attribute("class") != removed.get_attribute("class")
        # when they reauthorize
        await thread(_action(browser, "reauthorize").click)  # type: ignore[union-attr]
        await thread((await thread(browser.one, "[data-confirm=reauthorize]")).click)
        # then the REAUTHORIZED entry shows what it granted and dropped, and nothing is pending
        await thread(
            browser.wait, lambda d: len(browser.all("[data-scope-changes]")) >= 2, "two diffs"
        )
        await thread(
            browser.wait, lambda d: not browser.all("[data-pending-scope-changes]"), "no pending"
        )
        texts = [e.text for e in browser.all("[data-scope-changes]")]
        assert texts.count("Added: extra.write Removed: old.write") == 2, texts
        assert browser.log() == []
