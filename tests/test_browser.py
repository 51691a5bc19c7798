"""The admin UI in a real headless Chromium against the running stack.

Log in, start a benchmark on the embedded model, watch it finish, score two items with the
keyboard, see the leaderboard change, requeue a dead letter, add a suite. Screenshots of
each page go to $TIPBENCH_SCREENSHOTS (docs/screenshots when regenerating the README's
pictures).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from shared.settings import Settings
from shared.suite_files import DEFAULT_SUITE, builtin_suite, parse_suite
from testkit.fake_ollama import FakeOllama
from tests.conftest import TOKEN, gateway_client, unavailable, wait_until

pytestmark = pytest.mark.slow
CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
EXAMPLE = Path(__file__).parent.parent / "docs" / "examples" / "study-tips.yaml"


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("TIPBENCH_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def chrome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    if not (Path(CHROMIUM).exists() and Path(DRIVER).exists()):
        unavailable("Debian's chromium and chromium-driver")
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not try to download anything
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--window-size=1280,900",
        f"--user-data-dir={tmp_path_factory.mktemp('chrome-profile')}",
    ):
        options.add_argument(flag)
    try:
        driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    except WebDriverException as exc:
        unavailable(f"headless Chromium ({exc.msg})")
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def wait_for(driver: WebDriver, css: str, timeout_s: float = 30) -> object:
    return WebDriverWait(driver, timeout_s).until(
        ec.visibility_of_element_located((By.CSS_SELECTOR, css))
    )


def text_of(driver: WebDriver, css: str) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, css).text)


def test_a_whole_session_in_the_browser(
    chrome: WebDriver, running_stack: Settings, fake_ollama: FakeOllama, shots: Path
) -> None:
    base = f"http://127.0.0.1:{running_stack.gateway_port}"
    driver = chrome

    # log in (the page asked for redirects to the login form and back)
    driver.get(f"{base}/admin/new")
    token = wait_for(driver, "#token")
    driver.save_screenshot(str(shots / "login.png"))
    token.send_keys(TOKEN, Keys.ENTER)  # type: ignore[attr-defined]
    wait_for(driver, "#experiment")
    assert driver.current_url.endswith("/admin/new")

    # start a benchmark of the default suite's first prompt on the embedded model
    suite = builtin_suite(DEFAULT_SUITE)
    assert text_of(driver, "#suite-select option:checked").startswith(suite.suite)
    for prompt in suite.prompts[1:]:  # every version is checked at first
        box = driver.find_element(
            By.CSS_SELECTOR, f'input[name="prompts"][value="{prompt.version}"]'
        )
        assert box.is_selected()
        box.click()
    scenarios = driver.find_element(By.ID, "n_scenarios")
    scenarios.clear()
    scenarios.send_keys("2")
    name = driver.find_element(By.ID, "experiment")
    name.clear()
    name.send_keys("browser")
    embedded = driver.find_element(By.CSS_SELECTOR, 'input[value="gguf:smollm2-135m"]')
    assert embedded.is_selected()
    driver.save_screenshot(str(shots / "new-benchmark.png"))
    name.send_keys(Keys.ENTER)

    # watch it finish on the job page, without reloading by hand
    wait_for(driver, "#job-status")
    assert "/admin/jobs/" in driver.current_url
    WebDriverWait(driver, 240).until(lambda d: text_of(d, "#job-status") == "finished")
    assert text_of(driver, "#job-cells") == "2/2"
    driver.save_screenshot(str(shots / "job.png"))

    # the leaderboard waits for a judge
    board_url = f"{base}/admin/experiments/browser"

    def board_built() -> bool:
        driver.get(board_url)
        return bool(driver.find_elements(By.CSS_SELECTOR, "#leaderboard tbody tr"))

    wait_until(board_built, timeout_s=60, what="the leaderboard")
    assert text_of(driver, "#leaderboard tbody tr td.composite") == "-"

    # score two items with the keyboard only, once the judge bridge has the candidates
    with gateway_client(running_stack) as api:
        wait_until(
            lambda: api.get("/api/bench/judge/browser/packet").status_code == 200,
            timeout_s=120,
            what="the experiment's packet",
        )
    driver.get(f"{base}/admin/experiments/browser/score?judge=browser-judge")
    wait_for(driver, "#item")
    assert "Item 1 of 2" in text_of(driver, "#score-progress")
    assert text_of(driver, "#key-help").startswith(
        "Keys: 1–5 score the current item (relevance, then actionability, then tone, then"
        " relevance again); f toggles format_ok, o toggles overlong, n saves and goes on,"
        " p goes back."
    )
    assert "persona_description" in text_of(driver, "#item-vars")
    page = driver.find_element(By.TAG_NAME, "body")
    page.send_keys("4", "4", "4", "f")
    driver.set_window_size(1280, 1800)  # the candidate's context and the whole rubric
    driver.execute_script("window.scrollTo(0, 0);")
    driver.save_screenshot(str(shots / "scoring.png"))
    driver.set_window_size(1280, 900)
    page.send_keys("n")
    WebDriverWait(driver, 30).until(lambda d: "Item 2 of 2" in text_of(d, "#score-progress"))
    driver.find_element(By.TAG_NAME, "body").send_keys("5", "5", "5", "f", "n")
    WebDriverWait(driver, 30).until(lambda d: "are scored" in text_of(d, "#score-progress"))

    # the leaderboard changes: (4+4+4+2 + 5+5+5+2) / 2 = 15.5
    def scored() -> bool:
        driver.get(board_url)
        cells = driver.find_elements(By.CSS_SELECTOR, "#leaderboard tbody tr td.composite")
        return bool(cells) and cells[0].text == "15.50"

    wait_until(scored, timeout_s=90, what="the judged leaderboard")
    driver.save_screenshot(str(shots / "leaderboard.png"))
    driver.find_element(By.CSS_SELECTOR, "#matrix tbody td a").click()
    wait_for(driver, "h1")
    assert "browser-judge" in driver.page_source
    driver.save_screenshot(str(shots / "cell.png"))
    driver.set_window_size(390, 844)
    driver.get(board_url)
    driver.save_screenshot(str(shots / "leaderboard-phone.png"))
    driver.set_window_size(1280, 900)

    # a dead letter, requeued from the queues page
    fake_ollama.state.failing["tidy-b:0.5b"] = 500
    try:
        with gateway_client(running_stack) as api:
            body = {
                "models": ["tidy-b:0.5b"],
                "prompts": ["v1"],
                "n_scenarios": 1,
                "experiment": "browser-dead",
            }
            job_id = api.post("/api/bench/run", json=body).json()["job_id"]
            wait_until(
                lambda: api.get(f"/api/bench/jobs/{job_id}").json()["status"] == "failed",
                timeout_s=60,
                what="the failing job",
            )
    finally:
        fake_ollama.state.failing.pop("tidy-b:0.5b", None)
    driver.get(f"{base}/admin/queues")
    section = wait_for(driver, "#dead-collect")
    assert "Ollama answered 500" in section.text  # type: ignore[attr-defined]
    driver.save_screenshot(str(shots / "queues.png"))
    button = driver.find_element(
        By.XPATH, f"//section[@id='dead-collect']//tr[.//a[contains(@href, '{job_id}')]]//button"
    )
    button.send_keys(Keys.ENTER)  # the keyboard again
    with gateway_client(running_stack) as api:
        job = wait_until(
            lambda: (
                (j := api.get(f"/api/bench/jobs/{job_id}").json())["status"] == "finished" and j
            ),
            timeout_s=60,
            what="the requeued cell to succeed",
        )
    assert (job["done"], job["failed"]) == (1, 0)
    driver.get(f"{base}/admin/experiments/browser")
    driver.get(f"{base}/admin/")
    driver.save_screenshot(str(shots / "experiments.png"))

    # a suite of one's own, pasted into the suites page, then shown whole
    driver.get(f"{base}/admin/suites")
    text = wait_for(driver, "#text")
    driver.execute_script("arguments[0].value = arguments[1];", text, EXAMPLE.read_text("utf-8"))
    driver.find_element(By.CSS_SELECTOR, "#upload button[type=submit]").send_keys(Keys.ENTER)
    study = parse_suite(EXAMPLE.read_text("utf-8"))
    WebDriverWait(driver, 60).until(
        lambda d: d.current_url.endswith(f"/admin/suites/study-tips/{study.content_version()}")
    )
    assert "relevance + calm + 2*format_ok - overlong" in text_of(driver, "#composite")
    driver.save_screenshot(str(shots / "suite.png"))
    driver.get(f"{base}/admin/suites")
    assert "study-tips" in text_of(driver, "#suites")
    driver.save_screenshot(str(shots / "suites.png"))
    assert {p.name for p in shots.glob("*.png")} >= {
        "login.png",
        "new-benchmark.png",
        "job.png",
        "scoring.png",
        "leaderboard.png",
        "cell.png",
        "leaderboard-phone.png",
        "queues.png",
        "experiments.png",
        "suite.png",
        "suites.png",
    }


def test_the_compare_page_pairs_two_experiments_rows(
    chrome: WebDriver, running_stack: Settings, shots: Path
) -> None:
    # Given two experiments judged by an LLM judge that marks rambling down (14 vs 5)
    base = f"http://127.0.0.1:{running_stack.gateway_port}"
    with gateway_client(running_stack) as api:
        for name, model in (("browser-tidy", "tidy:1b"), ("browser-ramble", "rambler:2b")):
            body = {"models": [model], "prompts": ["v1"], "n_scenarios": 3, "experiment": name}
            assert api.post(
                "/api/bench/run", json=body | {"judge": "llm:picky-judge:8b"}
            ).is_success

            def judged(name: str = name) -> bool:
                board = api.get(f"/api/bench/leaderboard/{name}")
                return board.is_success and board.json()["rows"][0]["n_scored"] == 3

            wait_until(judged, timeout_s=120, what=f"the judged leaderboard of {name}")

    # When the compare form names both experiments and one row of each
    driver = chrome
    driver.get(f"{base}/admin/compare")
    if driver.find_elements(By.CSS_SELECTOR, "#token"):  # this test alone: log in first
        driver.find_element(By.CSS_SELECTOR, "#token").send_keys(TOKEN, Keys.ENTER)
    wait_for(driver, "#compare-form")
    for field, value in (
        ("a", "browser-tidy"),
        ("b", "browser-ramble"),
        ("row_a", "tidy:1b|v1"),
        ("row_b", "rambler:2b|v1"),
    ):
        driver.find_element(By.ID, field).send_keys(value)
    driver.find_element(By.CSS_SELECTOR, "#compare-form button[type=submit]").send_keys(Keys.ENTER)

    # Then the table shows the paired difference on the 3 shared scenarios
    wait_for(driver, "#comparison")
    cells = [c.text for c in driver.find_elements(By.CSS_SELECTOR, "#comparison tbody td")]
    assert cells[:7] == [
        "tidy:1b|v1",
        "rambler:2b|v1",
        "3",
        "14.00",
        "5.00",
        "+9.00",
        "9.00 to 9.00",
    ]
    assert cells[7] == "0.25" and "smallest possible p is 0.25" in cells[8]
    driver.save_screenshot(str(shots / "compare.png"))

    # And a row that is not there is said on the form, with the rows there are
    driver.find_element(By.ID, "row_b").clear()
    driver.find_element(By.ID, "row_b").send_keys("tidy:1b|v1", Keys.ENTER)
    wait_for(driver, "#compare-error")
    assert text_of(driver, "#compare-error") == (
        "row_b: no row 'tidy:1b|v1' in experiment 'browser-ramble'; its rows: rambler:2b|v1"
    )


def test_the_leaderboard_shows_marginals_and_a_sortable_matrix_with_tips(
    chrome: WebDriver, running_stack: Settings, shots: Path
) -> None:
    # Given an experiment of two models on three scenarios, judged by an LLM judge
    base = f"http://127.0.0.1:{running_stack.gateway_port}"
    body = {"models": ["tidy:1b", "rambler:2b"], "prompts": ["v1"], "n_scenarios": 3}
    with gateway_client(running_stack) as api:
        request = body | {"experiment": "browser-rich", "judge": "llm:picky-judge:8b"}
        assert api.post("/api/bench/run", json=request).is_success

        def judged() -> bool:
            board = api.get("/api/bench/leaderboard/browser-rich")
            return board.is_success and [r["n_scored"] for r in board.json()["rows"]] == [3, 3]

        wait_until(judged, timeout_s=180, what="the judged leaderboard of browser-rich")

    # When its leaderboard page is opened
    driver = chrome
    driver.get(f"{base}/admin/experiments/browser-rich")
    if driver.find_elements(By.CSS_SELECTOR, "#token"):  # this test alone: log in first
        driver.find_element(By.CSS_SELECTOR, "#token").send_keys(TOKEN, Keys.ENTER)
    wait_for(driver, "#matrix")

    # Then the marginal by model ranks both models
    models = [
        r.text.split()[0] for r in driver.find_elements(By.CSS_SELECTOR, "#by-model tbody tr")
    ]
    assert sorted(models) == ["rambler:2b", "tidy:1b"]

    # And the matrix sorts by scenario with the keyboard, one way then the other
    def scenarios() -> list[str]:
        rows = driver.find_elements(By.CSS_SELECTOR, "#matrix tbody th")
        return [str(r.text) for r in rows]

    header = driver.find_element(By.CSS_SELECTOR, "#matrix thead th:first-child")
    button = header.find_element(By.CSS_SELECTOR, "button.sort")
    button.send_keys(Keys.ENTER)
    assert header.get_attribute("aria-sort") == "ascending"
    assert scenarios() == sorted(scenarios())
    button.send_keys(Keys.ENTER)
    assert header.get_attribute("aria-sort") == "descending"
    assert scenarios() == sorted(scenarios(), reverse=True)

    # And a cell's tips open in place
    tips = driver.find_element(By.CSS_SELECTOR, "#matrix details.tips")
    assert not tips.find_element(By.CSS_SELECTOR, "li").is_displayed()
    tips.find_element(By.TAG_NAME, "summary").click()
    assert tips.find_element(By.CSS_SELECTOR, "li").is_displayed()
    assert tips.find_element(By.CSS_SELECTOR, "li").text
    driver.save_screenshot(str(shots / "leaderboard-matrix.png"))
