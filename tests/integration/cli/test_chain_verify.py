"""``kprgw chain verify`` on the real Redis: chains written by the ledger's commit, then one
link tampered with."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator, Sequence

import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from typer.testing import CliRunner

from kpr_gateway.cli.chain import app
from kpr_gateway.ledger import BatchMessage, ChainCommit, ChainLink, KeySpace, Ledger, NewEvent
from kpr_gateway.messages.iplos_kpr import ChainHead

REDIS_URL = "redis://127.0.0.1:6379/0"
TENANT = "bergen"


@pytest.fixture
def prefix() -> Iterator[str]:
    value = f"test-{uuid.uuid4().hex[:8]}"
    yield value
    client = SyncRedis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{value}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def write_chain(prefix: str, municipality: str, batches: Sequence[int]) -> list[str]:
    """Commit ``batches`` (their sizes) to the municipality's chain as transform does."""

    async def commit_all() -> list[str]:
        redis = Redis.from_url(REDIS_URL)
        ledger = Ledger(redis, keys=KeySpace(prefix))
        written: list[str] = []
        try:
            for size in batches:
                ids = [str(uuid.uuid4()) for _ in range(size)]
                new = [NewEvent(e, f"hash-{e}") for e in ids]
                await ledger.register_events(TENANT, new, trace_id=None)
                head = await ledger.chain_head(TENANT, municipality)
                links, previous = [], str(head.guid)
                for offset, event_id in enumerate(ids, start=1):
                    links.append(ChainLink(event_id, head.seq + offset, previous, "N", None))
                    previous = event_id
                committed = await ledger.commit_batch(
                    TENANT,
                    batch_id=str(uuid.uuid4()),
                    event_ids=ids,
                    messages=[BatchMessage(str(uuid.uuid4()), "KPR_IPL", b"<MsgHead/>")],
                    trace_id=None,
                    traceparent=None,
                    chain=ChainCommit(municipality, head, links),
                )
                assert committed.committed
                written += ids
        finally:
            await redis.aclose()
        return written

    return asyncio.run(commit_all())


def verify(prefix: str, *args: str) -> tuple[int, str, str]:
    base = ["verify", "--tenant", TENANT, "--redis-url", REDIS_URL, "--key-prefix", prefix]
    result = CliRunner().invoke(app, [*base, *args])
    return result.exit_code, result.stdout, result.stderr


def test_whole_chains_report_their_length_and_head(prefix: str) -> None:
    oslo = write_chain(prefix, "0301", [3, 2])
    bergen = write_chain(prefix, "4601", [4])
    code, stdout, stderr = verify(prefix, "--page", "2")
    assert code == 0, stderr
    assert stdout.splitlines() == [
        f"0301: length 5, head seq 5 guid {oslo[-1]}, ok",
        f"4601: length 4, head seq 4 guid {bergen[-1]}, ok",
    ]
    code, stdout, _ = verify(prefix, "--municipality", "4601")
    assert code == 0
    assert stdout.splitlines() == [f"4601: length 4, head seq 4 guid {bergen[-1]}, ok"]
    code, stdout, _ = verify(prefix, "--json")
    assert code == 0
    assert json.loads(stdout) == {
        "tenant": TENANT,
        "ok": True,
        "chains": [
            {
                "municipality": "0301",
                "length": 5,
                "head": {"seq": 5, "guid": oslo[-1]},
                "ok": True,
                "problem": None,
                "problem_seq": None,
            },
            {
                "municipality": "4601",
                "length": 4,
                "head": {"seq": 4, "guid": bergen[-1]},
                "ok": True,
                "problem": None,
                "problem_seq": None,
            },
        ],
    }


def test_a_tampered_link_is_the_first_problem(prefix: str) -> None:
    oslo = write_chain(prefix, "0301", [3, 3])
    write_chain(prefix, "4601", [2])
    forged = str(uuid.uuid4())
    client = SyncRedis.from_url(REDIS_URL)
    try:
        client.hset(KeySpace(prefix).event(TENANT, oslo[3]), "prev", forged)
    finally:
        client.close()
    code, stdout, stderr = verify(prefix, "--page", "2")
    assert code == 1
    assert stdout.splitlines()[0].startswith("0301: length 6, head seq 6 guid ")
    assert "BROKEN at seq 4" in stdout
    assert stdout.splitlines()[1].endswith(", ok")  # the other municipality is whole
    assert stderr.startswith("error: the chain of municipality 0301 breaks at seq 4: ")
    assert oslo[3] in stderr
    assert forged in stderr
    code, stdout, _ = verify(prefix, "--json")
    assert code == 1
    report = json.loads(stdout)
    assert report["ok"] is False
    assert report["chains"][0]["problem_seq"] == 4
    assert oslo[3] in report["chains"][0]["problem"]


def test_a_gap_in_the_log_is_found(prefix: str) -> None:
    oslo = write_chain(prefix, "0301", [4])
    client = SyncRedis.from_url(REDIS_URL)
    try:
        client.delete(KeySpace(prefix).event(TENANT, oslo[1]))  # seq 2 lost
    finally:
        client.close()
    code, _, stderr = verify(prefix)
    assert code == 1
    assert "breaks at seq 2" in stderr
    assert "not in the ledger" in stderr


def test_a_tenant_without_chains_has_nothing_to_report(prefix: str) -> None:
    code, stdout, _ = verify(prefix)
    assert code == 0
    assert stdout.strip() == f"tenant {TENANT}: no chains (nothing numbered yet)"
    code, stdout, _ = verify(prefix, "--municipality", "0301")
    assert code == 0
    assert stdout.strip() == f"0301: length 0, head seq 0 guid {ChainHead().guid}, ok"


def test_redis_and_prefix_come_from_the_services_variables(prefix: str) -> None:
    oslo = write_chain(prefix, "0301", [2])
    result = CliRunner().invoke(
        app,
        ["verify", "--tenant", TENANT],
        env={"KPRGW_REDIS_URL": REDIS_URL, "KPRGW_KEY_PREFIX": prefix},
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == f"0301: length 2, head seq 2 guid {oslo[-1]}, ok"


def test_usage_errors_and_an_unreachable_ledger_exit_2(prefix: str) -> None:
    assert verify(prefix, "--municipality", "oslo")[0] == 2
    result = CliRunner().invoke(app, ["verify", "--tenant", TENANT, "--redis-url", "nope://x"])
    assert result.exit_code == 2
    assert "--redis-url" in result.stderr
    result = CliRunner().invoke(
        app, ["verify", "--tenant", TENANT, "--redis-url", "redis://127.0.0.1:1/0"]
    )
    assert result.exit_code == 2
    assert "the ledger cannot be read" in result.stderr
    assert CliRunner().invoke(app, ["verify"]).exit_code == 2
