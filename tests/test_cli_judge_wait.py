"""`tipbench judge export` right after a job: it waits for the packet the judge bridge is
building, and fails at once when no packet is coming."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import redis

from shared.settings import Settings
from testkit.processes import settings_env
from tests.conftest import wait_until
from tests.test_cli import TIPBENCH, tipbench

pytestmark = pytest.mark.slow


def packet_of_ended_job(settings: Settings, experiment: str, client: redis.Redis[bytes]) -> bytes:
    """Run a one-model job with --watch until it ends; the id of the packet then built."""
    args = ("run", "--models", "tidy:1b", "--n-scenarios", "1", "--experiment", experiment)
    run = tipbench(settings, *args, "--watch")
    assert run.returncode == 0, run.stderr
    latest = settings.key("packet-latest", experiment)
    return wait_until(lambda: client.get(latest), timeout_s=60, what="the packet")


def test_judge_export_waits_for_the_packet_of_a_job_that_just_ended(
    running_stack: Settings, tmp_path: Path
) -> None:
    # Given a job that has just ended, whose packet the judge bridge has not stored yet
    latest = running_stack.key("packet-latest", "cli-wait")
    with redis.Redis.from_url(running_stack.redis_url) as client:
        packet_id = packet_of_ended_job(running_stack, "cli-wait", client)
        client.delete(latest)  # as in the moment between the job's end and the packet
        # When the packet is exported
        stderr = tmp_path / "stderr"
        with stderr.open("w") as err:
            export = subprocess.Popen(
                [TIPBENCH, "judge", "export", "cli-wait", "-o", str(tmp_path / "packet.json")],
                env=os.environ | settings_env(running_stack),
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
            try:
                # Then it says it waits
                wait_until(
                    lambda: "waiting for the judge packet" in stderr.read_text(),
                    timeout_s=60,
                    what="the waiting line",
                )
                # ... and writes the packet once the judge bridge has stored it
                client.set(latest, packet_id)
                assert export.wait(timeout=60) == 0, stderr.read_text()
            finally:
                export.kill()
    assert (tmp_path / "packet.json").exists()


def test_judge_export_fails_at_once_when_no_packet_is_coming(running_stack: Settings) -> None:
    # Given an experiment no job has run in
    # When its packet is exported, Then the "not yet" is answered without waiting
    nothing = tipbench(running_stack, "judge", "export", "cli-no-jobs")
    assert nothing.returncode == 2
    assert "no judge packet yet" in nothing.stderr and "waiting" not in nothing.stderr

    # Given a job that ended, and a packet that is gone (expired): another 404
    with redis.Redis.from_url(running_stack.redis_url) as client:
        packet_of_ended_job(running_stack, "cli-gone", client)
        client.set(running_stack.key("packet-latest", "cli-gone"), "expired0packet")
    # When it is exported, Then it fails at once, naming the packet
    gone = tipbench(running_stack, "judge", "export", "cli-gone")
    assert gone.returncode == 2
    assert "expired0packet" in gone.stderr and "waiting" not in gone.stderr
