"""Screenshots of each screen of the console, on a desktop and 375 px wide (`make screenshots`),
into docs/screenshots/, from the demo data seeded at a fixed anchor: regenerating them changes
a file only when the console or the demo data changed."""

from __future__ import annotations

import os
import sys
import time

from console_demo import ROOT, chrome, demo_gateway
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

OUT = ROOT / "docs" / "screenshots"
SIZES = {"desktop": (1280, 900), "375px": (375, 812)}
SCREENS = {
    "my-apps": "/console/",
    "app": None,  # the first app of My Apps
    "marketplace": "/console/marketplace",
    "app-log": "/console/log",
    "notifications": "/console/notifications",
    "inbox": "/console/inbox",
}


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    # Dates and numbers as the console formats them for a reader in UTC, in English.
    os.environ.update(TZ="UTC", LANGUAGE="en_US", LANG="en_US.UTF-8")
    with demo_gateway() as (base, token):
        driver = chrome()
        try:
            driver.get(f"{base}/console/#token={token}")
            wait = WebDriverWait(driver, 30)
            link = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "a[data-app-link]"))
            app_path = str(link.get_attribute("href")).removeprefix(base)
            for size, (width, height) in SIZES.items():
                driver.set_window_size(width, height)
                for name, path in SCREENS.items():
                    driver.get(base + (path or app_path))
                    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "main h1"))
                    # Live, so the header says so on every screenshot, and its data settled.
                    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".live-state--connected"))
                    time.sleep(2.0)
                    # The whole page, not only the window: Chromium's full-page capture.
                    full = driver.execute_script("return document.documentElement.scrollHeight")
                    driver.set_window_size(width, max(height, int(full)))
                    target = OUT / f"{name}-{size}.png"
                    driver.save_screenshot(str(target))
                    driver.set_window_size(width, height)
                    print(f"{target.relative_to(ROOT)}")
        finally:
            driver.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
