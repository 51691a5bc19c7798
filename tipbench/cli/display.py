"""What the CLI prints: aligned tables, live progress per model, the leaderboard."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from tipbench.cli.client import Gateway

ENDED = ("finished", "partial", "failed", "cancelled")


def fmt(value: Any, digits: int = 2) -> str:
    """A cell of a table: `-` for nothing, floats to `digits` places."""
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def when(unix_s: float | None) -> str:
    """A Unix time as local date and time."""
    if unix_s is None:
        return "-"
    return datetime.fromtimestamp(unix_s).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def problem_lines(path: Path | str, problems: list[dict[str, Any]]) -> list[str]:
    """One `FILE:LINE: place: message` per problem of a file, as compilers write them."""
    lines = []
    for problem in problems:
        line = problem.get("line")
        where = f"{path}:{line}" if line else str(path)
        lines.append(f"{where}: {problem.get('field', '(file)')}: {problem.get('message', '')}")
    return lines


def print_json(value: Any, *, ensure_ascii: bool = True) -> None:
    """A command's document as indented JSON: what `--json` prints."""
    print(json.dumps(value, indent=2, ensure_ascii=ensure_ascii))


def print_table(rows: list[list[str]]) -> None:
    """Rows as aligned columns; the first row is the header."""
    widths = [max(len(str(c)) for c in column) for column in zip(*rows, strict=False)]
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _bar(done: int, failed: int, total: int, width: int = 24) -> str:
    filled = int(width * (done + failed) / total) if total else width
    return "[" + "#" * filled + "." * (width - filled) + "]"


def _named(model: dict[str, Any]) -> str:
    return f"{model['model']} @{model['host']}" if model.get("host") else str(model["model"])


def progress_lines(job: dict[str, Any]) -> list[str]:
    """One line per model (bar, cells ended, failed, ETA, its host if several), then the
    job's line."""
    ended_all = job["done"] + job["failed"]
    # Each generation host runs its models in order, at its own pace.
    ended_on: Counter[str] = Counter()
    for m in job["models"]:
        ended_on[m.get("host", "")] += m["done"] + m["failed"]
    width = max((len(_named(m)) for m in job["models"]), default=5)
    lines, waiting = [], Counter[str]()
    for m in job["models"]:
        ended, host = m["done"] + m["failed"], m.get("host", "")
        pace = job["elapsed_s"] / ended_on[host] if ended_on[host] else None
        waiting[host] += m["total"] - ended  # this one waits for its host's models before
        running = m["model"] == job.get("current_model") and ended < m["total"]
        if ended == m["total"]:
            eta = "done"
        elif pace is None or job["status"] in ENDED:
            eta = "eta ?" if pace is None else "not run"
        else:
            eta = f"eta {pace * waiting[host]:.0f}s"
        bar = _bar(m["done"], m["failed"], m["total"])
        lines.append(
            f"{'>' if running else ' '} {_named(m):<{width}} {bar} {ended}/{m['total']}"
            f"  failed {m['failed']}  {eta}"
        )
    lines.append(
        f"  job {job['status']}: {ended_all}/{job['total']} cells ({job['failed']} failed),"
        f" {job['elapsed_s']:.0f}s elapsed"
    )
    return lines


def watch(gateway: Gateway, job_id: str, *, poll_s: float = 1.0) -> dict[str, Any]:
    """Show live progress per model until the job ends; returns the final job status.

    On a terminal the lines are redrawn in place; into a file or a pipe, a block is
    written only when something changed.
    """
    tty = sys.stdout.isatty()
    drawn, shown = 0, None
    while True:
        job: dict[str, Any] = gateway.call("GET", f"/api/bench/jobs/{job_id}")
        lines = progress_lines(job)
        state = (job["done"], job["failed"], job.get("current_model"), job["status"])
        if tty:
            if drawn:
                sys.stdout.write(f"\x1b[{drawn}F")  # back to the first line drawn
            sys.stdout.write("".join(f"{line}\x1b[K\n" for line in lines))
            drawn = len(lines)
        elif state != shown:
            sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
        shown = state
        if job["status"] in ENDED:
            return job
        time.sleep(poll_s)


LEADERBOARD_HEADER = [
    "rank",
    "rank range",
    "model",
    "prompt",
    "runs",
    "scored",
    "scen",
    "composite",
    "95% CI",
    "vs best",
    "p adj",
    "boot ranks",
    "sd within",
    "sd between",
    "auto fmt",
    "auto long",
    "latency_s",
    "tok/s",
]


def _span(low: Any, high: Any) -> str:
    return f"{fmt(low)}..{fmt(high)}" if low is not None and high is not None else "-"


def leaderboard_row(row: dict[str, Any], names: list[str]) -> list[str]:
    """One leaderboard row as the table's cells (then the rubric's item means)."""
    rank_ci, boot = row.get("rank_ci"), row.get("bootstrap_rank_ci")
    versus = "-" if row.get("diff_to_best") is None else f"{row['diff_to_best']:+.2f}"
    return [
        fmt(row["rank"]),
        f"{rank_ci[0]}-{rank_ci[1]}" if rank_ci else "-",
        row["model"],
        row["prompt_version"],
        str(row["n"]),
        str(row["n_scored"]),
        str(row["n_scenarios"]),
        fmt(row["mean_composite"]),
        _span(row["ci_low"], row["ci_high"]),
        versus,
        row.get("p_shown") or "-",
        f"{boot[0]}-{boot[1]}" if boot else "-",
        fmt(row.get("within_sd")),
        fmt(row.get("between_sd")),
        fmt(row["format_ok_rate"]),
        fmt(row["overlong_rate"]),
        fmt(row["mean_latency_s"]),
        fmt(row["mean_tokens_per_s"], 1),
        *(fmt(row["item_means"].get(name)) for name in names),
    ]


def print_agreement(agreement: dict[str, Any], run_names: dict[str, str]) -> None:
    """The judges' agreement: kappa per pair, alpha, and the runs they disagree on, each
    named by `run_names` (run id -> `model | prompt | scenario`) when it knows the run."""
    pairs, alpha, apart = agreement["pairs"], agreement["alpha"], agreement["disagreements"]
    if not pairs:
        return
    print(f"\njudge agreement ({', '.join(agreement['judges'])}):")
    items = list(pairs[0]["kappa"])
    print_table(
        [
            ["judges", "shared", *(f"kappa {item}" for item in items)],
            *(
                [
                    f"{p['judge_a']} / {p['judge_b']}",
                    str(p["n_shared"]),
                    *(fmt(p["kappa"][item]["value"]) for item in items),
                ]
                for p in pairs
            ),
        ]
    )
    if alpha:
        print("alpha: " + ", ".join(f"{k} {fmt(v['value'])}" for k, v in alpha.items()))
    if apart:
        print(f"\ndisagreements (judges 2+ points apart), {len(apart)}:")
        print_table(
            [
                ["run", "item", *agreement["judges"]],
                *(
                    [
                        run_names.get(d["run_id"], d["run_id"]),
                        d["item"],
                        *(fmt(d["scores"].get(j)) for j in agreement["judges"]),
                    ]
                    for d in apart
                ),
            ]
        )


def print_leaderboard(board: dict[str, Any], run_names: dict[str, str] | None = None) -> None:
    """The leaderboard as text: the rows, the notes, the marginals, the facet winners and
    the judges' agreement (`run_names` names the runs they disagree on)."""
    names = list(board.get("score_names", []))
    print(
        f"{board['experiment']} ({board.get('view', 'primary')}): suite {board.get('suite', '?')},"
        f" rubric {board.get('rubric_id', '?')}"
        f" (composite {board.get('composite_min', '?')}..{board.get('composite_max', '?')})"
    )
    print_table([LEADERBOARD_HEADER + names, *(leaderboard_row(r, names) for r in board["rows"])])
    for row in board["rows"]:
        if row.get("insufficient_data") and not row["awaiting_judge"]:
            print(f"  {row['model']} | {row['prompt_version']}: {row['insufficient_data']}")
    if any(r["awaiting_judge"] for r in board["rows"]):
        print("(rows without a composite wait for a judge: see `tipbench judge export`)")
    if board.get("power_note"):
        print(f"note: {board['power_note']}")
    print(
        "(rank: 1 + rows significantly better, paired on shared scenarios; scen: scored"
        " scenarios; vs best: mean difference to the best row; p adj: max-T permutation,"
        " never 0; boot ranks: 95% range of the rank by mean over resampled scenarios;"
        " sd within/between: spread of repeats in a scenario / of scenario means;"
        " auto fmt/long: the automatic checks' rates; judge <item>: the judges'"
        " mean per item)"
    )
    for title, key in (("by model", "by_model"), ("by prompt", "by_prompt")):
        groups = board.get(key) or []
        if groups:
            cells = [
                [
                    m["name"],
                    fmt(m["mean_composite"]),
                    _span(m["ci_low"], m["ci_high"]),
                    fmt(m["rank"]),
                    str(m["rows"]),
                    str(m["n_scenarios"]),
                ]
                for m in groups
            ]
            print(
                f"\n{title} (means of row means over {groups[0]['n_scenarios']} shared scenarios):"
            )
            print_table([["name", "composite", "95% CI", "rank", "rows", "scen"], *cells])
    for facet, winners in (board.get("by_facet") or {}).items():
        if not winners:
            continue
        print(f"\nby {facet}:")
        print_table(
            [
                ["value", "winner", "leader", "mean", "note"],
                *(
                    [
                        w["group"],
                        f"{w['model']} | {w['prompt_version']}" if w["model"] else "-",
                        w["leader"] or "-",
                        fmt(w["mean_composite"]),
                        w["note"] or "",
                    ]
                    for w in winners
                ),
            ]
        )
    if board.get("agreement"):
        print_agreement(board["agreement"], run_names or {})
