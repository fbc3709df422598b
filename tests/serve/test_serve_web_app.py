"""The web app in real headless Chromium against a real server: the bundled series dropped as a zip, its score and
per-slice plot, window presets, the heatmap, the report; a comparison and a question when the quality VLM is there.

Chromium is Debian's (/usr/bin/chromium; .ci/run installs it), driven by Playwright without its own browser build.
Screenshots go to out/screenshots/.
"""

from __future__ import annotations

import base64
import re
import shutil
from pathlib import Path

import pytest
from serve_helpers import TOKEN, running_server, test_vlm

pytestmark = pytest.mark.slow
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
expect = sync_api.expect
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SCORE = re.compile(r"^\d\.\d\d$")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "out" / "screenshots"


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).is_file():
        pytest.skip("Chromium is not installed (apt-get install -y chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("web"), model="default", vlm=test_vlm(), measures=True) as running:
        yield running


def _drop_file(page, selector: str, name: str, data: bytes) -> None:
    """Drops one file on an element as a user's drag and drop does (a DataTransfer holding a File)."""
    transfer = page.evaluate_handle(
        """([name, b64]) => { const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
           const dt = new DataTransfer(); dt.items.add(new File([bytes], name, {type: "application/zip"}));
           return dt; }""", [name, base64.b64encode(data).decode()])
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def _signed_in(browser, server):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("requestfailed", lambda req: errors.append(f"request failed: {req.url}"))
    page.goto(server.url + "/")
    page.wait_for_selector("#token-form:not([hidden])")
    page.fill("#token", TOKEN)
    page.click("#token-form button")
    page.wait_for_selector("#server-status.ok")
    return page, errors


def test_upload_the_bundled_series_see_the_score_and_open_the_report(browser, server, sample_zip: bytes) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page, errors = _signed_in(browser, server)
    _drop_file(page, "#drop-assess", "abdomen_ct_dicom.zip", sample_zip)
    expect(page.locator("#score-badge")).to_have_text(SCORE, timeout=240_000)
    assert page.locator("#aspects .track").count() == 5
    assert page.locator("#plot-svg circle").count() == 20
    page.click("#plot-svg circle[data-index='3']")
    expect(page.locator("#slice-label")).to_have_text("slice 4 / 20")
    page.click("#windows button[data-window='lung']")
    assert "active" in page.get_attribute("#windows button[data-window='lung']", "class")
    page.click("#windows button[data-window='soft_tissue']")
    page.check("#opt-heatmap")
    expect(page.locator("#heatmap-img")).to_be_visible()
    expect(page.locator("#heatmap-img")).to_have_attribute("src", re.compile("^blob:"))
    page.screenshot(path=str(SCREENSHOTS / "web_app_assess.png"), full_page=True)

    page.click("#btn-report")
    page.wait_for_selector("#report-panel:not([hidden])")
    frame = page.frame_locator("#report-frame")
    assert re.search("quality", frame.locator("body").inner_text(timeout=30_000), re.IGNORECASE)
    page.screenshot(path=str(SCREENSHOTS / "web_app_report.png"), full_page=True)

    page.click("#tab-history")
    page.wait_for_selector("#history-rows tr")
    assert "abdomen_ct_dicom.zip" in page.inner_text("#history-rows")
    assert not errors, errors


@pytest.mark.skipif(test_vlm() is None, reason="the shipped quality VLM (models/vlm/model.safetensors) is absent")
def test_compare_two_slices_and_ask_a_question(browser, server, sample_slices: list[Path]) -> None:
    page, errors = _signed_in(browser, server)
    page.click("#tab-compare")
    page.set_input_files("#input-a", str(sample_slices[4]))
    page.set_input_files("#input-b", str(sample_slices[5]))
    page.click("#btn-compare")
    expect(page.locator("#verdict")).to_contain_text("probability", timeout=120_000)
    assert page.inner_text("#explanation")
    expect(page.locator("#img-b")).to_have_attribute("src", re.compile("^blob:"))
    page.screenshot(path=str(SCREENSHOTS / "web_app_compare.png"), full_page=True)

    page.click("#tab-assess")
    page.set_input_files("#input-assess", str(sample_slices[6]))
    expect(page.locator("#score-badge")).to_have_text(SCORE, timeout=120_000)
    page.fill("#chat-input", "Is the noise acceptable?")
    page.click("#chat-form button")
    page.wait_for_selector("#chat-log .a", timeout=120_000)
    assert page.inner_text("#chat-log .a").strip() and "error:" not in page.inner_text("#chat-log .a")
    page.screenshot(path=str(SCREENSHOTS / "web_app_ask.png"), full_page=True)
    assert not errors, errors
