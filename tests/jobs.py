"""A bench job through the running stack, for tests that start from its judge packet."""

from __future__ import annotations

from typing import Any

import httpx

from shared.settings import Settings
from tests.conftest import wait_until
from tests.test_e2e import finished_job


def packet_after_job(
    api: httpx.Client, settings: Settings, request: dict[str, Any], *, timeout_s: float
) -> Any:
    """Post `request`, wait (timeout_s at most) for its job to end, and return the judge
    packet the judge bridge then makes of the experiment's runs."""
    posted = api.post("/api/bench/run", json=request)
    assert posted.status_code == 202, posted.text
    finished_job(api, settings, posted.json()["job_id"], timeout_s=timeout_s)
    path = f"/api/bench/judge/{request['experiment']}/packet"
    return wait_until(
        lambda: (r := api.get(path)).status_code == 200 and r.json(),
        timeout_s=60,
        what="the judge packet",
    )
