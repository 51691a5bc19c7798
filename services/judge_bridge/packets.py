"""Build an experiment's blind judge packet from its runs that wait for a judge."""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path

from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient

from shared import tracking
from shared.judging import (
    INSTRUCTIONS,
    PACKET_SCHEMA,
    JudgePacket,
    PacketItem,
    PacketScenario,
    PacketStore,
    new_id,
    score_file_example,
)
from shared.rubric import load_rubric
from shared.suite import scenario

FINISHED = RunStatus.to_string(RunStatus.FINISHED)


def _candidates(client: MlflowClient, run_id: str) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="tipbench-packet-") as folder:
        path = client.download_artifacts(run_id, "candidates.json", folder)
        return dict(json.loads(Path(path).read_text("utf-8")))


def build_packet(client: MlflowClient, store: PacketStore, experiment: str) -> JudgePacket | None:
    """A new packet of every finished run still waiting for a judge; None if there is none."""
    found = tracking.find_experiment(client, experiment)
    if found is None:
        return None
    runs = [
        run
        for run in tracking.search_runs(
            client,
            str(found.experiment_id),
            f"tags.{tracking.TAG_KIND} = 'cell' and tags.{tracking.TAG_JUDGE_PENDING} = 'true'",
        )
        if run.info.status == FINISHED
    ]
    if not runs:
        return None
    packet_id = new_id()
    items: list[PacketItem] = []
    item_runs: dict[str, str] = {}
    for run in runs:
        target = scenario(run.data.params["scenario_id"])
        candidates = _candidates(client, run.info.run_id)
        item_id = new_id()
        item_runs[item_id] = run.info.run_id
        items.append(
            PacketItem(
                item_id=item_id,
                scenario=PacketScenario(
                    persona=target.persona.name,
                    persona_description=target.persona.description,
                    time_slot=target.time_slot.label,
                    n_tips=int(run.data.params["n_tips"]),
                ),
                answer=str(candidates["answer"]),
                tips=[str(tip) for tip in candidates["tips"]],  # type: ignore[attr-defined]
            )
        )
    # Run order follows models and prompts; shuffling hides that from the judge.
    random.SystemRandom().shuffle(items)
    packet = JudgePacket(
        schema_version=PACKET_SCHEMA,
        packet_id=packet_id,
        experiment=experiment,
        rubric=load_rubric().as_dict(),
        instructions=INSTRUCTIONS,
        score_file_example=score_file_example(packet_id, items[0].item_id),
        items=items,
    )
    store.save(packet, item_runs)
    return packet


def record_packet(client: MlflowClient, parent_run_id: str, packet: JudgePacket) -> None:
    """Attach the packet to the job's parent run (the mapping stays off the packet)."""
    client.log_dict(parent_run_id, packet.model_dump(mode="json"), f"judge/{packet.packet_id}.json")
