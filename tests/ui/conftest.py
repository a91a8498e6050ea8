"""A real headless Chromium (Debian's ``chromium`` and ``chromium-driver``, driven by
Selenium) for the tests of the emulator's web page; one browser for the whole session."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.tools import in_ci, require_tool

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--window-size=1280,860",
)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """A Selenium ``WebDriver`` on headless Chromium, with the browser console recorded."""
    require_tool("chromium", "chromedriver", why="the page's tests run a real browser")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        message = "selenium not installed (pip install -e '.[test]')"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    with tempfile.TemporaryDirectory(prefix="spectrum-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={profile}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        driver.set_page_load_timeout(20)
        driver.set_script_timeout(20)
        try:
            yield driver
        finally:
            driver.quit()


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where tests leave files for people to look at (screenshots):
    ``$SPECTRUM_TEST_ARTIFACTS`` or ``<pytest's temporary folder>/tmp/artifacts``."""
    chosen = os.environ.get("SPECTRUM_TEST_ARTIFACTS")
    folder = Path(chosen) if chosen else tmp_path_factory.getbasetemp() / "tmp" / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
