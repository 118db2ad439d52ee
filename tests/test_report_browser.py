"""report.html in a real browser (Debian's headless Chromium), as a reader opens it.

The first screen (1400x900) must show the headline figure and the sentences; the tables must be
there; the console must show no errors. Skips with the reason where Chromium or its driver is
not installed (./dev installs both).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

SCREEN = (1400, 900)
CHROMIUM = ("chromium", "/usr/bin/chromium")
DRIVER = "/usr/bin/chromedriver"


def _browser_missing() -> str | None:
    if not any(shutil.which(c) for c in CHROMIUM):
        return "Chromium is not installed (apt-get install chromium, or run through ./dev)"
    if not Path(DRIVER).is_file():
        return "chromedriver is not installed (apt-get install chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (the test extra of pyproject.toml)"
    return None


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory):
    reason = _browser_missing()
    if reason:
        pytest.skip(reason)
    from report_fixture import build_run
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    from closebench.report import render_report

    run_dir = build_run(tmp_path_factory.mktemp("browser") / "20251009-085319-compare")
    html = render_report(run_dir, log=lambda _m: None)["html"]
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.add_argument(f"--window-size={SCREEN[0]},{SCREEN[1]}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        driver.set_window_size(*SCREEN)
        driver.get(html.as_uri())
        yield driver
    finally:
        driver.quit()


def _in_first_screen(driver, element) -> bool:
    top = driver.execute_script("return arguments[0].getBoundingClientRect().top;", element)
    height = driver.execute_script("return window.innerHeight;")
    return element.is_displayed() and 0 <= top < height


def test_first_screen_shows_the_headline_figure(page) -> None:
    from selenium.webdriver.common.by import By

    figure = page.find_element(
        By.CSS_SELECTOR, 'img[alt="Which stacks close badly, and how sure we are"]'
    )
    assert _in_first_screen(page, figure)
    loaded = page.execute_script(
        "return arguments[0].complete && arguments[0].naturalWidth > 0;", figure
    )
    assert loaded, "the headline figure did not decode"


def test_first_screen_says_it_in_words(page) -> None:
    from selenium.webdriver.common.by import By

    answer = page.find_element(By.CSS_SELECTOR, "ul.cb-answer")
    assert _in_first_screen(page, answer)
    items = answer.find_elements(By.TAG_NAME, "li")
    assert 1 <= len(items) <= 6 and all(i.text.strip() for i in items)


def test_tables_are_there_and_long_material_is_folded(page) -> None:
    from selenium.webdriver.common.by import By

    assert len(page.find_elements(By.CSS_SELECTOR, "table.cb")) >= 5
    folded = page.find_elements(By.CSS_SELECTOR, "details.cb")
    assert folded and not any(d.get_attribute("open") for d in folded[:1])


def test_console_has_no_errors(page) -> None:
    errors = [e for e in page.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []


def test_first_screen_says_where_the_timing_band_stands(page) -> None:
    from selenium.webdriver.common.by import By

    # the fixture's chip variants record no device speed: host speed, so no band (issue 25)
    notes = [
        n for n in page.find_elements(By.CSS_SELECTOR, "div.cb-note") if "timing band" in n.text
    ]
    assert notes and _in_first_screen(page, notes[0])
    assert "host speed (faster than any chip)" in notes[0].text
