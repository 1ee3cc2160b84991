"""kpr_gateway.registry: NHN's Address Registry (SOAP 1.2) client, its Redis cache, and the
directory that resolves a tenant's receiver and queues (override first, registry else)."""

from kpr_gateway.registry.cache import (
    DEFAULT_KEY_PREFIX,
    DEFAULT_RETRY_AFTER,
    DEFAULT_STALE_FOR,
    DEFAULT_TTL,
    CachedRegistry,
    Entry,
)
from kpr_gateway.registry.client import DEFAULT_TIMEOUT, AddressRegistryClient
from kpr_gateway.registry.directory import (
    ReceiverDirectory,
    ReceiverEndpoint,
    Source,
    TenantQueues,
    receiver_her_id,
)
from kpr_gateway.registry.errors import (
    CertificateNotFoundError,
    PartyNotFoundError,
    ReceiverUnresolvedError,
    RegistryAuthenticationError,
    RegistryError,
    RegistryFaultError,
    RegistryResponseError,
    RegistryUnavailableError,
)
from kpr_gateway.registry.interface import AddressRegistry
from kpr_gateway.registry.party import CommunicationParty, PartyType, QueueKind, queue_name
from kpr_gateway.registry.wsdl import Operation

__all__ = [
    "DEFAULT_KEY_PREFIX",
    "DEFAULT_RETRY_AFTER",
    "DEFAULT_STALE_FOR",
    "DEFAULT_TIMEOUT",
    "DEFAULT_TTL",
    "AddressRegistry",
    "AddressRegistryClient",
    "CachedRegistry",
    "CertificateNotFoundError",
    "CommunicationParty",
    "Entry",
    "Operation",
    "PartyNotFoundError",
    "PartyType",
    "QueueKind",
    "ReceiverDirectory",
    "ReceiverEndpoint",
    "ReceiverUnresolvedError",
    "RegistryAuthenticationError",
    "RegistryError",
    "RegistryFaultError",
    "RegistryResponseError",
    "RegistryUnavailableError",
    "Source",
    "TenantQueues",
    "queue_name",
    "receiver_her_id",
]
