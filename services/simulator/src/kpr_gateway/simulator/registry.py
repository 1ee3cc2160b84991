"""The Address Registry the simulator plays: its parties, their queues and certificates.

The parties are the senders the simulator knows (each a service with its own queues and
certificates) and FHI with its KPR receivers (services under FHI with their own queues; their
certificates are FHI's, inherited as NHN's registry does). Like the real registry, a party is
served with its parent's addresses where it has none of that kind, flagged as inherited.

``outage`` makes the registry fail on purpose (tests of the gateway's stale-cache fallback);
``requests`` counts the operations answered.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from cryptography import x509

from kpr_gateway.registry import Operation, PartyType, QueueKind
from kpr_gateway.security.certs import Usage
from kpr_gateway.simulator.credentials import ReceiverCredentials
from kpr_gateway.simulator.errors import SimulatorConfigError
from kpr_gateway.simulator.parties import KnownSender
from kpr_gateway.tenancy.receivers import FHI_HER_ID, FHI_NAME, KPR_RECEIVERS

# Where NHN's queue addresses point; the gateway takes the text after the last "/".
QUEUE_HOST: Final = "sb.test.nhn.no/DigitalDialog"
SENDER_NAME: Final = "Kommunikasjonspart {her_id}"


class Outage(StrEnum):
    UNAVAILABLE = "unavailable"
    """HTTP 503 without SOAP, as a load balancer answers while the service is down."""
    FAULT = "fault"
    """A SOAP ``Receiver`` fault, as WCF answers when the service fails inside."""


@dataclass(frozen=True)
class RegistryParty:
    her_id: str
    name: str
    type: PartyType
    parent_her_id: str | None = None
    active: bool = True
    async_queue: str | None = None
    sync_queue: str | None = None
    error_queue: str | None = None
    signing_certificate: x509.Certificate | None = None
    encryption_certificate: x509.Certificate | None = None

    def queue(self, kind: QueueKind) -> str | None:
        return {
            QueueKind.ASYNC: self.async_queue,
            QueueKind.SYNC: self.sync_queue,
            QueueKind.ERROR: self.error_queue,
        }[kind]

    def certificate(self, usage: Usage) -> x509.Certificate | None:
        if usage is Usage.SIGNING:
            return self.signing_certificate
        return self.encryption_certificate


@dataclass(frozen=True)
class ServedAddress:
    kind: QueueKind
    address: str
    inherited: bool


class SimulatedRegistry:
    """The parties by HER-id, with the registry's inheritance from parent to child."""

    def __init__(
        self,
        parties: Iterable[RegistryParty],
        *,
        username: str | None = None,
        password: str | None = None,
        queue_host: str = QUEUE_HOST,
        inherit: bool = True,
    ) -> None:
        """``inherit=False`` plays a registry that lists only a party's own addresses."""
        if (username is None) != (password is None):
            raise SimulatorConfigError("the registry's username and password go together")
        indexed: dict[str, RegistryParty] = {}
        for party in parties:
            if party.her_id in indexed:
                raise SimulatorConfigError(f"registry party HER-id {party.her_id} is given twice")
            indexed[party.her_id] = party
        for party in indexed.values():
            if party.parent_her_id is not None and party.parent_her_id not in indexed:
                raise SimulatorConfigError(
                    f"registry party {party.her_id}: parent {party.parent_her_id} is unknown"
                )
        self._parties: Mapping[str, RegistryParty] = MappingProxyType(indexed)
        self._credentials = None if username is None else (username, password or "")
        self._queue_host = queue_host
        self._inherit = inherit
        self.outage: Outage | None = None
        self.requests: Counter[Operation] = Counter()

    @property
    def parties(self) -> Mapping[str, RegistryParty]:
        return self._parties

    def party(self, her_id: str) -> RegistryParty | None:
        return self._parties.get(her_id)

    def parent(self, party: RegistryParty) -> RegistryParty | None:
        return None if party.parent_her_id is None else self._parties.get(party.parent_her_id)

    def addresses(self, party: RegistryParty) -> list[ServedAddress]:
        """The party's queue addresses, then its parent's for the kinds it lacks (inherited)."""
        served = []
        parent = self.parent(party) if self._inherit else None
        for kind in QueueKind:
            own = party.queue(kind)
            inherited = parent.queue(kind) if parent is not None and own is None else None
            queue = own or inherited
            if queue is not None:
                served.append(
                    ServedAddress(kind, f"{self._queue_host}/{queue}", inherited=own is None)
                )
        return served

    def certificate(self, party: RegistryParty, usage: Usage) -> x509.Certificate | None:
        """The party's certificate for ``usage``, else its parent's (inherited)."""
        own = party.certificate(usage)
        parent = self.parent(party) if self._inherit else None
        return own if own is not None or parent is None else parent.certificate(usage)

    def authorised(self, authorization: str | None) -> bool:
        """Checks an HTTP ``Authorization`` header; without configured credentials, all pass."""
        if self._credentials is None:
            return True
        scheme, _, encoded = (authorization or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        username, _, password = decoded.partition(":")
        expected_user, expected_password = self._credentials
        return hmac.compare_digest(username.encode(), expected_user.encode()) & hmac.compare_digest(
            password.encode(), expected_password.encode()
        )


def receiver_parties(credentials: ReceiverCredentials) -> list[RegistryParty]:
    """FHI (level 1, with its certificates) and each KPR receiver under it with its queues."""
    parties = [
        RegistryParty(
            her_id=FHI_HER_ID,
            name=FHI_NAME,
            type=PartyType.ORGANIZATION,
            signing_certificate=credentials.signing.certificate,
            encryption_certificate=credentials.decryption[0].certificate,
        )
    ]
    for receiver in KPR_RECEIVERS.values():
        service = receiver.service
        if service is None:
            continue
        parties.append(
            RegistryParty(
                her_id=service.her_id,
                name=service.name,
                type=PartyType.SERVICE,
                parent_her_id=FHI_HER_ID,
                async_queue=f"{service.her_id}_async",
                sync_queue=f"{service.her_id}_sync",
                error_queue=f"{service.her_id}_error",
            )
        )
    return parties


def sender_parties(senders: Iterable[KnownSender]) -> list[RegistryParty]:
    """The known senders: the simulator does not know their names, so they get a label."""
    return [
        RegistryParty(
            her_id=sender.her_id,
            name=SENDER_NAME.format(her_id=sender.her_id),
            type=PartyType.SERVICE,
            async_queue=sender.async_queue,
            error_queue=sender.error_queue,
            signing_certificate=sender.signing_certificate,
            encryption_certificate=sender.encryption_certificate,
        )
        for sender in senders
    ]


def simulated_registry(
    senders: Iterable[KnownSender],
    credentials: ReceiverCredentials,
    *,
    username: str | None = None,
    password: str | None = None,
) -> SimulatedRegistry:
    return SimulatedRegistry(
        [*receiver_parties(credentials), *sender_parties(senders)],
        username=username,
        password=password,
    )
