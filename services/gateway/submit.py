"""Turn a bench request into a job (its record and one message per cell); retry cells.

The API routes and the admin pages both call these; they take plain values and the
gateway's clients, never a Flask request. A submission touches Redis alone once its
experiment's suite is known (MLflow is asked once per experiment, or after Redis lost the
claim): the job's MLflow parent run is opened by the recorder (OpenJobRun).
"""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

from redis.lock import Lock

from services.gateway.checks import parse
from services.gateway.deps import GatewayDeps
from services.gateway.prompts import register_prompts, resolve_registry_prompt
from services.gateway.sizes import model_problems
from shared import tracking
from shared.contracts import BenchRequest, CollectCell, SuiteRecord, cell_key, is_registry_prompt
from shared.contracts.jobs import Submitted
from shared.contracts.messages import OpenJobRun
from shared.errors import InvalidRequest, ModelRefused, SuiteMismatch, SuiteNotFound, TooManyCells
from shared.hosts import GenerationHost, assign_hosts
from shared.messaging import send
from shared.model_names import LLM_JUDGE_PREFIX, parse_model
from shared.settings import Settings
from shared.suite import Suite


def choose(request: BenchRequest, suite: Suite) -> BenchRequest:
    """The request made explicit against its suite: suite@version, every prompt, scenario
    and n_tips spelled out; InvalidRequest naming each field the suite does not have."""
    problems: list[dict[str, str]] = []
    known_prompts = [p.version for p in suite.prompts]
    prompts = request.prompts or known_prompts
    for index, name in enumerate(prompts):
        if not is_registry_prompt(name) and name not in known_prompts:
            problems.append(
                {
                    "field": f"prompts.{index}",
                    "message": f"suite {suite.suite} has no prompt version {name!r};"
                    f" it has {known_prompts}",
                }
            )
    known_scenarios = [s.id for s in suite.scenarios]
    if request.scenarios is not None:
        scenarios = request.scenarios
        for index, name in enumerate(scenarios):
            if name not in known_scenarios:
                problems.append(
                    {
                        "field": f"scenarios.{index}",
                        "message": f"suite {suite.suite} has no scenario {name!r}",
                    }
                )
    else:
        wanted = request.n_scenarios or len(known_scenarios)
        if wanted > len(known_scenarios):
            problems.append(
                {
                    "field": "n_scenarios",
                    "message": f"suite {suite.suite} has {len(known_scenarios)} scenarios,"
                    f" not {wanted}",
                }
            )
        scenarios = known_scenarios[:wanted]
    if problems:
        summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        raise InvalidRequest(f"invalid request: {summary}", problems)
    return request.model_copy(
        update={
            "suite": f"{suite.suite}@{suite.content_version()}",
            "prompts": list(prompts),
            "scenarios": list(scenarios),
            "n_scenarios": None,
            "n_tips": request.n_tips or suite.checks.n_tips,
        }
    )


def cell_count(request: BenchRequest) -> int:
    """How many cells an explicit request (see `choose`) makes."""
    cells = len(request.models) * len(request.prompts or ()) * len(request.scenarios or ())
    return cells * request.repeats


def host_plan(request: BenchRequest, settings: Settings) -> dict[str, str]:
    """Which generation host runs each model of an explicit request, balanced by cells
    (empty with the one-host default); ModelRefused for a model no host serves."""
    hosts = settings.generation_hosts()
    if not hosts:
        return {}
    return _assign(
        Counter({m: cell_count(request) // len(request.models) for m in request.models}), hosts
    )


def _assign(cells_per_model: Counter[str], hosts: tuple[GenerationHost, ...]) -> dict[str, str]:
    providers = {m: parse_model(m).provider for m in cells_per_model}
    try:
        return assign_hosts(dict(cells_per_model), providers, hosts)
    except ValueError as exc:
        raise ModelRefused(
            f"model refused: {exc}", [{"field": "models", "message": str(exc)}]
        ) from None


def plan_cells(
    job_id: str,
    request: BenchRequest,
    prompt_uris: dict[str, str],
    hosts: dict[str, str] | None = None,
) -> list[CollectCell]:
    """Every cell of an explicit request (each repeat a cell of its own), grouped by model so
    that each model loads once, each on its host (see `host_plan`)."""
    suite, _, version = request.suite.partition("@")
    return [
        CollectCell(
            job_id=job_id,
            cell_key=cell_key(job_id, model, prompt, scenario_id, repeat),
            experiment=request.experiment,
            model=model,
            suite=suite,
            suite_version=version,
            prompt_version=prompt,
            prompt_uri=prompt_uris.get(prompt, prompt),
            scenario_id=scenario_id,
            n_tips=request.n_tips or 0,
            temperature=request.temperature,
            seed=request.seed + repeat,
            repeat=repeat,
            max_model_b=request.max_model_b,
            allow_unknown_size=request.allow_unknown_size,
            declared_params_b=request.sizes.get(model),
            llm_judge=request.judge.removeprefix(LLM_JUDGE_PREFIX) if request.judge else None,
            host=(hosts or {}).get(model, ""),
        )
        for model in request.models
        for prompt in request.prompts or ()
        for scenario_id in request.scenarios or ()
        for repeat in range(request.repeats)
    ]


def enqueue_lock(deps: GatewayDeps) -> Lock:
    """The lock under which cells are enqueued: two jobs submitted together never
    interleave their models, and an experiment's room is counted and taken at once. It is
    held for a few Redis calls, so a waiter asks again every millisecond."""
    return deps.redis.lock(
        deps.settings.key("enqueue-lock"), timeout=60, blocking_timeout=60, sleep=0.001
    )


def enqueue_cells(deps: GatewayDeps, cells: list[CollectCell]) -> None:
    """Enqueue cells as one block (see `enqueue_lock`)."""
    with enqueue_lock(deps):
        for cell in cells:
            send(deps.broker, cell)


def check_room(deps: GatewayDeps, request: BenchRequest, cells: int) -> None:
    """TooManyCells if the experiment's unfinished jobs and these cells pass its limit."""
    waiting, most = (
        deps.jobs.cells_left(request.experiment),
        deps.settings.max_queued_cells_per_experiment,
    )
    if waiting + cells > most:
        raise TooManyCells(
            f"experiment {request.experiment!r} has {waiting} cells waiting in unfinished jobs;"
            f" {cells} more would pass its limit of {most}: wait for them, or"
            " name another experiment",
            [{"field": "experiment", "message": f"{waiting} cells already waiting"}],
        )


def submit(request: BenchRequest, suite: Suite, deps: GatewayDeps) -> Submitted:
    """Write the job's record, ask the recorder to open its parent run, enqueue its cells
    (an explicit request)."""
    job_id = uuid.uuid4().hex
    claim_experiment_suite(deps, request)
    prompt_uris = deps.suites.prompt_uris(suite, lambda s: register_prompts(deps.mlflow, s))
    hosts = host_plan(request, deps.settings)
    cells = plan_cells(job_id, request, prompt_uris, hosts)
    with enqueue_lock(deps):  # submissions at once cannot all take the last room
        check_room(deps, request, len(cells))
        deps.jobs.create(job_id, request, cells)
        send(deps.broker, OpenJobRun(job_id=job_id))
        for cell in cells:
            send(deps.broker, cell)
    return Submitted(
        job_id=job_id,
        experiment=request.experiment,
        mlflow_experiment=tracking.experiment_name(request.experiment),
        parent_run_id=None,
        suite=request.suite,
        cells=len(cells),
    )


def claim_experiment_suite(deps: GatewayDeps, request: BenchRequest) -> None:
    """An experiment keeps one suite version: the first job's; SuiteMismatch for another.

    The claim is the experiment's MLflow tag, kept in Redis so that only an experiment's
    first submission (or the first after Redis lost it) asks MLflow; two first submissions
    at once are decided by Redis (HSETNX), and the winner's tag is written to MLflow.
    """
    claims = deps.settings.key("experiment-suites")
    current = deps.redis.hget(claims, request.experiment)
    if current is None:
        experiment_id = tracking.ensure_experiment(deps.mlflow, request.experiment)
        tagged = deps.mlflow.get_experiment(experiment_id).tags.get(tracking.TAG_SUITE)
        if tagged is not None:  # MLflow is the truth
            deps.redis.hset(claims, request.experiment, tagged)
        else:
            deps.redis.hsetnx(claims, request.experiment, request.suite)
        current = deps.redis.hget(claims, request.experiment)
        if tagged is None and current == request.suite.encode():
            deps.mlflow.set_experiment_tag(experiment_id, tracking.TAG_SUITE, request.suite)
    claimed = (current or b"").decode()
    if claimed != request.suite:
        raise SuiteMismatch(
            f"experiment {request.experiment!r} uses suite {claimed}, not {request.suite}:"
            " results of two suite versions would mix; name a new experiment",
            [{"field": "suite", "message": f"the experiment uses {claimed}"}],
        )


def resolve_prompts(request: BenchRequest, suite: Suite, deps: GatewayDeps) -> BenchRequest:
    """Registry prompts of an explicit request fixed to a version their scenarios can fill."""
    have = [set(suite.scenario(s).vars) for s in request.scenarios or ()]
    prompts = [
        resolve_registry_prompt(deps.mlflow, name, have, f"prompts.{index}")
        if is_registry_prompt(name)
        else name
        for index, name in enumerate(request.prompts or ())
    ]
    if len(set(prompts)) != len(prompts):
        raise InvalidRequest(
            "invalid request: prompts: two entries name the same registry version",
            [{"field": "prompts", "message": "two entries name the same registry version"}],
        )
    return request.model_copy(update={"prompts": prompts})


def accept_bench_request(body: dict[str, Any], deps: GatewayDeps) -> Submitted:
    """Validate a bench request (fields, its suite, cell limit, model sizes) and submit it."""
    asked = parse(BenchRequest, body)
    try:
        suite = deps.suites.resolve(asked.suite)
    except SuiteNotFound as exc:
        raise InvalidRequest(
            f"invalid request: suite: {exc}", [{"field": "suite", "message": str(exc)}]
        ) from None
    request = choose(asked, suite)
    limit = deps.settings.max_cells_per_job
    if cell_count(request) > limit:
        raise TooManyCells(
            f"the request makes {cell_count(request)} cells; the limit is {limit}",
            [
                {
                    "field": "models",
                    "message": "models x prompts x scenarios x repeats is over the limit",
                }
            ],
        )
    check_room(deps, request, cell_count(request))  # early; taken for good in `submit`
    problems = model_problems(request, deps.settings, host_plan(request, deps.settings))
    if problems:
        summary = "; ".join(p["message"] for p in problems)
        raise ModelRefused(f"model refused: {summary}", problems)
    return submit(resolve_prompts(request, suite, deps), suite, deps)


def store_suite(suite: Suite, deps: GatewayDeps) -> tuple[SuiteRecord, bool]:
    """Store a suite version and register its prompts; (its record, True if new)."""
    return deps.suites.push(suite, lambda s: register_prompts(deps.mlflow, s))


def retry_failed_cells(job_id: str, deps: GatewayDeps) -> list[str]:
    """Put the job's failed cells back in play and enqueue them on their hosts; their keys.

    A cell whose host is no longer configured goes to the host its model is given now."""
    hosts = deps.settings.generation_hosts()
    if hosts:  # refuse before anything changes if no configured host serves a failed model
        _assign(Counter(f.model for f in deps.jobs.get(job_id).failures), hosts)
    cells = deps.jobs.reopen_failed(job_id)
    names = {h.name for h in hosts}
    stranded = Counter(c.model for c in cells if c.host not in names)
    plan = _assign(stranded, hosts) if hosts and stranded else {}
    cells = [
        c if c.host in names else c.model_copy(update={"host": plan.get(c.model, "")})
        for c in cells
    ]
    enqueue_cells(deps, cells)
    return [c.cell_key for c in cells]
