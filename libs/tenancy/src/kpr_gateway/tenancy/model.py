"""The tenant model: one municipality, its HER-ids, target environment, secret references
and what its KPR messages say about their sender (`reporting`).

Secrets (pseudonym key, certificates and keys) are referenced by file path only:
in Kubernetes they are Secrets mounted read-only. Relative paths are resolved
against the folder of the YAML file that names them (see ``loading``).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Self
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from stdnum.no import orgnr

from kpr_gateway.messages.msghead import Organisation
from kpr_gateway.tenancy.errors import ReportingNotConfiguredError
from kpr_gateway.tenancy.reporting import EpjSystemEntry, MeldingProfile, TenantReporting

BASE_DIR_CONTEXT_KEY = "base_dir"


def _valid_org_number(value: str) -> str:
    if not orgnr.is_valid(value):
        raise ValueError("organisation number fails the mod-11 check")
    return value


HerId = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{0,8}$")]
MunicipalityNumber = Annotated[str, StringConstraints(pattern=r"^[0-9]{4}$")]
OrgNumber = Annotated[
    str, StringConstraints(pattern=r"^[0-9]{9}$"), AfterValidator(_valid_org_number)
]
TenantId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")]


class TargetEnvironment(StrEnum):
    """Where a tenant's KPR messages go; chosen per tenant so tests never reach production."""

    PRODUCTION = "production"
    VALIDATION = "validation"
    COMMUNICATION_TEST = "communication-test"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _resolve(path: Path, info: ValidationInfo) -> Path:
    base = (info.context or {}).get(BASE_DIR_CONTEXT_KEY)
    if base is None or path.is_absolute():
        return path
    return Path(base) / path


class CommunicationParty(_Strict):
    """The municipality's level-2 party ("Saksbehandling"); its NHN queues carry KPR traffic."""

    name: str = Field(min_length=1)
    her_id: HerId


class KeyPairFiles(_Strict):
    """A certificate and its private key as mounted files (PEM), or one PKCS#12 file."""

    certificate: Path | None = None
    key: Path | None = None
    pkcs12: Path | None = None
    password_file: Path | None = None

    @field_validator("certificate", "key", "pkcs12", "password_file")
    @classmethod
    def _resolve_path(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else _resolve(value, info)

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        pem = self.certificate is not None and self.key is not None
        if pem == (self.pkcs12 is not None):
            raise ValueError("give either certificate and key (PEM) or pkcs12, not both or neither")
        return self


class TenantCertificates(_Strict):
    """Enterprise certificates: signing (nonRepudiation) and encryption (keyEncipherment).

    ``previous_encryption`` keeps the old decryption key during a rotation.
    """

    signing: KeyPairFiles
    encryption: KeyPairFiles
    previous_encryption: KeyPairFiles | None = None


class Scope(StrEnum):
    SUBMIT = "submit"
    READ = "read"
    ANNUAL = "annual"
    """The annual IPLOS 3.7 submission (once a year): given explicitly, never by default."""


DEFAULT_SCOPES = frozenset({Scope.SUBMIT, Scope.READ})
"""What a client may do when its entry names no scopes (as before the annual scope)."""
ALL_SCOPES = DEFAULT_SCOPES
RateLimit = Annotated[int, Field(ge=1, le=1_000_000)]
ClaimValue = Annotated[str, StringConstraints(min_length=1, max_length=256)]
_CLIENT_SYSTEM_DESCRIPTION = (
    "The client's own EPJ system in its messages; unset: the tenant's reporting.epj_system."
)


MAX_WEBHOOK_URL_LENGTH = 2048


class Webhook(_Strict):
    """Where the webhooks service tells an EPJ client what KPR answered for its events.

    The body is signed with HMAC-SHA256 under the secret in ``secret_file`` (a mounted
    Secret, at least 32 bytes; read by the webhooks service at start-up). ``url`` is http or
    https here; the webhooks service refuses http unless told otherwise (local runs, tests).
    """

    url: Annotated[str, StringConstraints(min_length=1, max_length=MAX_WEBHOOK_URL_LENGTH)]
    secret_file: Path = Field(description="File with the signing secret (>= 32 bytes).")

    @field_validator("url")
    @classmethod
    def _absolute_url(cls, value: str) -> str:
        # First: urlsplit drops tabs and newlines silently.
        if any(ch.isspace() or not ch.isprintable() for ch in value):
            raise ValueError("the webhook url must not contain spaces or control characters")
        try:
            parts = urlsplit(value)
            if parts.port == 0:  # reading the port raises for one that is no port number
                raise ValueError
        except ValueError:
            raise ValueError("the webhook url cannot be read as a URL") from None
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("the webhook url needs http:// or https:// and a host")
        # Credentials would end up in logs and errors; the signature authenticates the body.
        if parts.username is not None or parts.password is not None:
            raise ValueError("the webhook url must not carry credentials")
        if parts.fragment:
            raise ValueError("the webhook url must not have a fragment")
        return value

    @field_validator("secret_file")
    @classmethod
    def _resolve_secret(cls, value: Path, info: ValidationInfo) -> Path:
        return _resolve(value, info)

    @property
    def is_https(self) -> bool:
        return urlsplit(self.url).scheme == "https"

    @property
    def shown_url(self) -> str:
        """The URL without its query: fit for logs and error texts (a query may hold a token)."""
        parts = urlsplit(self.url)
        return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


_WEBHOOK_DESCRIPTION = (
    "Where receipts for this client's events are POSTed (signed); unset: no webhook."
)


class EpjClient(_Strict):
    """An EPJ system allowed to submit and read this tenant's events.

    Only the SHA-256 of its API key is stored: keys are long random strings
    (``kprgw tenants new-key``), so a fast hash is enough and lookup stays O(1).
    """

    id: TenantId = Field(description="Name of the client, e.g. 'gerica-prod'; in audit records.")
    api_key_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    scopes: frozenset[Scope] = DEFAULT_SCOPES
    rate_limit_per_second: RateLimit | None = Field(
        default=None, description="Requests per second before 429; unset: the service default."
    )
    epj_system: EpjSystemEntry | None = Field(default=None, description=_CLIENT_SYSTEM_DESCRIPTION)
    webhook: Webhook | None = Field(default=None, description=_WEBHOOK_DESCRIPTION)


class OAuthClient(_Strict):
    """An EPJ system that calls with OAuth2 bearer tokens from the gateway's configured issuer.

    The token must name this tenant in the issuer's tenant claim and this client in its
    client claim; its ``scope`` claim can only narrow ``scopes``, never widen them.
    """

    id: TenantId = Field(description="Our name of the client; in audit records and rate limits.")
    client_id: ClaimValue = Field(
        description="The token's client id (HelseID: the client_id claim of the EPJ system)."
    )
    scopes: frozenset[Scope] = DEFAULT_SCOPES
    rate_limit_per_second: RateLimit | None = Field(
        default=None, description="Requests per second before 429; unset: the service default."
    )
    epj_system: EpjSystemEntry | None = Field(default=None, description=_CLIENT_SYSTEM_DESCRIPTION)
    webhook: Webhook | None = Field(default=None, description=_WEBHOOK_DESCRIPTION)


class TenantOAuth(_Strict):
    """How tokens from the configured OAuth2 issuer name this tenant, and who may use them.

    A tenant without this block cannot be reached with a bearer token at all.
    """

    tenant_claim_value: ClaimValue = Field(
        description=(
            "The value of the issuer's tenant claim that means this tenant: with HelseID's "
            "organisation number claim the municipality's org number, with a cooperative's own "
            "identity provider whatever it writes (e.g. the tenant id)."
        )
    )
    clients: list[OAuthClient] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct_clients(self) -> Self:
        _require_unique("OAuth client_id", [c.client_id for c in self.clients])
        return self


class NhnEndpoint(_Strict):
    """The tenant's queues and account on NHN's Tjenestebuss.

    Queue names default to the NHN convention for the communication party's HER-id. NHN gives
    each communication party its own account: with ``username`` and ``password_file`` the
    tenant's traffic goes over a connection of its own; without, over the release's default
    account (``KPRGW_<SERVICE>_NHN_USERNAME``), e.g. an IT cooperative's shared one.
    """

    async_queue: str | None = None
    error_queue: str | None = None
    username: str | None = Field(default=None, min_length=1, description="SASL PLAIN user.")
    password_file: Path | None = Field(
        default=None, description="File with the account's password (a mounted Secret)."
    )

    @field_validator("password_file")
    @classmethod
    def _resolve_password(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else _resolve(value, info)

    @model_validator(mode="after")
    def _whole_account(self) -> Self:
        if (self.username is None) != (self.password_file is None):
            raise ValueError("an NHN account needs both username and password_file")
        return self


class ReceiverOverride(_Strict):
    """Static receiver data for sites without Address Registry access."""

    encryption_certificate: Path = Field(description="KPR's encryption certificate (PEM).")
    signing_certificate: Path = Field(description="KPR's signing certificate (PEM).")
    async_queue: str | None = None

    @field_validator("encryption_certificate", "signing_certificate")
    @classmethod
    def _resolve_path(cls, value: Path, info: ValidationInfo) -> Path:
        return _resolve(value, info)


class Tenant(_Strict):
    """One municipality reporting to KPR."""

    id: TenantId = Field(description="Short stable name, used in ledger keys and metrics.")
    municipality_number: MunicipalityNumber
    name: str = Field(min_length=1, description="The municipality's name, e.g. 'Bergen kommune'.")
    org_number: OrgNumber
    her_id: HerId = Field(description="Level-1 HER-id of the municipality.")
    communication_party: CommunicationParty
    environment: TargetEnvironment
    pseudonym_secret_file: Path = Field(
        description="File with the tenant's secret for pseudonymous person keys (>= 32 bytes)."
    )
    test_persons_file: Path | None = Field(
        default=None,
        description=(
            "File with the municipality's configured test persons, one national id per line "
            "(a mounted Secret): their events are never sent."
        ),
    )
    certificates: TenantCertificates | None = None
    epj_clients: list[EpjClient] = Field(default_factory=list)
    oauth: TenantOAuth | None = Field(
        default=None, description="EPJ clients that use OAuth2 bearer tokens instead of API keys."
    )
    nhn: NhnEndpoint = NhnEndpoint()
    receiver_override: ReceiverOverride | None = None
    reporting: TenantReporting | None = Field(
        default=None,
        description=(
            "The EPJ system and contact persons KPR messages name; services that build "
            "messages refuse to start without it."
        ),
    )

    @field_validator("pseudonym_secret_file")
    @classmethod
    def _resolve_secret(cls, value: Path, info: ValidationInfo) -> Path:
        return _resolve(value, info)

    @field_validator("test_persons_file")
    @classmethod
    def _resolve_test_persons(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else _resolve(value, info)

    @model_validator(mode="after")
    def _distinct_her_ids(self) -> Self:
        if self.her_id == self.communication_party.her_id:
            raise ValueError(
                "the communication party needs its own HER-id (service-based addressing)"
            )
        return self

    def clients(self) -> list[EpjClient | OAuthClient]:
        """Every EPJ client of the tenant, API key or OAuth (one namespace of ids)."""
        oauth_clients = self.oauth.clients if self.oauth is not None else []
        return [*self.epj_clients, *oauth_clients]

    def client_ids(self) -> list[str]:
        """The ids of every EPJ client of the tenant, API key or OAuth (one namespace)."""
        return [c.id for c in self.clients()]

    def melding_profile(self, client_id: str | None) -> MeldingProfile:
        """The EPJ system and contacts of a message with this client's events.

        The client's own ``epj_system``, else ``reporting.epj_system``. An id the tenant no
        longer lists gets the default: its events outlive its entry in the file.
        """
        reporting = self._reporting()
        own = next((c.epj_system for c in self.clients() if c.id == client_id), None)
        system = own if own is not None else reporting.epj_system
        if system is None:
            who = (
                "a message without an EPJ client"
                if client_id is None
                else f"EPJ client {client_id}"
            )
            raise ReportingNotConfiguredError(
                f"tenant {self.id}: reporting.epj_system (the default) is not set and "
                f"{who} has no epj_system of its own"
            )
        return MeldingProfile(system=system.to_epj_system(), contacts=reporting.message_contacts())

    def require_reporting(self) -> None:
        """For start-up: every client that submits events has an EPJ system to name."""
        reporting = self._reporting()
        if reporting.epj_system is not None:
            return
        lacking = [
            c.id for c in self.clients() if Scope.SUBMIT in c.scopes and c.epj_system is None
        ]
        if lacking:
            raise ReportingNotConfiguredError(
                f"tenant {self.id}: reporting.epj_system (the default) is not set and EPJ "
                f"clients with scope submit have no epj_system of their own: {', '.join(lacking)}"
            )

    def _reporting(self) -> TenantReporting:
        if self.reporting is None:
            raise ReportingNotConfiguredError(
                f"tenant {self.id}: the reporting block (epj_system, contacts of type 16 "
                "and 17) is not configured; KPR messages cannot name their sender"
            )
        return self.reporting

    @property
    def async_queue(self) -> str:
        """The communication party's NHN queue where AppRecs arrive."""
        return self.nhn.async_queue or f"{self.communication_party.her_id}_async"

    @property
    def error_queue(self) -> str:
        """The communication party's NHN queue where transport errors arrive."""
        return self.nhn.error_queue or f"{self.communication_party.her_id}_error"

    def sender_organisation(self) -> Organisation:
        """The two-level MsgHead sender: the municipality with its communication party."""
        return Organisation(
            name=self.name,
            her_id=self.her_id,
            org_number=self.org_number,
            service=Organisation(
                name=self.communication_party.name, her_id=self.communication_party.her_id
            ),
        )


class TenantsFile(_Strict):
    """The tenants file: every municipality this gateway serves."""

    tenants: list[Tenant] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Self:
        _require_unique("tenant id", [t.id for t in self.tenants])
        _require_unique("municipality number", [t.municipality_number for t in self.tenants])
        _require_unique("EPJ client", [i for t in self.tenants for i in t.client_ids()])
        _require_unique(
            "OAuth tenant claim value",
            [t.oauth.tenant_claim_value for t in self.tenants if t.oauth is not None],
        )
        _require_unique("API key", [c.api_key_sha256 for t in self.tenants for c in t.epj_clients])
        _require_unique(
            "HER-id",
            [t.her_id for t in self.tenants] + [t.communication_party.her_id for t in self.tenants],
        )
        return self

    def by_id(self, tenant_id: str) -> Tenant:
        for tenant in self.tenants:
            if tenant.id == tenant_id:
                return tenant
        raise KeyError(tenant_id)


def _require_unique(what: str, values: list[str]) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate {what} {value}")
        seen.add(value)
