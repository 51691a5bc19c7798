"""The generation step: render, call the model, parse, check; then hand over to the recorder.

Nothing here waits for MLflow: the generation is kept in Redis and the recorder writes
the run, so the model is never idle while a run is being written.
"""

from __future__ import annotations

import logging
import time
from functools import partial

from services.collector.cells import finish_cell
from services.collector.deps import CollectorDeps, GeneratedCell
from services.collector.parsing import format_ok, overlong, parse_tips
from services.collector.providers import GenerationOptions
from services.collector.session import SIZE_SOURCE
from shared import tracking
from shared.contracts import CollectCell, RecordCell, is_registry_prompt
from shared.errors import TransientError
from shared.messaging import send
from shared.stores.jobs import CellStart
from shared.suite import RenderedPrompt, Suite, render_prompt, render_registry_prompt
from shared.tracking import FACET_PARAM

NUM_CTX = 4096
TOKENS_PER_TIP = 60  # generous: a tip is at most ~30 words

log = logging.getLogger("tipbench.collector")


class _Skipped(Exception):
    """A cell given up: what begin_cell found instead of "go"."""

    def __init__(self, found: CellStart) -> None:
        super().__init__(found)
        self.found = found


def _begin(cell: CollectCell, deps: CollectorDeps, *, turn: bool) -> None:
    """Go on with the cell, or raise _Skipped (see JobStore.begin_cell)."""
    found = deps.jobs.begin_cell(cell, deps.generated_key(cell.cell_key), turn=turn)
    if found != "go":
        raise _Skipped(found)


def generate_cell(cell: CollectCell, deps: CollectorDeps) -> bool:
    """Generate a cell and send it to the recorder; False if there was nothing to generate.

    A cell of a cancelled job is skipped (marked failed as cancelled); a cell already
    done, or generated and waiting for its run, is not generated again; nor is a cell whose
    message another thread of this process holds (the same message delivered twice).
    """
    with deps.session.holding(cell.model, cell.cell_key) as fresh:
        if not fresh:
            return False
        try:
            _begin(cell, deps, turn=False)  # before its suite is read: skipped, it needs none
            generated = _generate(cell, deps)
        except _Skipped as skipped:
            if skipped.found == "cancelled":
                finish_cell(cell, deps, ok=False, error="cancelled")
            elif skipped.found == "generated":
                send(deps.broker, RecordCell(cell=cell))  # the recorder is idempotent
            return False
        deps.keep_generated(cell.cell_key, cell.model, generated)
    send(deps.broker, RecordCell(cell=cell))
    return True


def release_unless_next(deps: CollectorDeps, cell: CollectCell) -> None:
    """After `cell`: unload the resident model unless a cell in hand or the next queued
    cell uses it, or cells of it in the cell's job have yet to reach the collector (the
    gateway enqueues a job's cells one by one: a fast model can empty the queue before
    the last of them is in)."""
    resident = deps.session.resident_model()
    if (
        resident is not None
        and not deps.session.held(resident)
        and deps.queues.next_queued_model() != resident
        and not (cell.model == resident and deps.jobs.more_to_take(cell.job_id, resident))
    ):
        try:
            deps.session.release_if_idle(resident)
        except TransientError as exc:
            # The cell is done either way: the model stays the resident one, and the next
            # load of another model unloads it first (ModelSession.release).
            log.warning("unloading %s after cell %s failed: %s", resident, cell.cell_key, exc)


def render_cell(cell: CollectCell, suite: Suite, deps: CollectorDeps) -> RenderedPrompt:
    """The chat messages of a cell, from its exact suite version (or registry prompt)."""
    if is_registry_prompt(cell.prompt_version):
        template = deps.registry_template(cell.prompt_version)
        return render_registry_prompt(template, suite, cell.scenario_id, cell.n_tips)
    return render_prompt(suite, cell.prompt_version, cell.scenario_id, cell.n_tips)


def _generate(cell: CollectCell, deps: CollectorDeps) -> GeneratedCell:
    suite = deps.suites.get(cell.suite, cell.suite_version)
    target = suite.scenario(cell.scenario_id)
    prompt = render_cell(cell, suite, deps)
    options = GenerationOptions(
        temperature=cell.temperature,
        seed=cell.seed,
        num_predict=TOKENS_PER_TIP * cell.n_tips + 64,
        num_ctx=NUM_CTX,
    )
    with deps.session.generating(
        cell.model,
        max_model_b=cell.max_model_b,
        allow_unknown_size=cell.allow_unknown_size,
        declared_b=cell.declared_params_b,
        # checked again when its turn comes: its job may have been cancelled meanwhile
        admit=partial(_begin, cell, deps, turn=True),
    ) as resident:
        started = time.perf_counter()
        generation = deps.session.provider(resident.ref).generate(
            resident.ref.name, prompt.messages, options
        )
        latency_s = time.perf_counter() - started
    rubric = suite.rubric
    parsed = parse_tips(generation.text)
    info = resident.info
    params: dict[str, object] = {
        "model": cell.model,
        "provider": resident.ref.provider,
        "prompt_version": cell.prompt_version,
        "prompt_uri": cell.prompt_uri or "unregistered",
        "prompt_sha256": prompt.sha256,
        "scenario_id": target.id,
        **{f"{FACET_PARAM}{name}": value for name, value in target.facets.items()},
        "temperature": cell.temperature,
        "n_tips": cell.n_tips,
        "seed": cell.seed,
        "repeat": cell.repeat,
        "num_predict": options.num_predict,
        "num_ctx": options.num_ctx,
        "suite": cell.suite,
        "suite_version": cell.suite_version,
        "model_digest": info.digest or "unknown",
        "provider_version": info.server_version or "unknown",
        "quantization": info.quantization or "unknown",
        "parameter_count_b": info.params_b if info.params_b else "unknown",
        "parameter_count_source": info.details.get(
            SIZE_SOURCE, "provider" if info.params_b else "unknown"
        ),
    }
    metrics = {
        "latency_s": latency_s,
        "load_s": generation.load_s,
        "prompt_eval_s": generation.prompt_eval_s,
        "generation_s": generation.generation_s,
        "prompt_tokens": generation.prompt_tokens,
        "completion_tokens": generation.completion_tokens,
        "tokens_per_s": generation.tokens_per_s,
        "n_tips_parsed": len(parsed.tips),
        "auto_format_ok": int(format_ok(parsed, cell.n_tips)),
        "auto_overlong": int(overlong(parsed, suite.checks.word_limit)),
    }
    return GeneratedCell(
        params={k: str(v) for k, v in params.items()},
        metrics={k: float(v) for k, v in metrics.items()},
        artifacts={
            tracking.PROMPT_ARTIFACT: prompt.messages,
            tracking.CANDIDATES_ARTIFACT: {
                "answer": generation.text,
                "tips": parsed.tips,
                "other_lines": parsed.other_lines,
            },
            tracking.RAW_RESPONSE_ARTIFACT: generation.raw,
            tracking.RUBRIC_ARTIFACT: rubric.as_dict(),
        },
    )
