"""A small world for the envelope and dispatch tests: a dev PKI, a tenants file that uses
it, and KPR messages put in the ledger the way transform puts them there.

Shared by the unit and integration tests of both services (and the runtime's); their
fixtures are in ``tests.support.outbound_fixtures``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from lxml import etree

from kpr_gateway.ledger import BatchMessage, Ledger, NewEvent
from kpr_gateway.messages.msghead import MsgHead, build_msghead
from kpr_gateway.nhn import NhnTransport
from kpr_gateway.observability import GracefulShutdown, ServiceMetrics, readiness_checks
from kpr_gateway.pipeline.bus import Bus
from kpr_gateway.pipeline.contracts import BuiltMessage, MsgType, SealedMessage
from kpr_gateway.registry import ReceiverDirectory
from kpr_gateway.runtime import ServiceContext
from kpr_gateway.security import cms
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.tenancy import Tenant, TenantsFile, kpr_receiver, load_tenants

# bergen: the municipality (tenant); fhi: the KPR receiver, as FHI's simulator plays it.
PARTIES = (("bergen", "964338531"), ("fhi", "983744516"))

BERGEN = "bergen"
BERGEN_PARTY_HER_ID = "50002"
BERGEN_ASYNC_QUEUE = f"{BERGEN_PARTY_HER_ID}_async"
KPR_VALIDATION_HER_ID = "171479"
KPR_VALIDATION_QUEUE = f"{KPR_VALIDATION_HER_ID}_async"
SECRET = b"0123456789abcdef0123456789abcdef-dev"


def bergen_entry(*, certificates: bool = True, receiver: bool = True) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": BERGEN,
        "municipality_number": "4601",
        "name": "Bergen kommune",
        "org_number": "964338531",
        "her_id": "50001",
        "communication_party": {"name": "Saksbehandling", "her_id": BERGEN_PARTY_HER_ID},
        "environment": "validation",
        "pseudonym_secret_file": "secret.key",
    }
    if certificates:
        entry["certificates"] = {
            "signing": {"certificate": "pki/bergen-sign.pem", "key": "pki/bergen-sign.key"},
            "encryption": {"certificate": "pki/bergen-enc.pem", "key": "pki/bergen-enc.key"},
        }
    if receiver:
        entry["receiver_override"] = {
            "encryption_certificate": "pki/fhi-enc.pem",
            "signing_certificate": "pki/fhi-sign.pem",
        }
    return entry


def trondheim_entry(**options: bool) -> dict[str, Any]:
    entry = bergen_entry(**options)
    entry.update(
        id="trondheim",
        municipality_number="5001",
        name="Trondheim kommune",
        org_number="942110464",
        her_id="60001",
        communication_party={"name": "Saksbehandling", "her_id": "60002"},
    )
    return entry


def write_tenants(pki: DevPki, directory: Path, entries: list[dict[str, Any]]) -> TenantsFile:
    """Write the PKI and a tenants file into ``directory`` and load it as a service does."""
    pki.write(directory / "pki")
    (directory / "secret.key").write_bytes(SECRET)
    path = directory / "tenants.yaml"
    path.write_text(yaml.safe_dump({"tenants": entries}), encoding="utf-8")
    return load_tenants(path)


def msghead_document(tenant: Tenant, msg_id: str, msg_type: str) -> bytes:
    """A real MsgHead for the tenant and its receiver, with a stand-in KPR document inline."""
    now = datetime.now(UTC)
    return build_msghead(
        MsgHead(
            msg_type=msg_type,
            msg_type_text="KPR kommunal tjenestetildeling",
            msg_id=msg_id,
            gen_date=now,
            sender=tenant.sender_organisation(),
            receiver=kpr_receiver(tenant.environment),
            issue_date=now,
            document=etree.Element("{urn:kprgw:test}Stand-in"),
        )
    )


async def put_built_message(
    ledger: Ledger, tenant: Tenant, *, msg_type: MsgType = "KPR_IPL"
) -> BuiltMessage:
    """A KPR message in state ``built``, recorded as transform records it, and its body."""
    event_id, msg_id, batch_id = (str(uuid.uuid4()) for _ in range(3))
    await ledger.register_events(tenant.id, [NewEvent(event_id, "content-hash")], trace_id=None)
    document = msghead_document(tenant, msg_id, msg_type)
    commit = await ledger.commit_batch(
        tenant.id,
        batch_id=batch_id,
        event_ids=[event_id],
        messages=[BatchMessage(msg_id, msg_type, document)],
        trace_id=None,
        traceparent=None,
    )
    assert commit.committed
    return BuiltMessage(
        tenant_id=tenant.id,
        msg_id=uuid.UUID(msg_id),
        msg_type=msg_type,
        batch_id=uuid.UUID(batch_id),
        event_ids=[uuid.UUID(event_id)],
        document=document,
    )


def sealed_from(built: BuiltMessage, pki: DevPki) -> SealedMessage:
    """What envelope makes of ``built`` for bergen and the KPR validation receiver."""
    return SealedMessage(
        tenant_id=built.tenant_id,
        msg_id=built.msg_id,
        msg_type=built.msg_type,
        batch_id=built.batch_id,
        from_her_id=BERGEN_PARTY_HER_ID,
        to_her_id=KPR_VALIDATION_HER_ID,
        cms=cms.seal(
            built.document,
            pki.party("bergen").signing,
            pki.party("fhi").encryption.certificate,
        ),
    )


def service_context(
    name: str,
    *,
    tenants: TenantsFile,
    ledger: Ledger,
    bus: Bus,
    nhn: NhnTransport | None = None,
    receivers: ReceiverDirectory | None = None,
) -> ServiceContext:
    """What the runtime hands a service's ``build``, with the parts a test chose (receivers:
    overrides only unless given)."""
    return ServiceContext(
        name=name,
        tenants=tenants,
        ledger=ledger,
        bus=bus,
        metrics=ServiceMetrics(name),
        readiness=readiness_checks({}),
        drain=GracefulShutdown(),
        nhn=nhn,
        receivers=receivers or ReceiverDirectory(),
    )
