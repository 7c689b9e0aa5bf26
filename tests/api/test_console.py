"""The auditors' console in a real headless Chromium (Debian's, driven by Selenium through its
chromedriver: no browser download), against `uvicorn` serving the real app on loopback.

Acme: Bob is the admin, Ada an auditor, Alice a member with an upload mailbox. Screenshots of
each page go to $MAILTRAIL_TEST_ARTIFACTS (default var/test-artifacts/console)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TEST_MASTER_KEY
from tests.support.dsl import Member, Workspace
from tests.support.live_server import LiveServer, live_server
from tests.support.messages import message

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None or CHROMEDRIVER is None,
        reason="Debian's chromium and chromium-driver are not installed (apt-get install -y chromium chromium-driver)",
    ),
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]
ARTIFACTS = Path(os.environ.get("MAILTRAIL_TEST_ARTIFACTS", "var/test-artifacts")) / "console"
PAGES = ("timeline", "explain", "as-of", "compliance", "diagnostics", "charts")


@pytest.fixture
def data(acme: Workspace) -> dict[str, object]:
    """Mail before and after a moment, a person whose name is markup, a skipped message."""
    auditor = acme.add_member("Ada", "ada@acme.com", role="auditor")
    alice = acme.add_member("Alice", "alice@acme.com")
    box = acme.connect_upload(alice, "alice@acme.com")
    evil = '"<script>alert(1)</script>" <evil@initech.com>'
    first = acme.post_message(alice, box, message("alice@acme.com", evil, message_id="<one@acme.com>"))
    assert first.status_code == 201, first.text
    time.sleep(1.1)
    moment = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    time.sleep(1.1)
    later = acme.post_message(
        alice, box, message("alice@acme.com", "joe@globex.com", message_id="<two@acme.com>")
    )
    assert later.status_code == 201, later.text
    skipped = acme.post_message(
        alice, box, message("alice@acme.com", "sue@acme.com", message_id="<inside@acme.com>")
    )
    assert skipped.json()["status"] == "skipped"
    return {
        "auditor": auditor,
        "alice": alice,
        "box": box,
        "moment": moment,
        "email": first.json()["email_id"],
    }


@pytest.fixture
def server(
    acme: Workspace, data: dict[str, object], database_url: str, tmp_path: Path
) -> Iterator[LiveServer]:
    with live_server(database_url, TEST_MASTER_KEY, tmp_path) as live:
        yield live


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=420,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def shot(driver: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def found(driver: Any, by: str, value: str) -> Any:
    """The element once the page that has it has loaded (a click navigates asynchronously)."""
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, 60).until(expected_conditions.presence_of_element_located((by, value)))


def test_an_auditor_signs_in_and_uses_every_page(
    server: LiveServer, browser: Any, data: dict[str, object]
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    d = browser
    base = f"http://127.0.0.1:{server.port}/console"
    auditor = data["auditor"]
    assert isinstance(auditor, Member)

    d.get(base)
    assert d.title.startswith("Sign in")
    d.find_element(By.ID, "token").send_keys(auditor.token)
    d.find_element(By.CSS_SELECTOR, "main button[type=submit]").click()
    found(d, By.TAG_NAME, "nav")
    assert d.title.startswith("Console")
    for page in PAGES:
        d.get(f"{base}/{page}")
        assert d.find_element(By.TAG_NAME, "h1").text
        labelled = {e.get_attribute("for") for e in d.find_elements(By.TAG_NAME, "label")}
        fields = d.find_elements(By.CSS_SELECTOR, "input:not([type=hidden]), select")
        assert all(f.get_attribute("id") in labelled for f in fields), page  # every field has its label
        shot(d, page)

    # the timeline links to explain; explain names the rule for a chosen viewer
    d.get(f"{base}/timeline")
    Select(d.find_element(By.ID, "member")).select_by_visible_text("Alice")
    d.find_element(By.ID, "event_type").send_keys("SyncedMessage")
    d.find_element(By.CSS_SELECTOR, "main form button").click()
    WebDriverWait(d, 60).until(lambda driver: "event_type=SyncedMessage" in driver.current_url)
    found(d, By.CSS_SELECTOR, "a.explain")
    assert all("SyncedMessage" in r.text for r in d.find_elements(By.CSS_SELECTOR, "main tbody tr"))
    d.find_element(By.CSS_SELECTOR, "a.explain").click()
    Select(found(d, By.ID, "member")).select_by_visible_text("Alice (member)")
    d.find_element(By.CSS_SELECTOR, "main form button").click()
    verdict = found(d, By.ID, "verdict").text
    assert "level full" in verdict
    assert "owner" in d.find_element(By.TAG_NAME, "table").text
    shot(d, "explain-result")

    # as of the moment between the two messages: joe@globex.com is new since
    d.get(f"{base}/as-of")
    Select(d.find_element(By.ID, "member")).select_by_visible_text("Alice (member)")
    d.find_element(By.ID, "at").send_keys(str(data["moment"]))
    d.find_element(By.CSS_SELECTOR, "main form button").click()
    assert "Replayed to position" in found(d, By.ID, "replayed").text
    new_rows = d.find_elements(By.CSS_SELECTOR, "tr.new")
    assert any("globex" in row.text.lower() for row in new_rows), [r.text for r in new_rows]
    # a name that is markup shows as text, and no script element was made of it
    assert "<script>alert(1)</script>" in d.find_element(By.TAG_NAME, "main").text
    assert d.find_elements(By.TAG_NAME, "script") == []
    shot(d, "as-of-result")

    # the compliance report, and a replay run from its button
    d.get(f"{base}/compliance")
    assert d.find_element(By.ID, "violations").text == "None."
    d.find_element(By.CSS_SELECTOR, "main form button").click()
    assert "agrees with the live views" in found(d, By.ID, "digests").text
    shot(d, "compliance-result")

    # diagnostics: the skipped message and why
    d.get(f"{base}/diagnostics")
    d.find_element(By.ID, "message_id").send_keys("<inside@acme.com>")
    d.find_element(By.CSS_SELECTOR, "main form button").click()
    row = found(d, By.CSS_SELECTOR, "main tbody tr").text
    assert "skipped" in row and "internal_only" in row

    # charts: the mailbox's months as an inline SVG
    d.get(f"{base}/charts?mailbox={data['box']}")
    assert d.find_elements(By.CSS_SELECTOR, "#mail-chart svg rect")
    shot(d, "charts-result")


def test_a_member_gets_403_and_every_page_carries_the_security_headers(
    server: LiveServer, data: dict[str, object], acme: Workspace
) -> None:
    alice = data["alice"]
    assert isinstance(alice, Member)
    base = f"http://127.0.0.1:{server.port}/console"
    with httpx.Client() as http:
        assert http.get(base).status_code == 303  # not signed in: to the sign-in page
        assert http.post(f"{base}/login", data={"token": "mt_not-a-token"}).status_code == 401
        signed_in = http.post(f"{base}/login", data={"token": alice.token})
        assert signed_in.status_code == 303
        cookie = signed_in.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        for page in ("", *(f"/{p}" for p in PAGES)):
            answer = http.get(base + page)
            assert answer.status_code == 403, page
            assert answer.headers["x-frame-options"] == "DENY"
            assert answer.headers["referrer-policy"] == "no-referrer"
            assert "script-src" not in answer.headers["content-security-policy"]  # default-src 'none'
            assert "'unsafe-inline'" not in answer.headers["content-security-policy"]
    with httpx.Client() as http:
        http.post(f"{base}/login", data={"token": acme.admin.token})
        assert http.get(f"{base}/compliance").status_code == 200
        assert http.post(f"{base}/compliance", data={"csrf": "forged"}).status_code == 403  # CSRF-protected
