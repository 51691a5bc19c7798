"""The leaderboard page's pairwise table (in-process gateway, real Redis and MLflow)."""

from __future__ import annotations

import re
import uuid

from flask.testing import FlaskClient

from services.gateway.deps import deps
from shared import tracking
from shared.contracts import Pairwise, PairwiseRow
from tests.test_admin_pages import a_board, browser  # noqa: F401 - the logged-in fixture


def test_the_leaderboard_page_shows_the_pairwise_ranking_beside_the_rubric(
    browser: FlaskClient,  # noqa: F811 - the fixture imported above
) -> None:
    # Given a board with a pairwise section, and one without
    experiment, plain = (f"pairs-page-{uuid.uuid4().hex[:8]}" for _ in range(2))
    strong = PairwiseRow(
        model="tidy:1b",
        prompt_version="coach",
        strength=0.6931,
        ci_low=0.1,
        ci_high=1.2,
        wins=5,
        losses=1,
        ties=2,
        n_pairs=8,
    )
    weak = strong.model_copy(
        update={"model": "rambler:2b", "strength": -0.6931, "ci_low": -1.2, "ci_high": -0.1}
    )
    section = Pairwise(
        rows=[strong, weak],
        n_judgments=8,
        judges=["ann", "bob"],
        kendall_tau=1.0,
        tau_n=2,
        method="Bradley-Terry strengths (Hunter 2004).",
    )
    with browser.application.app_context():
        for name in (experiment, plain):
            tracking.ensure_experiment(deps().mlflow, name)
        assert deps().leaderboards.save(
            a_board(experiment).model_copy(update={"pairwise": section})
        )
        assert deps().leaderboards.save(a_board(plain))
    # When the pages are shown
    page = browser.get(f"/admin/experiments/{experiment}").get_data(as_text=True)
    empty = browser.get(f"/admin/experiments/{plain}").get_data(as_text=True)
    # Then the first has the table, strongest first, with intervals and counts
    table = page[page.index('<table id="pairwise">') :]
    table = table[: table.index("</table>")]
    cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td>(.*?)</td>", table)]
    assert cells == [
        *("tidy:1b", "coach", "0.69", "0.10–1.20", "5", "1", "2", "8"),
        *("rambler:2b", "coach", "-0.69", "-1.20–-0.10", "5", "1", "2", "8"),
    ]
    assert "8 verdicts by ann, bob" in page and "τ with the rubric's order: 1.00 over 2" in page
    # and the board without verdicts says how to get them
    assert 'id="pairwise"' not in empty and "No pairwise verdicts yet" in empty
