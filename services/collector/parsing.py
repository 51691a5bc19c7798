"""Extract tips from a model's answer and run the automatic checks (format_ok, overlong).

Definitions (also in docs/rubric.md):
- a tip is a top-level list item: a line starting with `1.`, `1)`, `-`, `*` or `•`,
  at the smallest indentation among the list lines; where numbered and bulleted lines
  mix, only the numbered ones are tips (the bullets are nested); emphasis is removed;
- format_ok = exactly n_tips tips, and nothing else of substance: no nested items, no
  other text except at most one short lead-in line ending with ':' (up to 8 words);
- overlong = any tip over the rubric's word limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ITEM = re.compile(r"^(?P<indent>\s*)(?:(?P<number>\d{1,2}[.)])|[-*•])\s+(?P<text>\S.*?)\s*$")
_EMPHASIS = re.compile(r"(\*\*|__|\*|`)")
LEAD_IN_MAX_WORDS = 8


@dataclass(frozen=True)
class ParsedAnswer:
    """The tips found in an answer and the lines that are not tips."""

    tips: list[str]
    other_lines: list[str]
    nested_items: int


def _clean(text: str) -> str:
    return _EMPHASIS.sub("", text).strip()


def parse_tips(answer: str) -> ParsedAnswer:
    """Split an answer into top-level tips and everything else."""
    items: list[tuple[int, bool, str]] = []
    other: list[str] = []
    for line in answer.splitlines():
        if not line.strip():
            continue
        match = _ITEM.match(line.expandtabs(4))
        if match:
            items.append((len(match["indent"]), bool(match["number"]), _clean(match["text"])))
        else:
            other.append(line.strip())
    if not items:
        return ParsedAnswer(tips=[], other_lines=other, nested_items=0)
    # Small models often put unindented bullets under numbered headings: where both kinds
    # appear, the numbered items are the tips and the bullets belong to them.
    if any(numbered for _, numbered, _ in items) and not all(n for _, n, _ in items):
        items_at_top: list[tuple[int, bool, str]] = [(i, n, t) for i, n, t in items if n]
    else:
        items_at_top = items
    top = min(indent for indent, _, _ in items_at_top)
    tips = [text for indent, _, text in items_at_top if indent == top and text]
    return ParsedAnswer(tips=tips, other_lines=other, nested_items=len(items) - len(tips))


def word_count(text: str) -> int:
    """Words in a tip, split on whitespace."""
    return len(text.split())


def _is_lead_in(line: str) -> bool:
    return line.endswith(":") and word_count(line) <= LEAD_IN_MAX_WORDS


def format_ok(parsed: ParsedAnswer, n_tips: int) -> bool:
    """Exactly n_tips top-level tips, no nested items, nothing else but a short lead-in."""
    extra = [line for line in parsed.other_lines if any(ch.isalnum() for ch in line)]
    lead_in_only = len(extra) == 0 or (len(extra) == 1 and _is_lead_in(extra[0]))
    return len(parsed.tips) == n_tips and parsed.nested_items == 0 and lead_in_only


def overlong(parsed: ParsedAnswer, word_limit: int) -> bool:
    """True if any tip has more than word_limit words."""
    return any(word_count(tip) > word_limit for tip in parsed.tips)
