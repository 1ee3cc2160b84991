"""What the gateway asks of the Address Registry; the client and the cache both provide it."""

from __future__ import annotations

from typing import Protocol

from cryptography import x509

from kpr_gateway.registry.party import CommunicationParty


class AddressRegistry(Protocol):
    async def get_communication_party_details(self, her_id: str | int) -> CommunicationParty: ...

    async def get_certificate_details_for_encryption(
        self, her_id: str | int
    ) -> x509.Certificate: ...

    async def get_certificate_details_for_validating_signature(
        self, her_id: str | int
    ) -> x509.Certificate: ...
