"""Specs of the tip parser and the automatic checks, on real messy model outputs."""

from __future__ import annotations

import pytest

from services.collector.parsing import format_ok, overlong, parse_tips

# Verbatim answers of SmolLM2-135M (embedded) to tipbench prompts.
SMOLLM_NESTED = """### List of Daily Tips for a Student

1. **Morning Affirm:**
- Focus on yourself
- Wake up with a positive attitude

2. **Morning Routine:**
- Take a walk

3. **Morning Self-Care:**
- Stay hydrated, eat a healthy breakfast"""
SMOLLM_CLEAN = (
    "1. Bring a laptop to work.\n2. Get a laptop on a weekend.\n3. Don't forget to bring a camera."
)
LEAD_IN = "Here are three tips:\n\n1) Drink water.\n2) Stretch for five minutes.\n3) Plan the day."
BULLETS = "* Drink water.\n* Stretch.\n* Plan the day.\n"
TRAILER = "1. Drink water.\n2. Stretch.\n3. Plan the day.\nRemember, consistency is key to success!"
EMPTY = "I'm sorry, I can't help with that."


@pytest.mark.parametrize(
    ("answer", "tips", "ok"),
    [
        (SMOLLM_CLEAN, 3, True),
        (LEAD_IN, 3, True),
        (BULLETS, 3, True),
        (SMOLLM_NESTED, 3, False),
        (TRAILER, 3, False),
        (EMPTY, 0, False),
    ],
)
def test_parser_counts_top_level_tips_and_format_ok_is_strict(
    answer: str, tips: int, ok: bool
) -> None:
    parsed = parse_tips(answer)
    assert len(parsed.tips) == tips
    assert format_ok(parsed, 3) is ok


def test_parser_strips_markdown_emphasis() -> None:
    parsed = parse_tips(SMOLLM_NESTED)
    assert parsed.tips == ["Morning Affirm:", "Morning Routine:", "Morning Self-Care:"]
    assert parsed.nested_items == 4


def test_format_ok_needs_the_requested_count() -> None:
    assert not format_ok(parse_tips(SMOLLM_CLEAN), 4)


def test_overlong_flags_a_tip_over_the_word_limit() -> None:
    short = parse_tips("1. " + " ".join(["word"] * 30))
    long = parse_tips("1. ok\n2. " + " ".join(["word"] * 31))
    assert not overlong(short, 30)
    assert overlong(long, 30)
