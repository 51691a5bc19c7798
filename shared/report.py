"""The report to share: one self-contained HTML file of an experiment's results.

The leaderboard, the interval chart, the breakdowns, the judges' agreement, every
scenario's answers side by side across rows (coloured by composite), the suite and the
reproducibility record. Inline CSS and SVG only: no script, no font, no request of any
kind, so the file reads the same offline, in a mail attachment or in MLflow's viewer.
Every text a user or a model wrote goes through Jinja2's autoescaping.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from shared.charts import leaderboard_svg
from shared.contracts import Leaderboard
from shared.stores.answers import MODEL_PARAMS, SAMPLING_PARAMS
from shared.suite import Suite

REPORT_FILE = "report.html"  # its name among the summary run's artifacts
# What the file may do, as a header (the gateway) and a <meta> (the file itself): style
# itself inline and nothing else: no script, no image, font or frame from anywhere.
REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'"
)
# The file says which leaderboard it shows, for readers that want the latest one.
VERSION_META = "tipbench-leaderboard-version"
_VERSION = re.compile(rf'<meta name="{VERSION_META}" content="(\d+)">')


@dataclass(frozen=True)
class ReportAnswer:
    """One finished run as the report shows it."""

    run_id: str
    model: str
    prompt_version: str
    scenario_id: str
    composite: float | None  # None while unscored
    answer: str | None  # None while the run's answer is not read from MLflow
    params: Mapping[str, str] = field(default_factory=dict)  # its RUN_PARAMS


def composite_colour(value: float | None, low: float, high: float) -> str:
    """A background from red (the rubric's lowest composite) to green (its highest)."""
    if value is None:
        return "hsl(0, 0%, 93%)"
    share = min(max((value - low) / max(high - low, 1e-9), 0.0), 1.0)
    return f"hsl({120 * share:.0f}, 65%, 85%)"


def _distinct(values: Iterable[str]) -> str:
    return ", ".join(sorted(set(values))) or "-"


def reproducibility(answers: list[ReportAnswer]) -> dict[str, object]:
    """What the runs were made with: per model, and the sampling settings of all runs."""
    models: dict[str, list[ReportAnswer]] = {}
    for a in answers:
        models.setdefault(a.model, []).append(a)
    seeds = {a.params["seed"] for a in answers if "seed" in a.params}
    repeats = {a.params["repeat"] for a in answers if "repeat" in a.params}
    return {
        "models": {
            model: {p: _distinct(a.params[p] for a in runs if p in a.params) for p in MODEL_PARAMS}
            for model, runs in sorted(models.items())
        },
        "sampling": {
            **{
                p: _distinct(a.params[p] for a in answers if p in a.params) for p in SAMPLING_PARAMS
            },
            "seeds": _distinct(seeds) if len(seeds) <= 12 else f"{len(seeds)} distinct",
            "repeats per cell": str(len(repeats) or 1),
        },
    }


def report_version(html: str) -> int | None:
    """The version of the leaderboard a report shows (None if it does not say)."""
    found = _VERSION.search(html)
    return int(found.group(1)) if found else None


def tipbench_version() -> str:
    """The installed tipbench's version."""
    try:
        return metadata.version("tipbench")
    except metadata.PackageNotFoundError:
        return "unknown"


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("shared", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_report(board: Leaderboard, suite: Suite, answers: list[ReportAnswer]) -> str:
    """The report as one HTML document."""
    by_cell: dict[tuple[str, str, str], list[ReportAnswer]] = {}
    for a in sorted(answers, key=lambda a: (a.params.get("repeat", ""), a.run_id)):
        by_cell.setdefault((a.scenario_id, a.model, a.prompt_version), []).append(a)
    built = datetime.datetime.fromtimestamp(board.built_at, tz=datetime.UTC)
    template = _environment().get_template("report.html")
    return template.render(
        board=board,
        suite=suite,
        chart=Markup(leaderboard_svg(board, standalone=False)),  # its labels are escaped
        by_cell=by_cell,
        scenarios=[s for s in suite.scenarios if any(k[0] == s.id for k in by_cell)],
        colour=lambda v: composite_colour(v, board.composite_min, board.composite_max),
        record=reproducibility(answers),
        built_at=built.strftime("%Y-%m-%d %H:%M:%S UTC"),
        version=tipbench_version(),
        csp=REPORT_CSP,
        version_meta=VERSION_META,
    )
