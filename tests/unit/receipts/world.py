"""The world receipts lives in, for its unit and integration tests.

A municipality (tenant ``bergen``) that sent KPR messages, FHI answering them with sealed
AppRecs on the tenant's NHN async queue, the NHN bus in memory, and a transport that notes
how receipts settled each NHN message.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509

from kpr_gateway.cli.demo.samples import event
from kpr_gateway.ledger import (
    BatchMessage,
    ChainCommit,
    ChainLink,
    EventState,
    Ledger,
    MessageState,
    NewEvent,
)
from kpr_gateway.messages.apprec import (
    ERROR_CODE_SYSTEM,
    AppRecErrorCode,
    AppRecVersion,
    apprec_for,
    build_apprec,
)
from kpr_gateway.messages.daily import build_daily_messages
from kpr_gateway.messages.iplos_kpr import (
    MSG_TYPE,
    EventKind,
    MeldingHeader,
    Notification,
    number,
)
from kpr_gateway.messages.msghead import MsgHead, parse_msghead
from kpr_gateway.nhn import (
    APPREC_SUBJECT,
    InMemoryNhnBroker,
    InMemoryNhnTransport,
    NhnDelivery,
    NhnHandler,
    NhnMessage,
    new_message,
    transport_error_message,
)
from kpr_gateway.security import cms
from kpr_gateway.security.certs import Credential
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.tenancy import Tenant, TenantsFile, kpr_receiver, load_tenants

TENANT_ID = "bergen"
SECRET = b"receipts-test-secret-0123456789abcdef"
# bergen: the municipality; fhi: KPR's certificates; intruder: a valid certificate of someone
# else; bergen-old: the tenant's encryption key before a rotation.
PARTIES = (
    ("bergen", "964338531"),
    ("fhi", "983744516"),
    ("intruder", "974760673"),
    ("bergen-old", "964338531"),
)
SENT_TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
SENT_TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
SENT_SPAN_ID = 0xB7AD6B7169203331
# Each sent message carries a notification of its own; seeded, so a run can be repeated.
_NOTIFICATIONS = random.Random(20260102)
REPORTING = {
    "epj_system": {"vendor": "Omsorgsdata AS", "name": "Omsorg EPJ", "version": "24.3"},
    "contacts": [
        {"name": "Kari Kontakt", "email": "kari@example.invalid", "type": 16},
        {"name": "Ola Innsender", "email": "ola@example.invalid", "type": 17},
    ],
}


def write_tenants(directory: Path, pki: DevPki) -> Path:
    """A tenants file for ``bergen`` with its certificates and KPR's as the receiver override."""
    pki.write(directory / "pki")
    (directory / "bergen.secret").write_bytes(SECRET)
    tenant: dict[str, Any] = {
        "id": TENANT_ID,
        "municipality_number": "4601",
        "name": "Bergen kommune",
        "org_number": "964338531",
        "her_id": "50001",
        "communication_party": {"name": "Saksbehandling", "her_id": "50002"},
        "environment": "validation",
        "pseudonym_secret_file": "bergen.secret",
        "certificates": {
            "signing": {"certificate": "pki/bergen-sign.pem", "key": "pki/bergen-sign.key"},
            "encryption": {"certificate": "pki/bergen-enc.pem", "key": "pki/bergen-enc.key"},
            "previous_encryption": {
                "certificate": "pki/bergen-old-enc.pem",
                "key": "pki/bergen-old-enc.key",
            },
        },
        "receiver_override": {
            "encryption_certificate": "pki/fhi-enc.pem",
            "signing_certificate": "pki/fhi-sign.pem",
        },
        "reporting": REPORTING,
    }
    path = directory / "tenants.yaml"
    path.write_text(yaml.safe_dump({"tenants": [tenant]}), encoding="utf-8")
    return path


def tenants_file(directory: Path, pki: DevPki) -> TenantsFile:
    return load_tenants(write_tenants(directory, pki))


@dataclass(frozen=True)
class SentMessage:
    msg_id: str
    head: MsgHead
    transport_id: str


async def send_message(ledger: Ledger, tenant: Tenant) -> SentMessage:
    """A KPR_IPL with one notification, numbered next in the municipality's chain as transform
    numbers it, recorded in the ledger up to ``dispatched``."""
    notification = Notification.model_validate(
        event(_NOTIFICATIONS, tenant.municipality_number, kind=EventKind.SERVICE_START)
    )
    municipality = tenant.municipality_number
    head = await ledger.chain_head(tenant.id, municipality)
    numbered, _ = number(head, [notification], SECRET)
    profile = tenant.melding_profile(None)
    [message] = build_daily_messages(
        header=MeldingHeader(
            municipality_number=municipality,
            system=profile.system,
            gateway_version="0.0.0-test",
            contacts=profile.contacts,
        ),
        numbered=numbered,
        sender=tenant.sender_organisation(),
        receiver=kpr_receiver(tenant.environment),
        now=datetime.now(UTC),
    )
    shipment = message.shipment
    assert shipment.msg_type == MSG_TYPE
    msg_id = str(shipment.msg_id)
    event_id = str(notification.event_id)
    await ledger.register_events(tenant.id, [NewEvent(event_id, "hash")], trace_id=None)
    commit = await ledger.commit_batch(
        tenant.id,
        batch_id=str(message.batch_id),
        event_ids=[event_id],
        messages=[
            BatchMessage(
                msg_id, shipment.msg_type, shipment.document, kpr_document=message.kpr_document
            )
        ],
        trace_id=f"{SENT_TRACE_ID:032x}",
        traceparent=SENT_TRACEPARENT,
        chain=ChainCommit(
            municipality=municipality,
            expected=head,
            links=[
                ChainLink(
                    event_id=event_id,
                    seq=n.seq,
                    previous=str(n.previous),
                    status=n.notification.status.value,
                    corrects=None,
                )
                for n in message.numbered
            ],
        ),
    )
    assert commit.committed
    transport_id = str(uuid.uuid4())
    await ledger.advance_message(tenant.id, msg_id, MessageState.ENVELOPED, trace_id=None)
    await ledger.note_send_attempt(
        tenant.id, msg_id, transport_message_id=transport_id, trace_id=None
    )
    await ledger.advance_message(tenant.id, msg_id, MessageState.DISPATCHED, trace_id=None)
    event_record = await ledger.get_event(tenant.id, event_id)
    assert event_record is not None
    assert event_record.state is EventState.BATCHED
    return SentMessage(msg_id, parse_msghead(shipment.document), transport_id)


def sealed_apprec(
    pki: DevPki,
    head: MsgHead,
    *,
    status: int = 1,
    errors: list[AppRecErrorCode] | None = None,
    version: AppRecVersion = "1.0",
    apprec_id: str | None = None,
    signer: str = "fhi",
    recipient: str = "bergen",
) -> bytes:
    """FHI's AppRec answering ``head``, signed by ``signer`` and encrypted for ``recipient``."""
    apprec = apprec_for(head, status=status, errors=errors, version=version, apprec_id=apprec_id)
    return seal(build_apprec(apprec), pki, signer=signer, recipient=recipient)


def seal(content: bytes, pki: DevPki, *, signer: str = "fhi", recipient: str = "bergen") -> bytes:
    signing: Credential = pki.party(signer).signing
    encryption: x509.Certificate = pki.party(recipient).encryption.certificate
    return cms.seal(content, signing, encryption)


def rejection_codes() -> list[AppRecErrorCode]:
    return [
        AppRecErrorCode("E21", ERROR_CODE_SYSTEM, "Mottaker finnes ikke", "hode"),
        AppRecErrorCode("KPR-017", None, "Ukjent tjenestetype", "hendelse 1"),
    ]


def on_async_queue(tenant: Tenant, body: bytes) -> NhnMessage:
    """An AppRec as FHI sends it: to the tenant's async queue, subject APPREC."""
    receiver = kpr_receiver(tenant.environment)
    assert receiver.service is not None
    return new_message(
        to_queue=tenant.async_queue,
        subject=APPREC_SUBJECT,
        reply_to=None,
        from_her_id=receiver.service.her_id,
        to_her_id=tenant.communication_party.her_id,
        body=body,
        ttl_ms=None,
    )


def transport_error(tenant: Tenant, original_id: str) -> NhnMessage:
    """The empty-bodied message NHN puts on the tenant's error queue for a failed send."""
    receiver = kpr_receiver(tenant.environment)
    assert receiver.service is not None
    original = new_message(
        to_queue="171479_async",
        subject="KPR_IPL",
        reply_to=tenant.async_queue,
        from_her_id=tenant.communication_party.her_id,
        to_her_id=receiver.service.her_id,
        body=b"cms",
        ttl_ms=None,
        message_id=original_id,
    )
    return transport_error_message(
        original=original,
        condition="transport:invalid-certificate",
        description="certificate of the sender is not valid",
        error_queue=tenant.error_queue,
    )


@dataclass(frozen=True)
class Settlement:
    queue: str
    message_id: str
    how: str


@dataclass
class _RecordedDelivery:
    inner: NhnDelivery
    queue: str
    log: list[Settlement]

    @property
    def message(self) -> NhnMessage:
        return self.inner.message

    async def accept(self) -> None:
        await self.inner.accept()
        self.log.append(Settlement(self.queue, self.message.message_id, "accept"))

    async def reject(self, reason: str) -> None:
        await self.inner.reject(reason)
        self.log.append(Settlement(self.queue, self.message.message_id, "reject"))

    async def release(self) -> None:
        await self.inner.release()
        self.log.append(Settlement(self.queue, self.message.message_id, "release"))


@dataclass
class RecordingTransport:
    """The in-memory NHN transport, noting how every delivery was settled."""

    broker: InMemoryNhnBroker
    settlements: list[Settlement] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._inner = InMemoryNhnTransport(self.broker, release_delay=0.01)

    async def start(self) -> None:
        await self._inner.start()

    async def stop(self) -> None:
        await self._inner.stop()

    async def send(self, message: NhnMessage) -> None:
        await self._inner.send(message)

    async def ping(self) -> bool:
        return await self._inner.ping()

    def subscribe(self, queue: str, handler: NhnHandler, *, credit: int = 10) -> None:
        async def recording(delivery: NhnDelivery) -> None:
            await handler(_RecordedDelivery(delivery, queue, self.settlements))

        self._inner.subscribe(queue, recording, credit=credit)

    def of(self, message_id: str) -> list[str]:
        return [s.how for s in self.settlements if s.message_id == message_id]

    async def settled(self, message_id: str, how: str = "accept", timeout: float = 10.0) -> None:
        """Wait until ``message_id`` was settled ``how``."""
        async with asyncio.timeout(timeout):
            while how not in self.of(message_id):
                await asyncio.sleep(0.01)
