"""Debian's headless Chromium for the browser tests, the dashboard benchmark and the
screenshots: one set of flags, one way of finding the driver and the binary."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage")
# The binary itself, not Debian's wrapper script (which adds its own flags and noise).
CHROMIUM = "/usr/lib/chromium/chromium"


class BrowserMissing(RuntimeError):
    pass


def chrome(profile: Path, width: int = 1920, height: int = 1080, *, phone: bool = False,
           exact_viewport: bool = False, page_load_timeout: float = 30, extra: tuple[str, ...] = ()):
    """A Chromium WebDriver with its own profile directory. `phone`: mobile emulation at
    width x height (pixel ratio 3); `exact_viewport`: the page is exactly width x height (headless
    Chromium otherwise takes its window frame off the window size). Browser logs are kept."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    driver_path = shutil.which("chromedriver")
    if not driver_path:
        raise BrowserMissing("chromedriver is missing: make browser-deps installs chromium and chromium-driver")
    opts = webdriver.ChromeOptions()
    for flag in (*CHROME_FLAGS, *extra):
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={profile}")
    if phone:
        opts.add_experimental_option("mobileEmulation",
                                     {"deviceMetrics": {"width": width, "height": height, "pixelRatio": 3}})
    else:
        opts.add_argument(f"--window-size={width},{height}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    binary = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    if binary:
        opts.binary_location = binary
    driver = webdriver.Chrome(service=Service(driver_path), options=opts)
    driver.set_page_load_timeout(page_load_timeout)
    if exact_viewport:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 800})
    return driver
