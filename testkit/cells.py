"""A cell to generate, as the gateway would plan it, for tests and benchmarks that need one."""

from __future__ import annotations

import uuid

from shared.contracts import CollectCell, cell_key
from shared.suite_files import builtin_suite

TIP_V1 = builtin_suite("tip-v1")


def a_collect_cell(
    model: str = "tidy:1b",
    *,
    experiment: str = "cells",
    parent_run_id: str = "parent",
    prompt_version: str = "v1",
    scenario_id: str = "nurse@evening",
    n_tips: int = 3,
    temperature: float = 0.7,
    seed: int = 42,
    job_id: str | None = None,
    key: str | None = None,
) -> CollectCell:
    """A cell of a job (a fresh one unless named); every field a test does not name has a
    plain value."""
    job_id = job_id or uuid.uuid4().hex
    return CollectCell(
        job_id=job_id,
        cell_key=key or cell_key(job_id, model, prompt_version, scenario_id),
        experiment=experiment,
        parent_run_id=parent_run_id,
        model=model,
        suite=TIP_V1.suite,
        suite_version=TIP_V1.content_version(),
        prompt_version=prompt_version,
        scenario_id=scenario_id,
        n_tips=n_tips,
        temperature=temperature,
        seed=seed,
        max_model_b=4,
        allow_unknown_size=False,
    )
