"""GraphiQL, opened in a real browser on a machine cut off from every other host, renders
from the gateway's own files (CONSOLE.md: "serve its assets ourselves")."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.settings import Settings
from tests.browser_support import chrome, requested_urls
from tests.live_support import uvicorn_serving

pytestmark = [pytest.mark.browser, pytest.mark.one_executor]


def open_graphiql(base: str) -> tuple[list[str], bool, list[str]]:
    """(every URL requested, whether GraphiQL's editor rendered, the console's errors)."""
    driver = chrome()
    try:
        driver.get(f"{base}/graphql")
        rendered = True
        try:
            WebDriverWait(driver, 30).until(
                expected_conditions.presence_of_element_located(
                    (By.CSS_SELECTOR, ".graphiql-container .graphiql-editor")
                )
            )
        except Exception:
            rendered = False
        errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        return requested_urls(driver), rendered, errors
    finally:
        driver.quit()


async def test_graphiql_renders_offline_from_the_gateways_own_files(
    app: Starlette, settings: Settings
) -> None:
    # given a gateway in debug mode, and a browser that can reach no other host
    debug = create_app(settings.with_(debug=True))
    async with uvicorn_serving(debug) as base:
        # when GraphiQL is opened
        urls, rendered, errors = await asyncio.to_thread(open_graphiql, base)
    # then its editor rendered, from files the gateway served (their integrity hashes held)
    assert rendered, errors
    assert any("/graphiql/graphiql@" in url and url.endswith(".js") for url in urls), urls
    assert not [e for e in errors if "integrity" in e.lower()], errors
    # and the page asked nothing of another host
    elsewhere = [u for u in urls if u.startswith("http") and urlsplit(u).hostname != "127.0.0.1"]
    assert elsewhere == []
