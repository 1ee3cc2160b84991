"""The annual submission API on the in-memory bus and fakeredis: submit, refuse, resend rules,
size limits, scopes, spooling, and publishing again what was never confirmed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fakeredis import FakeAsyncRedis

from kpr_gateway.cli.demo.world import DemoWorld, create_world
from kpr_gateway.intake.annual_api import AnnualOptions, AnnualSubmitter
from kpr_gateway.intake.app import Intake, IntakeLimits, create_app
from kpr_gateway.intake.audit import AuditLog
from kpr_gateway.intake.ratelimit import RateLimiter
from kpr_gateway.ledger import Ledger, ReceiptOutcome
from kpr_gateway.messages.msghead import document_bytes, parse_msghead
from kpr_gateway.messages.packing import Packing
from kpr_gateway.observability.metrics import ServiceMetrics
from kpr_gateway.pipeline import MESSAGES, Delivery, MemoryBroker, MemoryBus, PublishError
from kpr_gateway.pipeline.contracts import BuiltMessage
from kpr_gateway.tenancy import load_tenants
from tests.unit.intake.harness import Clock, captured_logs

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "annual"
IPLOS = (EXAMPLES / "bergen-2025-iplos.xml").read_bytes()
IDENT = (EXAMPLES / "bergen-2025-ident.xml").read_bytes()


class FlakyBus(MemoryBus):
    refuse = False
    confirms_left: int | None = None
    """When set: this many publishes are confirmed, then every one is refused."""

    async def publish(
        self, queue: str, body: bytes, *, message_id: str, headers: Any = None
    ) -> None:
        if self.confirms_left is not None:
            if self.confirms_left == 0:
                raise PublishError("broker did not confirm (test)")
            self.confirms_left -= 1
        if self.refuse:
            raise PublishError("broker did not confirm (test)")
        await super().publish(queue, body, message_id=message_id, headers=headers)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DemoWorld:
    return create_world(tmp_path_factory.mktemp("world"))


@pytest.fixture(scope="module")
def tenants_file(world: DemoWorld) -> Path:
    """The demo world's tenants; bergen's client may submit annually, trondheim's may not."""
    document = yaml.safe_load(world.tenants_file.read_text())
    scopes = {"bergen": ["submit", "read", "annual"], "trondheim": ["submit", "read"]}
    for tenant in document["tenants"]:
        tenant["epj_clients"][0]["scopes"] = scopes[tenant["id"]]
    path = world.tenants_file.with_name("tenants-annual.yaml")
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def production_tenants_file(tenants_file: Path) -> Path:
    """The same tenants, bergen sending to KPR in production."""
    document = yaml.safe_load(tenants_file.read_text())
    document["tenants"][0]["environment"] = "production"
    path = tenants_file.with_name("tenants-annual-production.yaml")
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@dataclass
class Annual:
    client: httpx.AsyncClient
    bus: FlakyBus
    ledger: Ledger
    spool: Path
    published: list[BuiltMessage] = field(default_factory=list)
    app: Any = None

    async def record(self, delivery: Delivery) -> None:
        self.published.append(BuiltMessage.from_body(delivery.body))

    async def submit(
        self,
        tenant: str = "bergen",
        *,
        iplos: bytes = IPLOS,
        ident: bytes = IDENT,
        form: dict[str, str] | None = None,
    ) -> httpx.Response:
        response = await self.client.post(
            "/v1/annual-submissions",
            headers=self.auth(tenant),
            files={"iplos": ("b.xml", iplos, "text/xml"), "ident": ("i.xml", ident, "text/xml")},
            data={"year": "2025", **(form or {})},
        )
        await self.bus.wait_settled()
        return response

    def auth(self, tenant: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[tenant]}"}

    keys: dict[str, str] = field(default_factory=dict)

    async def answer(self, msg_id: str, status_code: int) -> None:
        outcome = ReceiptOutcome(
            kind="apprec",
            received_at=datetime.now(UTC),
            status_code=status_code,
            status_text="OK" if status_code == 1 else "Avvist",
            errors=[] if status_code == 1 else [{"code": "X1", "text": "avvist (test)"}],
        )
        await self.ledger.record_receipt("bergen", msg_id, outcome, trace_id=None)


async def _annual(
    tenants_file: Path, world: DemoWorld, spool: Path, options: AnnualOptions
) -> AsyncIterator[Annual]:
    broker = MemoryBroker(delay_scale=0)
    bus = FlakyBus(service_name="intake", broker=broker)
    consumer = MemoryBus(service_name="envelope", broker=broker)
    redis = FakeAsyncRedis()
    ledger = Ledger(redis)
    app = create_app(
        tenants=load_tenants(tenants_file),
        ledger=ledger,
        bus=bus,
        limiter=RateLimiter(redis, per_second=1000, clock=Clock()),
        limits=IntakeLimits(max_batch_events=50, max_body_bytes=64 * 1024, chunk_events=10),
        metrics=ServiceMetrics("intake"),
        annual=options,
    )
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake")
    annual = Annual(client, bus, ledger, spool, keys=dict(world.api_keys), app=app)
    consumer.subscribe(MESSAGES, annual.record)
    await bus.start()
    await consumer.start()
    try:
        yield annual
    finally:
        await client.aclose()
        await consumer.stop()
        await bus.stop()


@pytest.fixture
async def in_production(
    production_tenants_file: Path, world: DemoWorld, tmp_path: Path
) -> AsyncIterator[Annual]:
    """intake for bergen in production (its test submissions go to KPR Validering)."""
    spool = tmp_path / "spool"
    options = AnnualOptions(spool_dir=spool, max_file_bytes=1024 * 1024)
    async for running in _annual(production_tenants_file, world, spool, options):
        yield running


@pytest.fixture
async def annual(tenants_file: Path, world: DemoWorld, tmp_path: Path) -> AsyncIterator[Annual]:
    spool = tmp_path / "spool"
    options = AnnualOptions(
        spool_dir=spool, max_file_bytes=1024 * 1024, republish_after=timedelta(0)
    )
    async for running in _annual(tenants_file, world, spool, options):
        yield running


async def test_a_clean_year_is_checked_recorded_and_both_messages_published(
    annual: Annual,
) -> None:
    response = await annual.submit()
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "sending"
    assert body["year"] == 2025
    assert body["environment"] == "validation"
    assert body["report"]["sendable"] is True
    assert body["report"]["persons"] == 40
    assert response.headers["location"] == f"/v1/annual-submissions/{body['submission_id']}"
    assert [m["msg_type"] for m in body["messages"]] == ["KPR_IPL", "KPR_IDE"]

    published: dict[str, BuiltMessage] = {m.msg_type: m for m in annual.published}
    assert sorted(published) == ["KPR_IDE", "KPR_IPL"]
    for msg_type, original in (("KPR_IPL", IPLOS), ("KPR_IDE", IDENT)):
        message = published[msg_type]
        assert str(message.submission_id) == body["submission_id"]
        assert message.event_ids == []
        head = parse_msghead(message.document)
        assert head.msg_type == msg_type
        assert head.packing is Packing.BASE64_ZIP
        assert head.receiver.service is not None
        assert head.receiver.service.her_id == "171479"
        assert document_bytes(head) == original
    # the spooled files are gone
    assert list(annual.spool.iterdir()) == []

    read = await annual.client.get(body["links"]["self"], headers=annual.auth("bergen"))
    assert read.status_code == 200
    assert read.json()["status"] == "sending"
    listed = await annual.client.get(
        "/v1/annual-submissions", params={"year": 2025}, headers=annual.auth("bergen")
    )
    assert [s["submission_id"] for s in listed.json()["submissions"]] == [body["submission_id"]]
    # national ids of the ident file appear nowhere in the answers
    assert "03064743790" not in read.text + listed.text + response.text


async def test_the_status_follows_kpr_ipl_and_shows_the_apprec(annual: Annual) -> None:
    body = (await annual.submit()).json()
    ipl, _ide = (m["msg_id"] for m in body["messages"])
    await annual.answer(ipl, 2)
    read = (await annual.client.get(body["links"]["self"], headers=annual.auth("bergen"))).json()
    assert read["status"] == "rejected"
    assert read["messages"][0]["receipt"]["errors"][0]["code"] == "X1"
    assert read["messages"][1]["state"] == "built"


async def test_a_second_submission_while_one_waits_for_its_apprec_is_409(annual: Annual) -> None:
    first = (await annual.submit()).json()
    sent = len(annual.published)
    second = await annual.submit()
    assert second.status_code == 409
    assert second.json()["details"][0] == {
        "submission_id": first["submission_id"],
        "rule": "pending",
    }
    assert len(annual.published) == sent


async def test_after_an_acknowledged_year_a_new_one_needs_replace_and_a_reason(
    annual: Annual,
) -> None:
    first = (await annual.submit()).json()
    await annual.answer(first["messages"][0]["msg_id"], 1)
    sent = len(annual.published)

    plain = await annual.submit()
    assert plain.status_code == 409
    assert plain.json()["details"][0]["rule"] == "replace_required"
    without_reason = await annual.submit(form={"replace": "true"})
    assert without_reason.status_code == 422
    assert without_reason.json()["details"] == [
        {"field": "reason", "reason": "required with replace"}
    ]
    assert len(annual.published) == sent

    with captured_logs() as logs:
        replaced = await annual.submit(
            form={"replace": "true", "reason": "corrected service codes, agreed"}
        )
    assert replaced.status_code == 201, replaced.text
    body = replaced.json()
    assert body["replaces"] == first["submission_id"]
    assert body["replace_reason"] == "corrected service codes, agreed"
    (record,) = [line for line in logs.audit() if line["audit_event"] == "annual_replaced"]
    assert record["replaces"] == first["submission_id"]
    assert record["submission_id"] == body["submission_id"]
    assert record["outcome"] == "allowed"
    assert record["client"] == "bergen-epj"
    assert len(annual.published) == sent + 2


async def test_after_a_rejected_year_a_new_one_is_allowed(annual: Annual) -> None:
    first = (await annual.submit()).json()
    await annual.answer(first["messages"][0]["msg_id"], 2)
    again = await annual.submit()
    assert again.status_code == 201
    assert again.json()["replaces"] is None


async def test_a_refused_check_keeps_its_report_and_sends_nothing(annual: Annual) -> None:
    orphanless = IDENT.replace(b'<PasientIdent pid="100002" fid="31081150993" typeID="1"/>', b"")
    assert orphanless != IDENT
    response = await annual.submit(ident=orphanless)
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "refused"
    assert body["messages"] == []
    (finding,) = body["report"]["findings"]
    assert finding == {
        "rule": "ident-missing",
        "severity": "error",
        "count": 1,
        "examples": ["100002"],
    }
    assert annual.published == []
    # a refused one does not stand in the way, and is still listed with its report
    assert (await annual.submit()).status_code == 201
    listed = await annual.client.get(
        "/v1/annual-submissions", params={"year": 2025}, headers=annual.auth("bergen")
    )
    assert [s["status"] for s in listed.json()["submissions"]] == ["refused", "sending"]


async def test_a_message_over_the_nhn_limit_refuses_the_submission(
    tenants_file: Path, world: DemoWorld, tmp_path: Path
) -> None:
    options = AnnualOptions(spool_dir=tmp_path, max_nhn_message_bytes=2048)
    async for annual in _annual(tenants_file, world, tmp_path, options):
        body = (await annual.submit()).json()
        assert body["status"] == "refused"
        assert body["report"]["sendable"] is True
        assert "over the NHN message limit of 2048 bytes" in body["refusal_reason"]
        assert annual.published == []


async def test_inline_packing_is_a_setting(
    tenants_file: Path, world: DemoWorld, tmp_path: Path
) -> None:
    options = AnnualOptions(spool_dir=tmp_path, packing=(Packing.INLINE, Packing.BASE64_ZIP))
    async for annual in _annual(tenants_file, world, tmp_path, options):
        assert (await annual.submit()).status_code == 201
        packings = {m.msg_type: parse_msghead(m.document).packing for m in annual.published}
        assert packings == {"KPR_IPL": Packing.INLINE, "KPR_IDE": Packing.BASE64_ZIP}


async def test_a_refused_check_wins_over_a_packing_that_failed_beside_it(
    tenants_file: Path, world: DemoWorld, tmp_path: Path
) -> None:
    """The messages are built while the check runs: for a file that is not XML the inline
    packing fails, but the answer is the check's refusal, not an error."""
    options = AnnualOptions(spool_dir=tmp_path, packing=(Packing.INLINE, Packing.INLINE))
    async for annual in _annual(tenants_file, world, tmp_path, options):
        response = await annual.submit(iplos=b"<IPLOS>not closed")
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["status"] == "refused"
        assert body["refusal_reason"] is None
        assert "xsd" in [f["rule"] for f in body["report"]["findings"]]
        assert annual.published == []
        assert list(tmp_path.iterdir()) == []  # the spooled files are gone


async def test_the_annual_scope_is_needed_to_submit_and_read_or_annual_to_read(
    annual: Annual,
) -> None:
    refused = await annual.submit("trondheim")
    assert refused.status_code == 403
    listed = await annual.client.get("/v1/annual-submissions", headers=annual.auth("trondheim"))
    assert listed.status_code == 200
    assert listed.json() == {"submissions": []}
    body = (await annual.submit()).json()
    other = await annual.client.get(body["links"]["self"], headers=annual.auth("trondheim"))
    assert other.status_code == 404


@pytest.mark.parametrize(
    ("change", "status", "field_name"),
    [
        ({"year": "20x5"}, 422, "year"),
        ({"year": "1999"}, 422, "year"),
        ({"environment": "production"}, 422, "environment"),
        ({"environment": "communication-test"}, 422, "environment"),
        ({"environment": "moon"}, 422, "environment"),
        ({"replace": "perhaps"}, 422, "replace"),
        ({"replace": "true", "reason": "see 01017012345"}, 422, "reason"),
    ],
)
async def test_form_fields_are_checked(
    annual: Annual, change: dict[str, str], status: int, field_name: str
) -> None:
    response = await annual.submit(form=change)
    assert response.status_code == status
    assert field_name in {d["field"] for d in response.json()["details"]}
    assert "01017012345" not in response.text
    assert list(annual.spool.iterdir()) == []


async def test_uploads_are_limited_and_must_be_multipart(annual: Annual) -> None:
    too_large = await annual.submit(iplos=IPLOS + b" " * (1024 * 1024))
    assert too_large.status_code == 413
    assert list(annual.spool.iterdir()) == []
    missing = await annual.client.post(
        "/v1/annual-submissions",
        headers=annual.auth("bergen"),
        files={"iplos": ("b.xml", IPLOS, "text/xml")},
    )
    assert missing.status_code == 422
    assert missing.json()["details"] == [{"field": "ident", "reason": "required"}]
    not_multipart = await annual.client.post(
        "/v1/annual-submissions",
        headers={**annual.auth("bergen"), "Content-Type": "application/json"},
        content=json.dumps({"iplos": "x"}),
    )
    assert not_multipart.status_code == 415
    assert annual.published == []


async def test_messages_never_confirmed_are_published_again(annual: Annual) -> None:
    annual.bus.refuse = True
    body = (await annual.submit()).json()
    assert body["status"] == "sending"
    assert annual.published == []
    annual.bus.refuse = False
    # a read sweeps the tenant's unconfirmed annual messages (and so does intake's start-up)
    await annual.client.get(body["links"]["self"], headers=annual.auth("bergen"))
    await annual.bus.wait_settled()
    assert sorted(m.msg_type for m in annual.published) == ["KPR_IDE", "KPR_IPL"]
    await annual.client.get(body["links"]["self"], headers=annual.auth("bergen"))
    await annual.bus.wait_settled()
    assert len(annual.published) == 2


async def test_one_submission_at_a_time_per_replica(annual: Annual) -> None:
    """Each submission spools two files of up to max_file_bytes: a second one while the first
    is checked is answered 503 with Retry-After, not let fill the spool."""
    first, second = await asyncio.gather(annual.submit(), annual.submit("bergen"))
    statuses = sorted([first.status_code, second.status_code])
    assert statuses == [201, 503]
    busy = first if first.status_code == 503 else second
    assert busy.headers["Retry-After"] == "1"
    assert "another annual submission" in busy.json()["message"]


def test_uploads_a_crash_left_in_the_spool_are_removed_at_start(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    left = spool / "annual-x1y2"
    left.mkdir(parents=True)
    (left / "ident.xml").write_bytes(IDENT)
    unrelated = spool / "keep.txt"
    unrelated.write_text("not an upload", encoding="utf-8")
    submitter = AnnualSubmitter(
        ledger=Ledger(FakeAsyncRedis()),
        bus=MemoryBus(service_name="intake", broker=MemoryBroker()),
        options=AnnualOptions(spool_dir=spool),
        audit=AuditLog(),
        metrics=ServiceMetrics("intake"),
    )
    assert submitter.remove_stale_uploads() == 1
    assert not left.exists()
    assert unrelated.exists()
    # without a spool directory of its own, the system's temp directory is left alone
    shared = AnnualSubmitter(
        ledger=Ledger(FakeAsyncRedis()),
        bus=MemoryBus(service_name="intake", broker=MemoryBroker()),
        options=AnnualOptions(),
        audit=AuditLog(),
        metrics=ServiceMetrics("intake"),
    )
    assert shared.remove_stale_uploads() == 0


async def test_a_message_whose_publish_was_confirmed_is_not_published_again(
    annual: Annual,
) -> None:
    annual.bus.confirms_left = 1  # KPR_IPL goes out, KPR_IDE's publish fails
    body = (await annual.submit()).json()
    assert [m.msg_type for m in annual.published] == ["KPR_IPL"]
    annual.bus.confirms_left = None
    await annual.client.get(body["links"]["self"], headers=annual.auth("bergen"))
    await annual.bus.wait_settled()
    assert sorted(m.msg_type for m in annual.published) == ["KPR_IDE", "KPR_IPL"]


async def test_a_sweep_publishes_what_a_failed_publish_left_without_any_request(
    annual: Annual,
) -> None:
    annual.bus.refuse = True
    assert (await annual.submit()).json()["status"] == "sending"
    intake = Intake(annual.app, annual_sweep_seconds=0.05)
    await intake.start()  # its sweep at start fails too: the broker still refuses
    assert annual.published == []
    annual.bus.refuse = False
    try:
        async with asyncio.timeout(5):
            while len(annual.published) < 2:
                await asyncio.sleep(0.05)
    finally:
        await intake.close()
    assert sorted(m.msg_type for m in annual.published) == ["KPR_IDE", "KPR_IPL"]


def _receiver_her_id(message: BuiltMessage) -> str:
    receiver = parse_msghead(message.document).receiver
    assert receiver.service is not None
    return receiver.service.her_id


async def test_a_test_submission_goes_to_kpr_validering_and_says_so(
    in_production: Annual,
) -> None:
    response = await in_production.submit(form={"environment": "validation"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["environment"] == "validation"
    # both messages are addressed to KPR Validering, and name it for envelope, dispatch, receipts
    assert sorted(m.msg_type for m in in_production.published) == ["KPR_IDE", "KPR_IPL"]
    for message in in_production.published:
        assert message.environment == "validation"
        assert _receiver_her_id(message) == "171479"
        record = await in_production.ledger.get_message("bergen", str(message.msg_id))
        assert record is not None
        assert record.environment == "validation"
    read = await in_production.client.get(
        body["links"]["self"], headers=in_production.auth("bergen")
    )
    assert read.json()["environment"] == "validation"


async def test_without_an_environment_a_submission_goes_to_the_tenant_s_own(
    in_production: Annual,
) -> None:
    body = (await in_production.submit()).json()
    assert body["environment"] == "production"
    assert {m.environment for m in in_production.published} == {"production"}
    assert {_receiver_her_id(m) for m in in_production.published} == {"122612"}


async def test_a_test_submission_neither_blocks_nor_counts_as_the_year_s_submission(
    in_production: Annual,
) -> None:
    test = (await in_production.submit(form={"environment": "validation"})).json()
    assert test["status"] == "sending"
    # the test waits for KPR Validering's AppRec: the real one is not blocked by it
    real = await in_production.submit()
    assert real.status_code == 201, real.text
    real_id = real.json()["submission_id"]
    # each waits for its own AppRec: a second of either kind is 409, naming its own kind's
    again = await in_production.submit(form={"environment": "validation"})
    assert again.status_code == 409
    assert again.json()["details"][0] == {"submission_id": test["submission_id"], "rule": "pending"}
    again = await in_production.submit()
    assert again.json()["details"][0] == {"submission_id": real_id, "rule": "pending"}

    # KPR Validering acknowledged the test, KPR rejected the real one: the year has no accepted
    # submission, so the next real one needs no replace (the test does not count)
    await in_production.answer(test["messages"][0]["msg_id"], 1)
    await in_production.answer(real.json()["messages"][0]["msg_id"], 2)
    next_real = await in_production.submit()
    assert next_real.status_code == 201, next_real.text
    assert next_real.json()["replaces"] is None
    assert next_real.json()["environment"] == "production"
    # while the acknowledged test still stands for KPR Validering
    retest = await in_production.submit(form={"environment": "validation"})
    assert retest.status_code == 409
    assert retest.json()["details"][0] == {
        "submission_id": test["submission_id"],
        "rule": "replace_required",
    }
    listed = await in_production.client.get(
        "/v1/annual-submissions", params={"year": 2025}, headers=in_production.auth("bergen")
    )
    assert [(s["environment"], s["status"]) for s in listed.json()["submissions"]] == [
        ("validation", "acknowledged"),
        ("production", "rejected"),
        ("production", "sending"),
    ]


async def test_only_the_tenant_s_own_environment_or_validation_is_accepted(
    in_production: Annual,
) -> None:
    response = await in_production.submit(form={"environment": "communication-test"})
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_submission"
    assert response.json()["details"] == [
        {
            "field": "environment",
            "reason": "production (the tenant's own) or validation (a test submission to "
            "KPR Validering)",
        }
    ]
    assert in_production.published == []


async def test_the_openapi_description_documents_the_environment(annual: Annual) -> None:
    spec = (await annual.client.get("/openapi.json")).json()
    submit = spec["paths"]["/v1/annual-submissions"]["post"]
    form = submit["requestBody"]["content"]["multipart/form-data"]["schema"]
    environment = form["properties"]["environment"]
    assert "validation" in environment["enum"]
    assert "KPR Validering" in environment["description"]
    assert "neither blocks nor replaces" in submit["description"]
    answer = spec["components"]["schemas"]["AnnualSubmissionStatus"]["properties"]
    assert "KPR Validering" in answer["environment"]["description"]
