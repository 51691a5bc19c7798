"""The scoring page in pairs, in a real headless Chromium against the running stack."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from shared.settings import Settings
from tests.conftest import TOKEN, gateway_client, wait_until
from tests.test_browser import chrome, text_of, wait_for  # noqa: F401 - the browser fixture

pytestmark = pytest.mark.slow
EXPERIMENT = "pairs-browser"


def progress_is(text: str) -> Callable[[WebDriver], bool]:
    return lambda driver: text_of(driver, "#pair-progress") == text


def test_a_person_judges_pairs_from_the_keyboard(
    chrome: WebDriver,  # noqa: F811 - the fixture imported above
    running_stack: Settings,
) -> None:
    base = f"http://127.0.0.1:{running_stack.gateway_port}"
    # Given a finished job of a tidy and a rambling model on two scenarios
    with gateway_client(running_stack) as api:
        request = {
            "models": ["tidy:1b", "rambler:2b"],
            "prompts": ["v1"],
            "n_scenarios": 2,
            "experiment": EXPERIMENT,
        }
        assert api.post("/api/bench/run", json=request).status_code == 202
        wait_until(
            lambda: api.get(f"/api/bench/judge/{EXPERIMENT}/packet").status_code == 200,
            timeout_s=180,
            what="the experiment's candidates",
        )
    driver = chrome
    driver.get(f"{base}/admin/new")
    wait_for(driver, "#token").send_keys(TOKEN, Keys.ENTER)  # type: ignore[attr-defined]
    wait_for(driver, "#experiment")

    # When a person opens the scoring page in pairs
    driver.get(f"{base}/admin/experiments/{EXPERIMENT}/score?judge=pat&mode=pairs")
    wait_for(driver, "#pair")
    # Then one pair shows at a time, blind, two answers side by side
    assert text_of(driver, "#pair-progress") == "Pair 1 of 2"
    assert "persona_description" in text_of(driver, "#pair-vars")
    assert "tidy" not in driver.page_source and "rambler" not in driver.page_source
    body = driver.find_element(By.TAG_NAME, "body")
    for number in (1, 2):
        WebDriverWait(driver, 30).until(progress_is(f"Pair {number} of 2"))
        # the tidy answer wins, by its key
        winner = "b" if "really" in text_of(driver, "#side-a .side-tips") else "a"
        body.send_keys(winner)
    WebDriverWait(driver, 30).until(lambda d: "are judged" in text_of(d, "#pair-progress"))

    # And the leaderboard page, once rebuilt with both verdicts (the first verdict's rebuild
    # already has both rows), ranks the tidy row first in its pairwise table
    def ranked() -> bool:
        driver.get(f"{base}/admin/experiments/{EXPERIMENT}")
        rows = driver.find_elements(By.CSS_SELECTOR, "#pairwise tbody tr")
        return len(rows) == 2 and "2 verdicts by pat" in text_of(driver, "#pairwise-note")

    wait_until(ranked, timeout_s=90, what="the pairwise table")
    rows = driver.find_elements(By.CSS_SELECTOR, "#pairwise tbody tr")
    assert rows[0].text.split()[:1] == ["tidy:1b"]
    assert rows[0].text.split()[-4:] == ["2", "0", "0", "2"]  # wins, losses, ties, pairs
    assert "2 verdicts by pat" in text_of(driver, "#pairwise-note")
