"""The README's suite example is the suite file the docs ship, and it is valid."""

from __future__ import annotations

import re
from pathlib import Path

from shared.suite_files import parse_suite

ROOT = Path(__file__).resolve().parent.parent


def test_the_readmes_suite_example_is_the_shipped_example_file() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    shown = re.search(r"```yaml\n(suite: study-tips.*?)```", readme, re.S)
    assert shown is not None, "README has no study-tips example"
    shipped = (ROOT / "docs" / "examples" / "study-tips.yaml").read_text("utf-8")
    assert shown.group(1) == shipped
    suite = parse_suite(shipped)
    assert (suite.suite, [p.version for p in suite.prompts]) == ("study-tips", ["plain", "coach"])
