"""Gather an experiment's candidates for the judges and build its current blind packet."""

from __future__ import annotations

from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from shared import tracking
from shared.contracts import Candidate, JudgePacket, PacketScenario
from shared.judging import assemble_packet
from shared.stores.packets import PacketStore
from shared.stores.suites import SuiteStore
from shared.suite import Suite
from shared.suite_files import DEFAULT_SUITE


def suite_of(suites: SuiteStore, run: Run) -> Suite:
    """The exact suite version a cell run rendered from (tip-v1 for runs older than suites)."""
    name = run.data.params.get("suite")
    if name is None:
        return suites.get(DEFAULT_SUITE)
    return suites.get(name, run.data.params.get("suite_version"))


def candidate_of(client: MlflowClient, run: Run, suite: Suite) -> Candidate:
    """What a judge sees of a run: its scenario and its answer (from candidates.json)."""
    target = suite.scenario(run.data.params["scenario_id"])
    answer = tracking.read_cell_part(client, run, tracking.CANDIDATES_ARTIFACT)
    return Candidate(
        scenario=PacketScenario(
            id=target.id,
            vars=dict(target.vars),
            n_tips=int(run.data.params["n_tips"]),
            word_limit=suite.checks.word_limit,
        ),
        answer=str(answer["answer"]),
        tips=[str(tip) for tip in answer["tips"]],
    )


def build_packet(
    client: MlflowClient, store: PacketStore, suites: SuiteStore, experiment: str
) -> JudgePacket | None:
    """Pool the experiment's new runs, then packet every run no judge has scored yet.

    None if no run waits for a judge. The experiment's runs share one suite version (the
    gateway sees to it), so its rubric is the experiment's.
    """
    found = tracking.find_experiment(client, experiment)
    if found is None:
        return None
    runs = [
        run
        for run in tracking.search_runs(
            client, str(found.experiment_id), f"tags.{tracking.TAG_KIND} = 'cell'"
        )
        if run.info.status == tracking.RUN_FINISHED
    ]
    if not runs:
        return None
    suite = suite_of(suites, runs[0])
    pool = store.candidates(experiment)
    new = {
        run.info.run_id: candidate_of(client, run, suite)
        for run in runs
        if run.info.run_id not in pool
    }
    store.add_candidates(experiment, new, suite.rubric)
    store.add_rows(
        experiment,
        {
            run.info.run_id: (
                run.data.params["model"],
                run.data.params["prompt_version"],
                run.data.params["scenario_id"],
            )
            for run in runs
        },
    )
    pool |= new
    pending = {
        run.info.run_id: pool[run.info.run_id]
        for run in runs
        if run.data.tags.get(tracking.TAG_JUDGE_PENDING) == "true"
    }
    if not pending:
        return None
    packet, item_runs = assemble_packet(experiment, pending, judge_id=None, rubric=suite.rubric)
    store.save(packet, item_runs, latest=True)
    return packet


def record_packet(client: MlflowClient, parent_run_id: str, packet: JudgePacket) -> None:
    """Attach the packet to the job's parent run (the mapping stays off the packet)."""
    client.log_dict(parent_run_id, packet.model_dump(mode="json"), f"judge/{packet.packet_id}.json")
