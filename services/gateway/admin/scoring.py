"""The blind scoring page: the experiment's rubric as a form, scored from the keyboard."""

from __future__ import annotations

from string import ascii_lowercase

from flask import render_template, request

from services.gateway.admin.results import checked_experiment
from services.gateway.checks import judge_id
from services.gateway.deps import deps
from shared.errors import InvalidJudgeId
from shared.rubric import ITEM_MAX, ITEM_MIN, Rubric

# The keys that move between items; a flag never takes one of them.
SAVE_KEY, BACK_KEY = "n", "p"


def flag_keys(rubric: Rubric) -> dict[str, str]:
    """Flag id -> the letter that toggles it: the first letter of its id not yet taken."""
    taken = {SAVE_KEY, BACK_KEY}
    keys = {}
    for flag in rubric.flag_ids:
        free = [c for c in flag + ascii_lowercase if c in ascii_lowercase and c not in taken]
        keys[flag] = free[0]  # 26 letters, at most MAX_FLAGS flags and two navigation keys
        taken.add(free[0])
    return keys


def key_help(rubric: Rubric, keys: dict[str, str]) -> str:
    """The keyboard's help text, as the rubric makes it."""
    items = rubric.item_ids
    cycle = ", then ".join(items) + (f", then {items[0]} again" if len(items) > 1 else "")
    flags = "".join(f"{keys[f]} toggles {f}, " for f in rubric.flag_ids)
    return (
        f"Keys: {ITEM_MIN}–{ITEM_MAX} score the current item ({cycle}); {flags}"
        f"{SAVE_KEY} saves and goes on, {BACK_KEY} goes back. "
        "In the rationale box the keys type text."
    )


def score(experiment: str) -> str:
    """Blind scoring, one item at a time, for the judge named in ?judge= (asked first);
    with ?mode=pairs, blind pairwise verdicts, one pair at a time."""
    name = checked_experiment(experiment)
    judge = request.args.get("judge", "").strip()
    try:
        judge = judge_id(judge) if judge else ""
    except InvalidJudgeId:
        judge = ""  # asked again: not an id, or a leaderboard view's name
    rubric = deps().packets.rubric(name)
    keys = flag_keys(rubric)
    return render_template(
        "admin/score.html",
        experiment=name,
        judge=judge,
        mode="pairs" if request.args.get("mode") == "pairs" else "rubric",
        rubric=rubric,
        composite=rubric.as_dict()["composite"],
        levels=range(ITEM_MIN, ITEM_MAX + 1),
        flag_keys=keys,
        key_help=key_help(rubric, keys),
        save_key=SAVE_KEY,
        back_key=BACK_KEY,
    )
