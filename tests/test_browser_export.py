"""The App log's Export control in a real browser (Chromium through chromium-driver), against
the gateway on PostgreSQL + Redis: with filters chosen on the screen, the file Chromium
downloads holds exactly the entries `appLog` gives for those filters."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import pytest_asyncio
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait
from starlette.applications import Starlette

from gateway import models as m
from gateway.ids import to_global_id
from gateway.models.enums import AppActivity
from gateway.services.export import COLUMNS, neutralised
from tests.browser_support import chrome
from tests.factories import T0, make_tenant
from tests.helpers import data
from tests.live_support import uvicorn_serving

pytestmark = [pytest.mark.browser, pytest.mark.one_executor]

T = TypeVar("T")
WAIT = 20.0

LOG = """
query Log($filter: AppLogFilter, $after: String) { viewer { portal {
  appLog(first: 100, after: $after, filter: $filter) {
    pageInfo { hasNextPage endCursor }
    nodes { id occurredAt activity app { id name } user { id name email }
            scopeChanges { added removed } alertReason { code severity message } }
} } } }"""


@pytest_asyncio.fixture
async def base(app: Starlette) -> AsyncIterator[str]:
    async with uvicorn_serving(app) as url:
        yield url


async def thread(fn: Callable[..., T], *args: Any) -> T:
    """Selenium blocks: it runs beside the event loop that serves the gateway."""
    return await asyncio.to_thread(fn, *args)


def wait(driver: Chrome, condition: Callable[[Chrome], T], what: str) -> T:
    try:
        return WebDriverWait(
            driver, WAIT, ignored_exceptions=(StaleElementReferenceException,)
        ).until(condition)
    except TimeoutException:
        shown = driver.execute_script("return document.body.innerText")[:2000]
        raise AssertionError(f"waited {WAIT} s for {what}; page: {shown}") from None


def downloaded(folder: Path) -> Callable[[Chrome], Path | None]:
    """The one finished download in `folder` (Chromium writes `.crdownload` until done)."""

    def check(_driver: Chrome) -> Path | None:
        files = [p for p in folder.iterdir() if not p.name.endswith(".crdownload")]
        partial = [p for p in folder.iterdir() if p.name.endswith(".crdownload")]
        return files[0] if len(files) == 1 and not partial else None

    return check


async def _app_log(base: str, token: str, flt: dict[str, Any]) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    after = None
    async with httpx.AsyncClient(base_url=base) as client:
        while True:
            page = (await data(client, LOG, {"filter": flt, "after": after}, token=token))[
                "viewer"
            ]["portal"]["appLog"]
            nodes += page["nodes"]
            if not page["pageInfo"]["hasNextPage"]:
                return nodes
            after = page["pageInfo"]["endCursor"]


def _cells(node: dict[str, Any]) -> dict[str, Any]:
    """The export's row for an `appLog` node, but for `recorded_at` (not in the API)."""
    user, change, reason = node["user"], node["scopeChanges"], node["alertReason"]
    return {
        "occurred_at": node["occurredAt"],
        "activity": node["activity"],
        "app_id": node["app"]["id"],
        "app_name": node["app"]["name"],
        "user_id": user and user["id"],
        "user_name": user and user["name"],
        "user_email": user and user["email"],
        "scopes_added": change and change["added"],
        "scopes_removed": change and change["removed"],
        "alert_code": reason and reason["code"],
        "alert_severity": reason and reason["severity"],
        "alert_message": reason and reason["message"],
    }


def _as_csv(row: dict[str, Any]) -> dict[str, str]:
    return {
        k: "" if v is None else neutralised(" ".join(v) if isinstance(v, list) else v)
        for k, v in row.items()
    }


async def test_the_export_control_downloads_the_filtered_log(base, settings, tmp_path) -> None:
    # given a portal whose log has entries of several apps, people and activities
    tenant = await make_tenant(
        settings, people={"Ada Admin": "admin", "Bo Member": "member"}, apps=["=Ledger", "Mailer"]
    )
    ledger, mailer = tenant.apps["=Ledger"], tenant.apps["Mailer"]
    bo = tenant.people["Bo Member"]
    for i in range(40):
        await m.AppLogEntry.create(
            portal_id=tenant.portal.id,
            app=ledger if i % 3 else mailer,
            user=bo if i % 2 else None,
            activity=AppActivity.REAUTHORIZED if i % 4 else AppActivity.DISCONNECTED,
            occurred_at=T0 + timedelta(hours=i),
            recorded_at=T0 + timedelta(hours=i, seconds=5),
        )
    entry = await m.AppLogEntry.filter(app=ledger, activity=AppActivity.REAUTHORIZED).first()
    assert entry is not None
    await m.LoggedScopeChange.create(entry=entry, added=["books.read"], removed=["old.write"])
    token = tenant.token("Bo Member")  # anyone who reads the log may export it
    flt = {"activities": ["REAUTHORIZED"], "appIds": [to_global_id("ConnectedApp", ledger.id)]}
    expected = [_cells(n) for n in await _app_log(base, token, flt)]
    assert 10 < len(expected) < 40

    for fmt in ("CSV", "NDJSON"):
        folder = tmp_path / fmt
        folder.mkdir()
        driver = await thread(chrome)
        try:
            await thread(
                driver.execute_cdp_cmd,
                "Browser.setDownloadBehavior",
                {"behavior": "allow", "downloadPath": str(folder)},
            )
            # when Bo opens the App log and filters it to Ledger's reauthorizations
            await thread(driver.get, f"{base}/console/log#token={token}")
            await thread(
                wait, driver, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-log-id]"), "rows"
            )
            box = await thread(
                driver.find_element, By.CSS_SELECTOR, "input[name=activity][value=REAUTHORIZED]"
            )
            await thread(box.click)
            app_select = await thread(driver.find_element, By.CSS_SELECTOR, "select[name=app]")
            await thread(
                wait,
                driver,
                lambda d, select=app_select: len(Select(select).options) > 2,
                "the apps to filter by",
            )
            await thread(Select(app_select).select_by_visible_text, "=Ledger")
            await thread(
                wait,
                driver,
                lambda d: len(d.find_elements(By.CSS_SELECTOR, "[data-log-id]")) == len(expected),
                "the filtered rows",
            )
            # and exports them in this format
            chooser = await thread(driver.find_element, By.CSS_SELECTOR, "[data-export-format]")
            await thread(Select(chooser).select_by_value, fmt)
            button = await thread(driver.find_element, By.CSS_SELECTOR, "[data-action=export]")
            await thread(button.click)
            # then the browser downloads the file, named after the portal, with those entries
            path = await thread(wait, driver, downloaded(folder), "the download")
            await thread(
                wait,
                driver,
                lambda d, fmt=fmt: d.find_elements(By.CSS_SELECTOR, f"[data-export-started={fmt}]"),
                "the export's status",
            )
            severe = [e for e in await thread(driver.get_log, "browser") if e["level"] == "SEVERE"]
            assert severe == []
        finally:
            await thread(driver.quit)
        assert path.name.startswith("app-log-portal-") and path.suffix == f".{fmt.lower()}"
        raw = path.read_bytes()
        if fmt == "CSV":
            assert raw.startswith(b"\xef\xbb\xbf")  # for spreadsheet programs
            reader = csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline=""))
            assert reader.fieldnames == list(COLUMNS)
            rows = list(reader)
            assert [{k: r[k] for k in r if k != "recorded_at"} for r in rows] == [
                _as_csv(e) for e in expected
            ]
            assert rows[0]["app_name"] == "'=Ledger"
        else:
            rows = [json.loads(line) for line in raw.decode().splitlines()]
            assert [{k: r[k] for k in r if k != "recorded_at"} for r in rows] == expected
        assert all(r["recorded_at"] for r in rows)
        assert any(r["scopes_added"] in ("books.read", ["books.read"]) for r in rows)
