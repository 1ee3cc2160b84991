"""A municipality and FHI on an in-memory Tjenestebuss, and the messages the gateway sends."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lxml import etree

from kpr_gateway.messages.apprec import AppRec, parse_apprec
from kpr_gateway.messages.kpr_ktt_v1 import KttEvent
from kpr_gateway.messages.msghead import Organisation, build_msghead, parse_msghead
from kpr_gateway.messages.shipments import Shipments, build_shipments
from kpr_gateway.nhn import InMemoryNhnBroker, InMemoryNhnTransport, NhnMessage, new_message
from kpr_gateway.security.cms import open_sealed, seal
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.simulator import KnownSender, ReceiverCredentials, Simulator, known_sender
from kpr_gateway.tenancy import TargetEnvironment, kpr_receiver

REPO = Path(__file__).resolve().parents[3]
EVENTS = REPO / "examples" / "events.ndjson"
SECRET = b"a-tenant-secret-of-at-least-32-bytes!!"
NOW = datetime(2026, 1, 6, 3, 0, tzinfo=UTC)

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


def events() -> list[KttEvent]:
    return [KttEvent.model_validate_json(line) for line in EVENTS.read_text().splitlines()]


def shipments(sender: Organisation = SENDER, receiver: Organisation = RECEIVER) -> Shipments:
    return build_shipments(
        sender=sender,
        receiver=receiver,
        municipality_number="0301",
        reporter_org_number="958935420",
        events=events(),
        tenant_secret=SECRET,
        now=NOW,
    )


def fagmelding() -> bytes:
    return shipments().fagmelding.document


def rewritten(document: bytes, **changes: Any) -> bytes:
    """The MsgHead ``document`` with some of its fields replaced."""
    return build_msghead(dataclasses.replace(parse_msghead(document), **changes))


def with_document_change(document: bytes, change: Callable[[etree._Element], None]) -> bytes:
    """The MsgHead ``document`` with its inline KPR document changed by ``change``."""
    head = parse_msghead(document)
    change(head.document)
    return build_msghead(head)


def sender_of(pki: DevPki, party: str = "kommune") -> KnownSender:
    credentials = pki.party(party)
    return known_sender(
        SENDER_HER_ID, credentials.signing.certificate, credentials.encryption.certificate
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


async def wait_for_count(simulator: Simulator, name: str, value: float = 1, **labels: str) -> None:
    await wait_until(lambda: counter(simulator, name, **labels) >= value)
