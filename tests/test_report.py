"""Specs of the report to share: one self-contained HTML file, written by the reporter with
each leaderboard, served by the gateway, saved by `tipbench report`."""

from __future__ import annotations

import json
import re
import uuid
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
import redis
from flask.testing import FlaskClient
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from services.reporter.leaderboard import Cell, aggregate
from services.reporter.publish import publish
from services.reporter.report import run_answers
from shared import tracking
from shared.contracts import Leaderboard, Pairwise, PairwiseRow
from shared.report import REPORT_CSP, REPORT_FILE, ReportAnswer, render_report, report_version
from shared.settings import Settings
from shared.stores.answers import AnswerStore
from shared.stores.leaderboards import LeaderboardStore
from shared.suite import Scenario, Suite
from shared.suite_files import builtin_suite
from testkit.fake_ollama import FakeModel, FakeOllama
from tests.conftest import gateway_client, wait_until
from tests.jobs import packet_after_job
from tests.test_admin_pages import browser  # noqa: F401 - fixture
from tests.test_browser import chrome, shots  # noqa: F401 - fixtures
from tests.test_cli import tipbench

TIP_V1 = builtin_suite("tip-v1")
# What a hostile model (or suite author) could write: each must stay text.
HOSTILE = (
    "<script>alert('x')</script>\n- </style><img src=https://evil.example/x.png>\n"
    '- <a href="javascript:alert(1)">tap</a> and url(https://evil.example/f)'
)
REFERENCE_ATTRIBUTES = {"src", "href", "action", "formaction", "xlink:href", "srcset", "poster"}
FETCHING_TAGS = {"script", "link", "img", "iframe", "object", "embed", "audio", "video", "base"}


class Page(HTMLParser):
    """What a browser would act on in a document: its elements, attributes, styles, text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str, str]] = []  # (tag, name, value)
        self.styles: list[str] = []  # <style> bodies and style="" values
        self.text: list[str] = []
        self._in_style = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self._in_style = tag == "style"
        for name, value in attrs:
            self.attributes.append((tag, name, value or ""))
            if name == "style":
                self.styles.append(value or "")

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        (self.styles if self._in_style else self.text).append(data)

    def external_references(self) -> list[str]:
        """Every element, attribute or style that could make a request or run code."""
        found = [f"<{t}>" for t in self.tags if t in FETCHING_TAGS]
        found += [
            f"{t} {n}={v!r}"
            for t, n, v in self.attributes
            if (n in REFERENCE_ATTRIBUTES and not v.startswith("#"))
            or n.startswith("on")
            or re.search(r"(https?:|javascript:|//)", v)
        ]
        found += [s for s in self.styles if re.search(r"url\(|@import|https?:", s)]
        return found


def cell(model: str, prompt: str, scenario: str, composite: float | None) -> Cell:
    persona, slot = scenario.split("@")
    metrics = {} if composite is None else {"composite": composite}
    return Cell(f"{model}|{scenario}", (model, prompt), scenario, {"persona": persona}, "", metrics)


def answer(c: Cell, text: str | None, **params: str) -> ReportAnswer:
    return ReportAnswer(
        c.run_id, c.row[0], c.row[1], c.scenario, c.composite, text, {"seed": "42", **params}
    )


SCENARIOS = [s.id for s in TIP_V1.scenarios[:3]]


def a_report(
    suite: Suite = TIP_V1, model: str = "m<b>1</b>", text: str = HOSTILE
) -> tuple[str, list[Cell]]:
    cells = [
        cell(m, "v1", s, c)
        for m, base in ((model, 14.0), ("m2", 6.0))
        for s, c in zip(SCENARIOS, (base, base + 1, base - 1), strict=True)
    ] + [cell("m3", "v1", SCENARIOS[0], None)]
    board = aggregate("shared", cells, version=2, suite=suite)
    answers = [
        answer(c, text, model_digest=f"sha256:{c.row[0]}", prompt_sha256="ab12" * 16) for c in cells
    ]
    return render_report(board, suite, answers), cells


def test_the_report_makes_no_request_and_runs_no_code() -> None:
    html, _ = a_report(text="- Drink water.\n- Walk.")
    page = Page(html)
    assert page.external_references() == []
    assert page.tags.count("svg") == 1 and "table" in page.tags  # the chart, inline
    assert ("meta", "content", REPORT_CSP) in page.attributes
    assert "http" not in html.replace("http-equiv", "")  # no URL, not even the SVG namespace
    assert report_version(html) == 2  # it says which leaderboard it shows


def test_text_users_and_models_wrote_stays_text() -> None:
    # Given a suite whose description and scenario carry markup, and a model named with it
    scenario = TIP_V1.scenarios[0]
    hostile_scenario = Scenario(
        id=scenario.id, facets=scenario.facets, vars={**scenario.vars, "note": "</style>" + HOSTILE}
    )
    suite = TIP_V1.model_copy(
        update={"description": HOSTILE, "scenarios": [hostile_scenario, *TIP_V1.scenarios[1:]]}
    )
    # When the report is rendered
    html, _ = a_report(suite, model="<script>m1</script>")
    page = Page(html)
    # Then nothing a browser would act on came out of that text, and the text is all there
    assert page.external_references() == []
    assert page.tags.count("style") == 2  # the page's and the chart's, nothing more
    text = "".join(page.text)
    assert text.count(HOSTILE) >= 6 + 1  # every answer, the suite's description
    assert "</style>" + HOSTILE in text and "<script>m1</script>" in text


def test_each_scenarios_answers_sit_side_by_side_coloured_by_composite() -> None:
    html, cells = a_report(text="- Drink water.\n- Walk.")
    first = html[html.index(f"<code>{SCENARIOS[0]}</code>") :]
    first = first[: first.index("</section>")]
    # columns in the leaderboard's order, best first, the unscored row last
    heads = re.findall(r"<th><code>([^<]+)</code><br>v1</th>", first)
    assert heads == ["m&lt;b&gt;1&lt;/b&gt;", "m2", "m3"]
    hues = [re.search(r"hsl\((\d+), (\d+)%", run) for run in first.split('class="run"')[1:]]
    assert [(int(h[1]), int(h[2])) for h in hues if h] == [(96, 65), (32, 65), (0, 0)]
    assert "not scored" in first and "- Drink water.\n- Walk." in first


def test_the_reproducibility_record_names_what_made_each_answer() -> None:
    html, _ = a_report()
    record = html[html.index('id="reproducibility"') :]
    assert f"<code>{TIP_V1.suite}@{TIP_V1.content_version()}</code>" in record
    for digest in ("sha256:m&lt;b&gt;1&lt;/b&gt;", "sha256:m2", "sha256:m3"):
        assert f"<code>{digest}</code>" in record
    assert "<th>seeds</th><td>42</td>" in record
    # and each answer names its run and the hash of the exact prompt it was given
    assert html.count("prompt sha256 <code>ab12ab12ab12</code>") == 7


def test_a_browser_opens_the_report_with_no_request_and_no_script_run(
    chrome: WebDriver,  # noqa: F811 - the fixture
    shots: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    # Given a report whose answers try to run code if they ever became markup
    attack = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">"
    html, _ = a_report(text=attack + "\n- Stretch.")
    path = tmp_path / "report.html"
    path.write_text(html, "utf-8")
    # When Chromium opens the file
    chrome.get(path.as_uri())
    # Then nothing ran, nothing was fetched, and the answers read as written
    assert chrome.title == "tipbench report: shared"
    assert chrome.execute_script("return performance.getEntriesByType('resource').length") == 0
    answers = chrome.find_elements(By.CSS_SELECTOR, "pre.answer")
    assert len(answers) == 7 and all(attack in a.text for a in answers)
    best, worst = (
        chrome.execute_script("return getComputedStyle(arguments[0]).backgroundColor", run)
        for run in chrome.find_elements(By.CSS_SELECTOR, ".run")[:2]
    )
    assert best != worst  # coloured by composite
    chrome.save_screenshot(str(shots / "report.png"))


def test_pairwise_preferences_appear_when_judges_gave_them() -> None:
    _, cells = a_report()
    board = aggregate("shared", cells, version=2, suite=TIP_V1)
    strong = PairwiseRow(
        model="<i>m1</i>",
        prompt_version="v1",
        strength=0.7,
        ci_low=0.1,
        ci_high=1.3,
        wins=5,
        losses=1,
        ties=1,
        n_pairs=7,
    )
    pairwise = Pairwise(
        rows=[strong], n_judgments=7, judges=["ann"], kendall_tau=1.0, tau_n=2, method="BT"
    )
    without = render_report(board, TIP_V1, [])
    with_pairs = render_report(board.model_copy(update={"pairwise": pairwise}), TIP_V1, [])
    assert 'id="pairwise"' not in without
    section = with_pairs[with_pairs.index('id="pairwise"') : with_pairs.index('id="answers"')]
    assert "<code>&lt;i&gt;m1&lt;/i&gt;</code>" in section and "0.10–1.30" in section
    assert "7 verdicts by ann" in section and Page(with_pairs).external_references() == []


def test_answers_are_read_from_mlflow_once_a_bounded_number_per_rebuild(
    core_settings: Settings, mlflow_server: str
) -> None:
    # Given five finished runs in MLflow, one of them without its answer artifact
    client = tracking.make_client(core_settings)
    name = f"report-{uuid.uuid4().hex[:8]}"
    experiment_id = tracking.ensure_experiment(client, name)
    params = {"seed": "42", "model_digest": "sha256:abc", "model": "tidy:1b"}
    order = []
    for i in range(5):
        run_id = client.create_run(experiment_id).info.run_id
        for key, value in params.items():
            client.log_param(run_id, key, value)
        if i != 2:
            client.log_text(run_id, json.dumps({"answer": f"- tip {i}"}), "candidates.json")
        client.set_terminated(run_id)
        order.append(run_id)
    cells = [Cell(r, ("tidy:1b", "v1"), SCENARIOS[0], {}, "", {}) for r in order]
    store = AnswerStore(redis.Redis.from_url(core_settings.redis_url), core_settings)
    # When rebuilds read at most three new runs each
    first, left = run_answers(client, store, name, cells, limit=3)
    second, left_after = run_answers(client, store, name, cells, limit=3)
    # Then the first reads three and leaves two; the second reads the rest
    assert (sorted(first), left) == (sorted([order[0], order[1]]), 2)
    assert (set(second), left_after) == ({*order[:2], *order[3:]}, 0)
    assert second[order[4]].answer == "- tip 4"
    assert second[order[4]].params == {"seed": "42", "model_digest": "sha256:abc"}
    # and what was read comes back from Redis with no MLflow read at all; the run whose
    # answer could not be read stays to be read
    again, still = run_answers(client, store, name, cells, limit=0)
    assert (again, still) == (second, 1)


def test_the_leaderboard_page_links_the_report_its_session_can_fetch(
    browser: FlaskClient,  # noqa: F811 - the fixture: logged in to the admin pages
    core_settings: Settings,
) -> None:
    # Given an experiment whose reporter published a leaderboard and its report
    client = tracking.make_client(core_settings)
    name = f"report-page-{uuid.uuid4().hex[:8]}"
    experiment_id = tracking.ensure_experiment(client, name)
    html, cells = a_report()
    board = aggregate(name, cells, version=1, suite=TIP_V1)
    boards = LeaderboardStore(redis.Redis.from_url(core_settings.redis_url), core_settings)
    assert boards.save(board)
    publish(client, experiment_id, board, html)
    # When the admin opens the leaderboard page and follows its link to the report
    page = browser.get(f"/admin/experiments/{name}").get_data(as_text=True)
    link = re.search(r'href="([^"]+)" download="([^"]+)" id="report-link"', page)
    assert link is not None
    got = browser.get(link.group(1))
    # Then the link downloads the file the reporter wrote, with its own CSP
    assert (link.group(1), link.group(2)) == (f"/api/bench/report/{name}", f"{name}-report.html")
    assert got.status_code == 200 and got.get_data(as_text=True) == html
    assert got.headers["Content-Security-Policy"] == REPORT_CSP


# --- with the stack: the reporter writes it, the gateway serves it, the CLI saves it ---


def hostile_reply(model: str, messages: list[dict[str, str]]) -> str:
    return HOSTILE


@pytest.fixture(scope="module")
def reported(running_stack: Settings, fake_ollama: FakeOllama) -> str:
    """An experiment of a tidy and a hostile model, judged, with its report written."""
    fake_ollama.add(FakeModel("hostile:1b", parameter_size="1B", reply=hostile_reply))
    name = "report-share"
    with gateway_client(running_stack) as api:
        request = {"models": ["tidy:1b", "hostile:1b"], "prompts": ["v1"], "n_scenarios": 3}
        packet = packet_after_job(api, running_stack, request | {"experiment": name}, timeout_s=120)
        tidy = {"relevance": 5, "actionability": 4, "tone": 4, "format_ok": 1, "overlong": 0}
        rude = {"relevance": 1, "actionability": 1, "tone": 1, "format_ok": 0, "overlong": 1}
        scores = [
            {"item_id": i["item_id"], **(rude if "<script>" in i["answer"] else tidy)}
            for i in packet["items"]
        ]
        body = {"packet_id": packet["packet_id"], "judge_id": "report-judge", "scores": scores}
        assert api.post(f"/api/bench/judge/{name}/scores", json=body).status_code == 202

        def judged_report() -> str:
            got = api.get(f"/api/bench/report/{name}")
            judged = got.status_code == 200 and "composite not scored" not in got.text
            return got.text if judged else ""

        wait_until(judged_report, timeout_s=60, what="the report of the judged runs")
    return name


def test_the_reporter_writes_the_report_and_the_gateway_serves_that_file(
    api: httpx.Client, running_stack: Settings, reported: str
) -> None:
    served = api.get(f"/api/bench/report/{reported}")
    assert served.status_code == 200
    assert served.headers["content-type"].startswith("text/html")
    assert served.headers["content-security-policy"] == REPORT_CSP
    page = Page(served.text)
    assert page.external_references() == []
    assert "".join(page.text).count(HOSTILE) == 3  # the hostile model's three answers, as text
    runs = api.get(f"/api/bench/runs/{reported}").json()
    assert all(r["run_id"] in served.text for r in runs) and len(runs) == 6
    assert served.text.count("composite 15.0") == served.text.count("composite 2.0") == 3
    assert served.text.count("prompt sha256 <code>") == 6  # the collector's params, per run
    # the same file is the summary run's artifact in MLflow
    client = tracking.make_client(running_stack)
    found = tracking.find_experiment(client, reported)
    assert found is not None
    summary = tracking.find_summary_run(client, str(found.experiment_id))
    assert summary is not None
    stored = tracking.read_artifact(client, summary, REPORT_FILE)
    assert stored == served.text


def test_an_experiment_without_a_report_gets_404_naming_it(
    api: httpx.Client, running_stack: Settings
) -> None:
    tracking.ensure_experiment(tracking.make_client(running_stack), "report-none")
    missing = api.get("/api/bench/report/report-none")
    unknown = api.get("/api/bench/report/report-nowhere")
    bad = api.get("/api/bench/report/Bad%20Name")
    assert missing.status_code == 404 and "no report for 'report-none'" in missing.text
    assert unknown.status_code == 404 and "no experiment 'report-nowhere'" in unknown.text
    assert bad.status_code == 422


def test_tipbench_report_saves_the_served_file(
    api: httpx.Client, running_stack: Settings, reported: str, tmp_path: Path
) -> None:
    # (the reporter may publish a later rebuild meanwhile: the file is one of the two served)
    before = api.get(f"/api/bench/report/{reported}").text
    saved = tipbench(running_stack, "report", reported, "-o", str(tmp_path / "r.html"))
    assert saved.returncode == 0, saved.stderr
    assert saved.stdout.strip().endswith(f"-> {tmp_path / 'r.html'}")
    saved_html = (tmp_path / "r.html").read_text()
    assert saved_html in (before, api.get(f"/api/bench/report/{reported}").text)
    board = api.get(f"/api/bench/leaderboard/{reported}").json()
    assert report_version(before) <= report_version(saved_html) <= board["version"]
    default = tipbench(running_stack, "report", reported, cwd=tmp_path)
    assert default.returncode == 0 and (tmp_path / f"{reported}-report.html").exists()


def test_tipbench_report_refusals_exit_2_with_one_line(
    running_stack: Settings, reported: str
) -> None:
    unknown = tipbench(running_stack, "report", "report-nowhere", "-o", "/tmp/never.html")
    unwritable = tipbench(running_stack, "report", reported, "-o", "/nonexistent/dir/r.html")
    assert unknown.returncode == 2 and len(unknown.stderr.strip().splitlines()) == 1
    assert "404 no experiment 'report-nowhere'" in unknown.stderr
    assert not Path("/tmp/never.html").exists()
    assert unwritable.returncode == 2
    assert "cannot write /nonexistent/dir/r.html" in unwritable.stderr


def test_tipbench_report_warns_when_the_latest_leaderboard_has_no_report_yet(
    api: httpx.Client, running_stack: Settings, reported: str, tmp_path: Path
) -> None:
    # Given a summary run whose report shows an older leaderboard than the stored one
    board = Leaderboard.model_validate(api.get(f"/api/bench/leaderboard/{reported}").json())
    current = api.get(f"/api/bench/report/{reported}").text
    # (one version before the stored one: the fixture's job and scores may have been built
    # into one leaderboard or several)
    older = board.version - 1
    stale = re.sub(r'(tipbench-leaderboard-version" content=")\d+', rf"\g<1>{older}", current)
    client = tracking.make_client(running_stack)
    found = tracking.find_experiment(client, reported)
    assert found is not None and stale != current
    publish(client, str(found.experiment_id), board, stale)
    try:
        # When tipbench report waits one second for the latest one
        waited = tipbench(
            running_stack, "report", reported, "--wait", "1", "-o", str(tmp_path / "r.html")
        )
    finally:
        publish(client, str(found.experiment_id), board, current)
    # Then it saves what there is and says which leaderboard has no report yet
    assert waited.returncode == 0 and (tmp_path / "r.html").read_text() == stale
    assert (
        f"the report shows leaderboard version {older}; version {board.version} has no report yet"
        in waited.stderr
    )
