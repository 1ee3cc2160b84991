"""What a tenant's KPR messages say about their sender (XPR(ipl) 56.0.0, ``Melding`` and
``Kontaktperson``): the EPJ system that registered the events and the municipality's
contact persons.

The specification limits ``leverandor``, ``navnEPJ``, ``versjonEPJ`` and ``kontPerson`` to
100 characters and asks every municipality for at least one contact of type 16 (IPLOS
kontaktperson) and one of type 17 (IPLOS innsendingsansvarlig); the file is refused
otherwise, so a message is never built without them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from kpr_gateway.messages.iplos_kpr import Contact, ContactType, EpjSystem

CONTACT_TYPE_CODES = range(1, 20)
"""Kodeverk 8471 Kontaktperson type has 19 codes."""

REQUIRED_CONTACT_TYPES: dict[ContactType, str] = {
    ContactType.IPLOS_CONTACT: "IPLOS kontaktperson",
    ContactType.IPLOS_SUBMITTER: "IPLOS innsendingsansvarlig",
}

_MESSAGE_CONTACT_TYPES = frozenset(t.value for t in ContactType)
"""The types an IPLOS message carries: those the messages library models (16 and 17)."""


def _one_at_sign(value: str) -> str:
    # A light sanity check that catches a name or a phone number in the wrong field;
    # the register's answer is what proves an address.
    local, at, domain = value.partition("@")
    if not at or not local or not domain or "@" in domain or any(c.isspace() for c in value):
        raise ValueError("an e-mail address needs one @ with text on both sides, no spaces")
    return value


def _contact_type_code(value: int) -> int:
    if value not in CONTACT_TYPE_CODES:
        raise ValueError("not a code of kodeverk 8471 Kontaktperson type (1-19)")
    return value


Text100 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(_one_at_sign),
]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9][0-9 ]{2,19}$")]
ContactTypeCode = Annotated[int, AfterValidator(_contact_type_code)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EpjSystemEntry(_Strict):
    """An EPJ system as the message names it: ``leverandor``, ``navnEPJ``, ``versjonEPJ``."""

    vendor: Text100 = Field(description="The EPJ vendor, e.g. 'Visma'.")
    name: Text100 = Field(description="The system's name, e.g. 'Profil'.")
    version: Text100 = Field(description="The system's version, e.g. '9.4'.")

    def to_epj_system(self) -> EpjSystem:
        return EpjSystem(vendor=self.vendor, name=self.name, version=self.version)


class ContactEntry(_Strict):
    """A ``Kontaktperson``: the register writes to them about the municipality's messages."""

    name: Text100
    email: Email
    phone: Phone | None = Field(
        default=None,
        description="Digits, spaces, a leading +; a mobile number opens protected replies.",
    )
    email2: Email | None = Field(default=None, description="An alternative address.")
    type: ContactTypeCode = Field(
        description="Kodeverk 8471: 16 IPLOS kontaktperson, 17 IPLOS innsendingsansvarlig."
    )

    def to_contact(self) -> Contact | None:
        """The message's contact, or None for a type the IPLOS message does not carry."""
        if self.type not in _MESSAGE_CONTACT_TYPES:
            return None
        return Contact(
            name=self.name,
            email=self.email,
            type=ContactType(self.type),
            phone=self.phone,
            email2=self.email2,
        )


class TenantReporting(_Strict):
    """The tenant's ``reporting`` block: the default EPJ system and the contact persons."""

    epj_system: EpjSystemEntry | None = Field(
        default=None,
        description="The EPJ system of clients without their own epj_system.",
    )
    contacts: list[ContactEntry] = Field(
        min_length=1,
        description="At least one of type 16 and one of type 17 (the same person may be both).",
    )

    @model_validator(mode="after")
    def _iplos_roles(self) -> Self:
        given = {contact.type for contact in self.contacts}
        missing = [
            f"{code.value} ({label})"
            for code, label in REQUIRED_CONTACT_TYPES.items()
            if code.value not in given
        ]
        if missing:
            raise ValueError(
                f"contacts lack type {' and '.join(missing)}: every municipality needs at "
                "least one 16 IPLOS kontaktperson and one 17 IPLOS innsendingsansvarlig "
                "(the same person may hold both)"
            )
        return self

    def message_contacts(self) -> tuple[Contact, ...]:
        return tuple(c for c in (entry.to_contact() for entry in self.contacts) if c is not None)


@dataclass(frozen=True, slots=True)
class MeldingProfile:
    """What a ``Melding`` of one tenant and one EPJ client says about its sender.

    Hashable and equal for clients that share a system, so batches can be grouped by it.
    """

    system: EpjSystem
    contacts: tuple[Contact, ...]
