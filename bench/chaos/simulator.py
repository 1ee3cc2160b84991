"""The simulator's side of a chaos run: its counters (it is never restarted, so they cover the
whole run), read from its metrics."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from kpr_gateway.cli.local_processes import SIMULATOR, LocalRun, ops_port


async def counters(client: httpx.AsyncClient, run: LocalRun) -> dict[str, float]:
    """``kprgw_simulator_*_total`` by name and labels (summed over the receiver queues, which
    a run's prefix names): received, answered by status, transport errors, unanswered by
    reason, duplicate answers."""
    answer = await client.get(f"http://127.0.0.1:{ops_port(run.processes[SIMULATOR].port)}/metrics")
    answer.raise_for_status()
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(answer.text):
        if family.type != "counter" or not family.name.startswith("kprgw_simulator_"):
            continue
        for sample in family.samples:
            if not sample.name.endswith("_total"):
                continue
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()) if k != "queue")
            name = sample.name.removeprefix("kprgw_simulator_").removesuffix("_total")
            key = f"{name}{{{labels}}}" if labels else name
            found[key] = found.get(key, 0.0) + sample.value
    return found
