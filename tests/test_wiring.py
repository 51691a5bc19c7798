"""Actor wiring: every route of the messaging table reaches an actor of that name, on that
queue, in the service that takes it; checked on dramatiq's StubBroker and the real modules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from dramatiq import Message
from dramatiq.brokers.stub import StubBroker

from shared.contracts import CollectCell, JobFinished, RunLlmJudge
from shared.messaging import ROUTES, send
from testkit.cells import a_collect_cell

SERVICES = ("services.collector.actors", "services.judge_bridge.actors", "services.reporter.actors")


def test_send_puts_a_contract_on_the_queue_of_every_actor_that_takes_it() -> None:
    broker = StubBroker()
    broker.emit_after("process_boot")
    for queue in {queue for routes in ROUTES.values() for queue, _ in routes}:
        broker.declare_queue(queue)
    cell = a_collect_cell()
    send(broker, cell)
    send(broker, JobFinished(job_id="j", experiment="e", parent_run_id="p", status="finished"))
    send(broker, RunLlmJudge(experiment="e", model="judge:8b"))

    def messages(queue: str) -> list[Message[Any]]:
        return [Message.decode(raw) for raw in broker.queues[queue].queue]

    queued = {
        queue: [(m.actor_name, m.args[0]["kind"]) for m in messages(queue)]
        for queue in ("collect", "judge", "report")
    }
    assert queued == {
        "collect": [("collect_cell", "collect_cell")],
        "judge": [("build_packet", "job_finished"), ("run_llm_judge", "run_llm_judge")],
        "report": [("rebuild_leaderboard", "job_finished")],
    }
    (message,) = messages("collect")
    assert CollectCell.model_validate(message.args[0]) == cell


def test_every_route_names_an_actor_declared_on_that_queue() -> None:
    # The worker modules set up their broker when imported: read them in a process of their own.
    script = (
        "import importlib, json, sys\n"
        "found = {}\n"
        "for name in sys.argv[1:]:\n"
        "    broker = importlib.import_module(name).broker\n"
        "    found |= {a: broker.get_actor(a).queue_name for a in broker.get_declared_actors()}\n"
        "print(json.dumps(found))\n"
    )
    env = os.environ | {"TIPBENCH_NAMESPACE": "wiring-test", "dramatiq_prom_db": "/tmp/wiring-prom"}
    result = subprocess.run(
        [sys.executable, "-c", script, *SERVICES],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=True,
    )
    declared = json.loads(result.stdout.strip().splitlines()[-1])
    for contract, routes in ROUTES.items():
        for queue, actor in routes:
            assert declared.get(actor) == queue, f"{contract.__name__} -> {actor} on {queue}"
