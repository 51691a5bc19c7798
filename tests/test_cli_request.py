"""The run command's request flags, parsed without a gateway."""

from __future__ import annotations

import argparse

import pytest

from tipbench.cli.request import add_request_flags, given_flags


def parsed(*argv: str) -> argparse.Namespace:
    run = argparse.ArgumentParser(prog="tipbench run", exit_on_error=False)
    add_request_flags(run)
    return run.parse_args(list(argv))


def test_sizes_are_sent_as_a_mapping_of_model_to_billions() -> None:
    args = parsed("--models", "openai:my-model", "tidy:1b", "--sizes", "openai:my-model=3.8")
    assert given_flags(args) == {
        "models": ["openai:my-model", "tidy:1b"],
        "sizes": {"openai:my-model": 3.8},
    }
    assert "sizes" not in given_flags(parsed("--models", "tidy:1b"))  # left out: not sent


@pytest.mark.parametrize("value", ["openai:my-model", "=3", "openai:x=big"])
def test_a_size_without_model_and_billions_is_a_usage_error(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        argparse_run = argparse.ArgumentParser(prog="tipbench run")
        add_request_flags(argparse_run)
        argparse_run.parse_args(["--sizes", value])
    assert stopped.value.code == 2
    assert "give MODEL=BILLIONS, e.g. openai:my-model=3.8" in capsys.readouterr().err
