"""The chaos load: paced, bounded, and retried as an EPJ would (same body, same event ids)."""

from __future__ import annotations

import json
import time
from collections import Counter

import httpx
import pytest

from bench.batches import prepare
from bench.chaos.load import post_paced

TENANTS = {"bergen": ("key-b", "4601"), "trondheim": ("key-t", "5001")}


class FlakyIntake:
    """Answers each batch's first POST 503, its second with a dropped connection, and then
    per event: 202, except 422 for the first event of each batch."""

    def __init__(self) -> None:
        self.attempts: Counter[bytes] = Counter()
        self.times: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = request.content
        self.attempts[body] += 1
        self.times.append(time.monotonic())
        if self.attempts[body] == 1:
            return httpx.Response(503, json={"error": "unavailable"})
        if self.attempts[body] == 2:
            raise httpx.ConnectError("connection refused", request=request)
        events = json.loads(body)
        results = [
            {"event_id": e["event_id"], "status_code": 422 if i == 0 else 202}
            for i, e in enumerate(events)
        ]
        return httpx.Response(200, json={"results": results})


async def test_retries_send_the_same_events_and_count_only_those_answered_202() -> None:
    batches = prepare(TENANTS, total=40, batch_size=10)
    intake = FlakyIntake()
    result = await post_paced(
        "http://intake.test",
        batches,
        seconds=0.4,
        retry_seconds=10,
        transport=httpx.MockTransport(intake),
    )
    assert set(intake.attempts.values()) == {3}  # the same body three times, per batch
    assert result.retries == {"503": 4, "connection": 4}
    assert result.batches_posted == 4
    expected = {
        tenant: [e for b in batches if b.tenant == tenant for e in b.event_ids[1:]]
        for tenant in TENANTS
    }
    assert {t: sorted(ids) for t, ids in result.accepted.items()} == {
        t: sorted(ids) for t, ids in expected.items()
    }
    assert result.refused == {422: 4}
    assert result.to_json()["accepted"] == 36


async def test_batches_are_paced_over_the_time_limit() -> None:
    batches = prepare(TENANTS, total=40, batch_size=5)
    times: list[float] = []

    def intake(request: httpx.Request) -> httpx.Response:
        times.append(time.monotonic())
        events = json.loads(request.content)
        results = [{"event_id": e["event_id"], "status_code": 202} for e in events]
        return httpx.Response(200, json={"results": results})

    started = time.monotonic()
    result = await post_paced(
        "http://intake.test", batches, seconds=0.8, transport=httpx.MockTransport(intake)
    )
    assert result.accepted_count == 40
    assert times[-1] - started >= 0.8 * 7 / 8 - 0.05  # the last of 8 starts at 7/8 of the time


async def test_a_batch_without_an_answer_by_the_deadline_is_given_up() -> None:
    batches = prepare(TENANTS, total=4, batch_size=2)

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    result = await post_paced(
        "http://intake.test",
        batches,
        seconds=0.1,
        retry_seconds=0.6,
        transport=httpx.MockTransport(down),
    )
    assert result.accepted_count == 0
    assert result.batches_given_up == 2
    assert result.retries["connection"] >= 2


async def test_an_answer_an_epj_would_not_retry_stops_the_load() -> None:
    batches = prepare(TENANTS, total=2, batch_size=1)

    def unauthorised(_: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": "unauthorised"})

    with pytest.raises(RuntimeError, match="answered 401"):
        await post_paced(
            "http://intake.test", batches, seconds=0.1, transport=httpx.MockTransport(unauthorised)
        )
