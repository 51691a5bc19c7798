"""Gather an experiment's candidates for the judges and build its current blind packet."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from shared import tracking
from shared.judging import Candidate, JudgePacket, PacketScenario, PacketStore, assemble_packet
from shared.suite import scenario


def candidate_of(client: MlflowClient, run: Run) -> Candidate:
    """What a judge sees of a run: its scenario and its answer (from candidates.json)."""
    target = scenario(run.data.params["scenario_id"])
    with tempfile.TemporaryDirectory(prefix="tipbench-packet-") as folder:
        path = client.download_artifacts(run.info.run_id, "candidates.json", folder)
        answer = json.loads(Path(path).read_text("utf-8"))
    return Candidate(
        scenario=PacketScenario(
            persona=target.persona.name,
            persona_description=target.persona.description,
            time_slot=target.time_slot.label,
            n_tips=int(run.data.params["n_tips"]),
        ),
        answer=str(answer["answer"]),
        tips=[str(tip) for tip in answer["tips"]],
    )


def build_packet(client: MlflowClient, store: PacketStore, experiment: str) -> JudgePacket | None:
    """Pool the experiment's new runs, then packet every run no judge has scored yet.

    None if no run waits for a judge.
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
    pool = store.candidates(experiment)
    new = {
        run.info.run_id: candidate_of(client, run) for run in runs if run.info.run_id not in pool
    }
    store.add_candidates(experiment, new)
    pool |= new
    pending = {
        run.info.run_id: pool[run.info.run_id]
        for run in runs
        if run.data.tags.get(tracking.TAG_JUDGE_PENDING) == "true"
    }
    if not pending:
        return None
    packet, item_runs = assemble_packet(experiment, pending, judge_id=None)
    store.save(packet, item_runs, latest=True)
    return packet


def record_packet(client: MlflowClient, parent_run_id: str, packet: JudgePacket) -> None:
    """Attach the packet to the job's parent run (the mapping stays off the packet)."""
    client.log_dict(parent_run_id, packet.model_dump(mode="json"), f"judge/{packet.packet_id}.json")
