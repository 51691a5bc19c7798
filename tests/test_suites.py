"""Suite files: the issue's example accepted as is, every refusal with its place, tip-v1 kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.errors import SuiteInvalid
from shared.suite import render_prompt
from shared.suite_files import builtin_suite, parse_suite, suite_json_schema

EXAMPLE = Path(__file__).parent.parent / "docs" / "examples" / "study-tips.yaml"
GOLDEN = Path(__file__).parent / "data" / "tip-v1-prompt-sha256.json"


DESCRIPTION = "description: Short tips for students on exam days."


def example_text() -> str:
    return EXAMPLE.read_text("utf-8")


def refusal(text: str, *, is_json: bool = False) -> list[str]:
    with pytest.raises(SuiteInvalid) as caught:
        parse_suite(text, is_json=is_json)
    return caught.value.lines


def test_suite_example_is_accepted_as_is() -> None:
    suite = parse_suite(example_text())

    assert suite.suite == "study-tips"
    assert [s.id for s in suite.scenarios] == ["freshman-eve", "parent-morning"]
    assert [p.version for p in suite.prompts] == ["plain", "coach"]
    assert suite.rubric.id == "study-v1"
    assert suite.rubric.composite_range == (1.0, 12.0)
    assert suite.facet_names() == ["who", "when"]
    assert suite.checks.word_limit == 20


def test_suite_example_renders_its_few_shot_turns_through_the_user_template() -> None:
    suite = parse_suite(example_text())

    messages = render_prompt(suite, "coach", "parent-morning", 3).messages

    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert "Who: A student who slept badly." in messages[1]["content"]
    assert messages[2]["content"].startswith("1. Eat a light breakfast")
    assert "Who: A part-time student with two small children." in messages[3]["content"]
    assert "each under 20 words" in messages[3]["content"]


def test_suite_version_is_the_content_hash_whatever_the_file_format() -> None:
    from_yaml = parse_suite(example_text())
    as_json = json.dumps(from_yaml.model_dump(mode="json"))

    from_json = parse_suite(as_json, is_json=True)
    changed = parse_suite(example_text().replace("Nothing else.", "Nothing more."))

    assert from_json.content_version() == from_yaml.content_version()
    assert changed.content_version() != from_yaml.content_version()


def test_suite_without_rubric_takes_tip_v1s() -> None:
    text = example_text()
    without = text[: text.index("rubric:")]

    suite = parse_suite(without)

    assert suite.rubric == builtin_suite("tip-v1").rubric
    assert suite.rubric.composite_range == (2.0, 17.0)


def test_tip_v1_prompts_render_exactly_as_before_the_move() -> None:
    golden = json.loads(GOLDEN.read_text("utf-8"))
    suite = builtin_suite("tip-v1")

    rendered = {
        key: render_prompt(suite, *key.split("|")[:2], int(key.split("|")[2])).sha256
        for key in golden
    }

    assert len(golden) == 48
    assert rendered == golden


def test_tip_v2_has_24_scenarios_over_8_personas_and_3_time_slots() -> None:
    suite = builtin_suite("tip-v2")

    assert len(suite.scenarios) == 24
    assert len({s.facets["persona"] for s in suite.scenarios}) == 8
    assert len({s.facets["time_slot"] for s in suite.scenarios}) == 3
    assert [p.version for p in suite.prompts] == ["v1", "v2-mentor", "v3-few-shot"]
    # the first 8 scenarios already cover every persona and every time slot
    first = suite.scenarios[:8]
    assert len({s.facets["persona"] for s in first}) == 8
    assert len({s.facets["time_slot"] for s in first}) == 3


def _big(n: int, what: str) -> str:
    if what == "scenarios":
        rows = "".join(f"  - id: s{i}\n    vars: {{who: a, when: b}}\n" for i in range(n))
        return (
            example_text().split("scenarios:")[0]
            + "scenarios:\n"
            + rows
            + "prompts:"
            + (example_text().split("prompts:", 1)[1])
        )
    rows = "".join(f'  - version: p{i}\n    system: s\n    user: "{{who}}"\n' for i in range(n))
    return (
        example_text().split("prompts:")[0]
        + "prompts:\n"
        + rows
        + "rubric:"
        + (example_text().split("rubric:", 1)[1])
    )


REFUSALS = [
    pytest.param(
        lambda t: t.replace("Who: {who}\\nWhen", "Who: {whoo}\\nWhen", 1),
        "prompts[0].user (line 20): unknown field {whoo}",
        id="unknown-template-field",
    ),
    pytest.param(
        lambda t: t.replace("      who: A part-time student with two small children.\n", ""),
        "prompts[0].user (line 19): field {who} is missing from scenarios[1]",
        id="field-a-scenario-lacks",
    ),
    pytest.param(
        lambda t: t.replace("id: parent-morning", "id: freshman-eve"),
        "scenarios[1].id (line 12): duplicate id 'freshman-eve'",
        id="duplicate-scenario-id",
    ),
    pytest.param(
        lambda t: t.replace("version: coach", "version: plain"),
        "prompts[1].version (line 21): duplicate version 'plain'",
        id="duplicate-prompt-version",
    ),
    pytest.param(
        lambda t: t[: t.index("  items:")] + "  items: []\n",
        "rubric.items (line 29): List should have at least 1 item",
        id="empty-rubric",
    ),
    pytest.param(
        lambda t: t.replace("weight: 2}", "weight: two}"),
        "rubric.flags[0].weight (line 37): Input should be a valid number",
        id="weight-not-a-number",
    ),
    pytest.param(
        lambda t: t.replace("weight: 2}", 'weight: "2"}'),
        "rubric.flags[0].weight (line 37): Input should be a valid number",
        id="weight-as-text",
    ),
    pytest.param(
        lambda t: t.replace("- id: calm", "- id: relevance"),
        "rubric (line 27): Value error, item and flag ids must be unique",
        id="duplicate-rubric-item",
    ),
    pytest.param(
        lambda t: t.replace("levels: {1: Adds", "levels: {0: Never, 1: Adds"),
        "rubric.items[1].levels (line 35): Value error, levels must be 1-5, not [0]",
        id="level-out-of-range",
    ),
    pytest.param(
        lambda t: t.replace("suite: study-tips", "suite: Study Tips!"),
        "suite (line 1): String should match pattern",
        id="bad-suite-name",
    ),
    pytest.param(
        lambda t: t.replace("description: Short", "descripton: Short"),
        "descripton (line 2): unknown field",
        id="unknown-key",
    ),
    pytest.param(
        lambda t: t.replace("Who: {who}\\nWhen", "Who: {who.__class__}\\nWhen", 1),
        "prompts[0].user (line 20): field {who.__class__} must be a plain name",
        id="attribute-access-in-template",
    ),
    pytest.param(
        lambda t: t.replace("Who: {who}\\nWhen", "Who: {who:>99999999}\\nWhen", 1),
        "prompts[0].user (line 20): field {who} must not carry a format spec",
        id="format-spec-in-template",
    ),
    pytest.param(
        lambda t: t.replace("Who: {who}\\nWhen", "Who: {who\\nWhen", 1),
        "prompts[0].user (line 20): not a valid template",
        id="unclosed-brace",
    ),
    pytest.param(
        lambda t: t.replace("system: You give short", "system: Hello {who}. You give short"),
        "prompts[0].system (line 19): fields are not filled in system texts: {who}",
        id="field-in-system-text",
    ),
    pytest.param(
        lambda t: t.replace('when: "23:00, the night before the exam"', "when: 2024"),
        "scenarios[0].vars.when (line 11): must be text; quote it",
        id="number-where-text-is-expected",
    ),
    pytest.param(
        lambda t: t.replace(
            "      - vars: {who: A student who slept badly., when",
            "      - vars: {when",
        ),
        "prompts[1].examples[0].vars (line 25): lacks {who}, used by prompts[1].user",
        id="example-lacks-a-field",
    ),
    pytest.param(
        lambda t: t.replace("description: Short", "x: &a [1]\ny: *a\ndescription: Short"),
        "(file) (line 3): aliases (*name) are not allowed",
        id="yaml-alias",
    ),
    pytest.param(
        lambda t: t.replace("description: Short", "suite: again\ndescription: Short"),
        "(file) (line 2): duplicate key",
        id="duplicate-yaml-key",
    ),
    pytest.param(
        lambda t: t.replace("description: Short", "description: [Short"),
        "not valid YAML",
        id="broken-yaml",
    ),
    pytest.param(
        lambda t: _big(1001, "scenarios"),
        "scenarios (line 6): List should have at most 1000 items",
        id="over-1000-scenarios",
    ),
    pytest.param(
        lambda t: _big(51, "prompts"),
        "prompts (line 17): List should have at most 50 items",
        id="over-50-prompts",
    ),
    pytest.param(
        lambda t: t.replace("description: Short", "description: " + "x" * 70_000 + " Short"),
        "description (line 2): 70038 bytes in UTF-8; the limit is 64 KiB (65536 bytes)",
        id="text-over-64-KiB",
    ),
    pytest.param(
        lambda t: t.replace(DESCRIPTION, "description: " + "é" * 40_000),
        "description (line 2): 80000 bytes in UTF-8; the limit is 64 KiB (65536 bytes)",
        id="text-of-40000-characters-over-64-KiB-in-UTF-8",
    ),
    pytest.param(
        lambda t: t.replace('when: "23:00, the night before the exam"', "when: " + "€" * 22_000),
        "scenarios[0].vars.when (line 11): 66000 bytes in UTF-8; the limit is 64 KiB",
        id="var-over-64-KiB-in-UTF-8",
    ),
    pytest.param(
        lambda t: t.replace("question: Is any tip", "question: " + "ü" * 33_000 + " Is any tip"),
        "rubric.flags[1].question (line 38): 66032 bytes in UTF-8; the limit is 64 KiB",
        id="rubric-text-over-64-KiB-in-UTF-8",
    ),
    pytest.param(
        lambda t: t + "#" + "x" * (2 * 1024 * 1024),
        "the limit is 2 MiB",
        id="file-over-2-MiB",
    ),
    pytest.param(lambda t: "- a\n- b\n", "(file): a suite file is a mapping", id="not-a-mapping"),
]


@pytest.mark.parametrize(("change", "expected"), REFUSALS)
def test_suite_refusal_names_the_place(change: object, expected: str) -> None:
    text = change(example_text())  # type: ignore[operator]

    lines = refusal(text)

    assert any(expected in line for line in lines), lines


def test_a_text_of_exactly_64_kib_in_utf8_is_accepted() -> None:
    text = example_text().replace(DESCRIPTION, "description: " + "é" * 32_768)

    suite = parse_suite(text)

    assert len(suite.description.encode("utf-8")) == 65_536


def test_suite_refusal_lists_every_problem_at_once() -> None:
    text = (
        example_text()
        .replace("Who: {who}\\nWhen", "Who: {whoo}\\nWhen", 1)
        .replace("id: parent-morning", "id: freshman-eve")
        .replace("weight: 2}", "weight: two}")
    )

    lines = refusal(text)

    assert len(lines) == 3
    assert {line.split(" ")[0] for line in lines} == {
        "prompts[0].user",
        "scenarios[1].id",
        "rubric.flags[0].weight",
    }


def test_suite_json_refusal_is_strict() -> None:
    lines = refusal('{"suite": "a", "suite": "b"}', is_json=True)

    assert "duplicate key" in lines[0]


def test_the_published_json_schema_is_the_one_the_models_generate() -> None:
    published = json.loads((EXAMPLE.parent.parent / "suite.schema.json").read_text("utf-8"))
    assert published == suite_json_schema(), "regenerate docs/suite.schema.json (docs/suites.md)"
    assert "rubric" not in published["required"]


def test_a_part_broken_twice_reports_both_problems_in_line_order() -> None:
    text = (
        example_text()
        .replace("id: parent-morning", "id: freshman-eve")
        .replace("      who: A part-time student with two small children.", "      who: 7")
    )

    lines = refusal(text)

    assert lines == [
        "scenarios[1].id (line 12): duplicate id 'freshman-eve' (first at scenarios[0])",
        "scenarios[1].vars.who (line 15): must be text; quote it (YAML reads 07:00 or 2024 as"
        " a number)",
    ]
