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
    CertificateRevokedError,
    PartyNotFoundError,
    ReceiverUnresolvedError,
    RegistryAuthenticationError,
    RegistryError,
    RegistryFaultError,
    RegistryResponseError,
    RegistryUnavailableError,
    RevocationUnknownError,
    TrustBundleError,
    UntrustedCertificateError,
)
from kpr_gateway.registry.interface import AddressRegistry
from kpr_gateway.registry.party import CommunicationParty, PartyType, QueueKind, queue_name
from kpr_gateway.registry.revocation import (
    DEFAULT_CRL_TIMEOUT,
    CrlChecker,
    RevocationMode,
    distribution_points,
)
from kpr_gateway.registry.trust import (
    FHI_ORG_NUMBER,
    CertificateTrust,
    TrustBundle,
    load_trust_bundle,
    organisation_numbers,
)
from kpr_gateway.registry.wsdl import Operation

__all__ = [
    "DEFAULT_CRL_TIMEOUT",
    "DEFAULT_KEY_PREFIX",
    "DEFAULT_RETRY_AFTER",
    "DEFAULT_STALE_FOR",
    "DEFAULT_TIMEOUT",
    "DEFAULT_TTL",
    "FHI_ORG_NUMBER",
    "AddressRegistry",
    "AddressRegistryClient",
    "CachedRegistry",
    "CertificateNotFoundError",
    "CertificateRevokedError",
    "CertificateTrust",
    "CommunicationParty",
    "CrlChecker",
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
    "RevocationMode",
    "RevocationUnknownError",
    "Source",
    "TenantQueues",
    "TrustBundle",
    "TrustBundleError",
    "UntrustedCertificateError",
    "distribution_points",
    "load_trust_bundle",
    "organisation_numbers",
    "queue_name",
    "receiver_her_id",
]
