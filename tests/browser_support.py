"""Driving Debian's chromium through chromium-driver (Selenium), kept to this machine: a
request to any other host fails instead of leaving it, and every request is recorded."""

from __future__ import annotations

import json
import shutil
from typing import Any

from selenium import webdriver


def chrome() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        # Only this machine answers: a request to another host fails here, and is recorded.
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver"))
    return webdriver.Chrome(options=options, service=service)


def requested_urls(driver: webdriver.Chrome) -> list[str]:
    """Every URL the page asked for since the last call (the driver's performance log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message: dict[str, Any] = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls
