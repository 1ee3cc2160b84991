"""A municipality and FHI on an in-memory Tjenestebuss, and the messages the gateway sends:
KPR_IPL messages whose ``Melding`` (IPLOS i KPR) carries numbered notifications."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from lxml import etree

from kpr_gateway.messages.apprec import AppRec, parse_apprec
from kpr_gateway.messages.iplos_kpr import (
    ChainHead,
    Contact,
    ContactType,
    EpjSystem,
    MeldingHeader,
    Notification,
    NumberedNotification,
    build_melding,
    number,
)
from kpr_gateway.messages.msghead import Organisation, build_msghead, parse_msghead
from kpr_gateway.messages.shipments import Shipment, build_shipment
from kpr_gateway.nhn import InMemoryNhnBroker, InMemoryNhnTransport, NhnMessage, new_message
from kpr_gateway.security.cms import open_sealed, seal
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.simulator import KnownSender, ReceiverCredentials, Simulator, known_sender
from kpr_gateway.tenancy import TargetEnvironment, kpr_receiver

REPO = Path(__file__).resolve().parents[3]
SECRET = b"a-tenant-secret-of-at-least-32-bytes!!"
NOW = datetime(2026, 1, 6, 3, 0, tzinfo=UTC)
MUNICIPALITY = "0301"

# Made up: an EPJ system and the municipality's two IPLOS contact persons.
SYSTEM = EpjSystem(vendor="Eksempel Omsorg AS", name="Eksempel EPJ", version="7.1")
CONTACTS = (
    Contact("Kari Kontakt", "iplos@example.invalid", ContactType.IPLOS_CONTACT),
    Contact("Ola Innsender", "innsending@example.invalid", ContactType.IPLOS_SUBMITTER),
)

# kommune: the sending municipality; fhi: the receiver; intruder: a valid certificate of
# someone else (spoofing, wrong recipient).
PARTIES = (("kommune", "958935420"), ("fhi", "983744516"), ("intruder", "974760673"))
SENDER_HER_ID = "90002"
SENDER = Organisation(
    name="Oslo kommune",
    her_id="90001",
    org_number="958935420",
    service=Organisation(name="Saksbehandling", her_id=SENDER_HER_ID),
)
RECEIVER = kpr_receiver(TargetEnvironment.VALIDATION)
KPR_HER_ID = "171479"
KPR_QUEUE = "171479_async"
SENDER_ASYNC = "90002_async"
SENDER_ERROR = "90002_error"


def notification(index: int, *, branch: int = 0, **changes: Any) -> Notification:
    """A service_start (id type 9, a made-up birth date); ``branch`` gives other event ids
    for the same ``index`` (a fork)."""
    data: dict[str, Any] = {
        "event_id": uuid.UUID(int=(branch << 64) + index),
        "status": "N",
        "kind": "service_start",
        "occurrence_id": uuid.UUID(int=(1 << 96) + (branch << 64) + index),
        "service_id": f"TJ-{index}",
        "service_type": "21",
        "event_date": date(2026, 1, 5),
        "registered_at": datetime(2026, 1, 5, 10, 15, tzinfo=UTC),
        "municipality_number": MUNICIPALITY,
        "person": {"national_id": "010170", "id_type": 9, "user_number": f"U{index % 7}"},
    }
    data.update(changes)
    return Notification.model_validate(data)


def chain(count: int, *, branch: int = 0) -> list[NumberedNotification]:
    """The first ``count`` notifications of the municipality's chain, numbered from 1."""
    notifications = [notification(index, branch=branch) for index in range(1, count + 1)]
    return number(ChainHead(), notifications, SECRET)[0]


def melding(
    numbered: Sequence[NumberedNotification] | None = None,
    *,
    contacts: Sequence[Contact] = CONTACTS,
    municipality_number: str = MUNICIPALITY,
) -> etree._Element:
    header = MeldingHeader(
        municipality_number=municipality_number,
        system=SYSTEM,
        gateway_version="0.1.0",
        contacts=contacts,
        local_id="batch-1",
    )
    return build_melding(header, chain(3) if numbered is None else numbered)


def shipment(
    numbered: Sequence[NumberedNotification] | None = None,
    *,
    sender: Organisation = SENDER,
    receiver: Organisation = RECEIVER,
    **melding_options: Any,
) -> Shipment:
    """The KPR_IPL MsgHead of ``numbered`` (the first three of the chain by default)."""
    return build_shipment(
        sender=sender,
        receiver=receiver,
        melding=melding(numbered, **melding_options),
        msg_id=uuid.uuid4(),
        now=NOW,
    )


def kpr_ipl(numbered: Sequence[NumberedNotification] | None = None, **options: Any) -> bytes:
    """The MsgHead document of ``shipment``."""
    return shipment(numbered, **options).document


def rewritten(msghead: bytes, **changes: Any) -> bytes:
    """The MsgHead ``msghead`` with some of its fields replaced."""
    return build_msghead(dataclasses.replace(parse_msghead(msghead), **changes))


def with_document_change(document: bytes, change: Callable[[etree._Element], None]) -> bytes:
    """The MsgHead ``document`` with its inline KPR document changed by ``change``."""
    head = parse_msghead(document)
    change(head.document)
    return build_msghead(head)


def sender_of(
    pki: DevPki, party: str = "kommune", *, municipality_number: str | None = None
) -> KnownSender:
    credentials = pki.party(party)
    return known_sender(
        SENDER_HER_ID,
        credentials.signing.certificate,
        credentials.encryption.certificate,
        municipality_number=municipality_number,
    )


def fhi_credentials(pki: DevPki) -> ReceiverCredentials:
    fhi = pki.party("fhi")
    return ReceiverCredentials(signing=fhi.signing, decryption=(fhi.encryption,))


def sealed(
    pki: DevPki, content: bytes, *, signer: str = "kommune", recipient: str = "fhi"
) -> bytes:
    return seal(content, pki.party(signer).signing, pki.party(recipient).encryption.certificate)


def nhn_message(
    body: bytes,
    *,
    subject: str = "KPR_IPL",
    from_her_id: str = SENDER_HER_ID,
    to_her_id: str = KPR_HER_ID,
) -> NhnMessage:
    return new_message(
        to_queue=KPR_QUEUE,
        subject=subject,
        reply_to=SENDER_ASYNC,
        from_her_id=from_her_id,
        to_her_id=to_her_id,
        body=body,
        ttl_ms=None,
    )


def kpr_message(pki: DevPki, numbered: Sequence[NumberedNotification]) -> NhnMessage:
    """``numbered`` as the gateway sends them: a sealed KPR_IPL on the KPR queue."""
    return nhn_message(sealed(pki, kpr_ipl(numbered)))


@dataclass
class Party:
    """The municipality's side of the bus, as the gateway's dispatch and receipts see it."""

    pki: DevPki
    broker: InMemoryNhnBroker

    async def send(self, message: NhnMessage) -> None:
        await InMemoryNhnTransport(self.broker).send(message)

    async def next_on(self, queue: str, timeout: float = 5.0) -> NhnMessage:
        return await asyncio.wait_for(self.broker.queue(queue).get(), timeout)

    def open_apprec(self, message: NhnMessage) -> AppRec:
        return parse_apprec(self.open(message))

    async def answer_to(self, message: NhnMessage, timeout: float = 5.0) -> AppRec:
        """Send ``message`` and open the AppRec that answers it."""
        await self.send(message)
        answer = await self.next_on(SENDER_ASYNC, timeout)
        assert answer.correlation_id == message.message_id
        return self.open_apprec(answer)

    def open(self, message: NhnMessage) -> bytes:
        """Decrypt with the municipality's key; the signer must be FHI's signing certificate."""
        fhi = self.pki.party("fhi").signing.certificate
        return open_sealed(message.body, [self.pki.party("kommune").encryption], fhi).content


@contextlib.asynccontextmanager
async def running(
    pki: DevPki, broker: InMemoryNhnBroker, **options: Any
) -> AsyncIterator[Simulator]:
    """A started simulator on ``KPR_QUEUE`` that knows the municipality."""
    options.setdefault("senders", [sender_of(pki)])
    simulator = Simulator(
        transport=InMemoryNhnTransport(broker),
        credentials=fhi_credentials(pki),
        queues=[KPR_QUEUE],
        **options,
    )
    simulator.register()
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


def counter(simulator: Simulator, name: str, **labels: str) -> float:
    """The value of ``kprgw_simulator_<name>_total`` with ``labels`` (0 when never counted)."""
    value = simulator.metrics.registry.get_sample_value(f"kprgw_simulator_{name}_total", labels)
    return value or 0.0


def gauge(simulator: Simulator, name: str) -> float:
    """The value of ``kprgw_simulator_<name>``."""
    value = simulator.metrics.registry.get_sample_value(f"kprgw_simulator_{name}")
    assert value is not None
    return value


async def wait_for_count(simulator: Simulator, name: str, value: float = 1, **labels: str) -> None:
    await wait_until(lambda: counter(simulator, name, **labels) >= value)
