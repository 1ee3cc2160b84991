"""The tenant's reporting block: the EPJ system and contact persons a KPR message names."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from kpr_gateway.messages.iplos_kpr import Contact, ContactType, EpjSystem
from kpr_gateway.tenancy import (
    MeldingProfile,
    ReportingNotConfiguredError,
    TenancyError,
    Tenant,
    TenantFileError,
    load_tenant,
    load_tenants,
)
from tests.unit.tenancy.test_tenancy import bergen, trondheim, write

KARI = {"name": "Kari Nordmann", "email": "kari@bergen.example", "phone": "+47 912 34 567"}
OLA = {"name": "Ola Nordmann", "email": "ola@bergen.example", "email2": "iplos@bergen.example"}
PROFIL = {"vendor": "Visma", "name": "Profil", "version": "9.4"}
GERICA = {"vendor": "Tietoevry", "name": "Gerica", "version": "2025.1"}


def reporting(**changes: Any) -> dict[str, Any]:
    block: dict[str, Any] = {
        "epj_system": PROFIL,
        "contacts": [{**KARI, "type": 16}, {**OLA, "type": 17}],
    }
    block.update(changes)
    return block


def api_client(name: str, **changes: Any) -> dict[str, Any]:
    client: dict[str, Any] = {
        "id": name,
        "api_key_sha256": hashlib.sha256(name.encode()).hexdigest(),
    }
    client.update(changes)
    return client


def load(tmp_path: Path, **changes: Any) -> Tenant:
    return load_tenant(write(tmp_path, bergen(**changes)))


def test_the_block_loads_and_names_sender_and_contacts(tmp_path: Path) -> None:
    tenant = load(tmp_path, reporting=reporting())

    profile = tenant.melding_profile(None)

    assert profile == MeldingProfile(
        system=EpjSystem(vendor="Visma", name="Profil", version="9.4"),
        contacts=(
            Contact(
                name="Kari Nordmann",
                email="kari@bergen.example",
                type=ContactType.IPLOS_CONTACT,
                phone="+47 912 34 567",
            ),
            Contact(
                name="Ola Nordmann",
                email="ola@bergen.example",
                type=ContactType.IPLOS_SUBMITTER,
                email2="iplos@bergen.example",
            ),
        ),
    )


def test_one_person_may_hold_both_roles(tmp_path: Path) -> None:
    both = reporting(contacts=[{**KARI, "type": 17}, {**KARI, "type": 16}])
    contacts = load(tmp_path, reporting=both).melding_profile(None).contacts
    assert [c.type for c in contacts] == [ContactType.IPLOS_SUBMITTER, ContactType.IPLOS_CONTACT]
    assert {c.name for c in contacts} == {"Kari Nordmann"}


def test_the_message_carries_only_the_iplos_contact_types(tmp_path: Path) -> None:
    # Other codes of kodeverk 8471 (1 Teknisk produksjon, ...) are accepted in the file, but
    # an IPLOS message carries the IPLOS roles.
    technical = {"name": "Drift", "email": "drift@bergen.example", "type": 1}
    block = reporting(contacts=[technical, {**KARI, "type": 16}, {**OLA, "type": 17}])
    contacts = load(tmp_path, reporting=block).melding_profile(None).contacts
    assert [c.name for c in contacts] == ["Kari Nordmann", "Ola Nordmann"]


def test_values_are_trimmed(tmp_path: Path) -> None:
    block = reporting(
        epj_system={"vendor": " Visma ", "name": "Profil", "version": "9.4\n"},
        contacts=[{**KARI, "email": " kari@bergen.example ", "type": 16}, {**OLA, "type": 17}],
    )
    profile = load(tmp_path, reporting=block).melding_profile(None)
    assert (profile.system.vendor, profile.system.version) == ("Visma", "9.4")
    assert profile.contacts[0].email == "kari@bergen.example"


@pytest.mark.parametrize(
    ("block", "reason"),
    [
        (
            reporting(contacts=[{**KARI, "type": 16}]),
            r"reporting: .*lack type 17 \(IPLOS innsendingsansvarlig\)",
        ),
        (
            reporting(contacts=[{**OLA, "type": 17}]),
            r"reporting: .*lack type 16 \(IPLOS kontaktperson\)",
        ),
        (
            reporting(contacts=[{**KARI, "type": 1}]),
            r"lack type 16 \(IPLOS kontaktperson\) and 17 \(IPLOS innsendingsansvarlig\)",
        ),
        (reporting(contacts=[]), r"reporting\.contacts: .*at least 1 item"),
        (
            reporting(contacts=[{**KARI, "type": 20}, {**OLA, "type": 17}]),
            r"reporting\.contacts\.0\.type: .*kodeverk 8471 .*\(1-19\)",
        ),
        (
            reporting(contacts=[{**KARI, "type": 0}, {**OLA, "type": 17}]),
            r"reporting\.contacts\.0\.type: .*kodeverk 8471",
        ),
        (
            reporting(contacts=[{**KARI, "type": "sixteen"}, {**OLA, "type": 17}]),
            r"reporting\.contacts\.0\.type",
        ),
        (
            reporting(contacts=[{**KARI, "email": "kari.bergen.example", "type": 16}, OLA]),
            r"reporting\.contacts\.0\.email: .*one @",
        ),
        (
            reporting(contacts=[{**KARI, "email": "kari@x@bergen.example", "type": 16}, OLA]),
            r"reporting\.contacts\.0\.email: .*one @",
        ),
        (
            reporting(contacts=[{**KARI, "email": "kari @bergen.example", "type": 16}, OLA]),
            r"reporting\.contacts\.0\.email: .*no spaces",
        ),
        (
            reporting(contacts=[{**KARI, "type": 16}, {**OLA, "email2": "@", "type": 17}]),
            r"reporting\.contacts\.1\.email2: .*one @",
        ),
        (
            reporting(contacts=[{**KARI, "email": "", "type": 16}, {**OLA, "type": 17}]),
            r"reporting\.contacts\.0\.email: .*at least 1 character",
        ),
        (
            reporting(contacts=[{**KARI, "name": "K" * 101, "type": 16}, {**OLA, "type": 17}]),
            r"reporting\.contacts\.0\.name: .*at most 100 characters",
        ),
        (
            reporting(contacts=[{**KARI, "phone": "ring meg", "type": 16}, {**OLA, "type": 17}]),
            r"reporting\.contacts\.0\.phone",
        ),
        (
            reporting(contacts=[{"name": "Kari Nordmann", "type": 16}, {**OLA, "type": 17}]),
            r"reporting\.contacts\.0\.email: Field required",
        ),
        (
            reporting(contacts=[{**KARI, "type": 16, "role": "x"}, {**OLA, "type": 17}]),
            r"reporting\.contacts\.0\.role",
        ),
        (reporting(epj_system={**PROFIL, "vendor": ""}), r"reporting\.epj_system\.vendor"),
        (reporting(epj_system={**PROFIL, "name": "P" * 101}), r"reporting\.epj_system\.name"),
        (reporting(epj_system={"vendor": "Visma", "name": "Profil"}), r"epj_system\.version"),
    ],
)
def test_an_invalid_block_names_the_problem(tmp_path: Path, block: Any, reason: str) -> None:
    with pytest.raises(TenantFileError, match=reason):
        load(tmp_path, reporting=block)


def test_errors_do_not_echo_contact_details(tmp_path: Path) -> None:
    # Contact persons are staff: their names and addresses stay out of error texts.
    block = reporting(contacts=[{**KARI, "email": "kari.nordmann.bergen", "type": 16}, OLA])
    with pytest.raises(TenantFileError) as caught:
        load(tmp_path, reporting=block)
    assert "kari.nordmann" not in str(caught.value)
    assert "Nordmann" not in str(caught.value)


def test_a_clients_own_system_overrides_the_default(tmp_path: Path) -> None:
    tenant = load(
        tmp_path,
        reporting=reporting(),
        epj_clients=[api_client("gerica", epj_system=GERICA), api_client("profil")],
        oauth={
            "tenant_claim_value": "964338531",
            "clients": [{"id": "gerica-oauth", "client_id": "helseid", "epj_system": GERICA}],
        },
    )
    gerica = EpjSystem(vendor="Tietoevry", name="Gerica", version="2025.1")
    assert tenant.melding_profile("gerica").system == gerica
    assert tenant.melding_profile("gerica-oauth").system == gerica
    assert tenant.melding_profile("profil").system.name == "Profil"
    # A client the file no longer lists: its events still go, under the default.
    assert tenant.melding_profile("retired-client").system.name == "Profil"
    # Clients with the same system share one profile, so their events may share a message.
    assert tenant.melding_profile("gerica") == tenant.melding_profile("gerica-oauth")
    assert tenant.melding_profile("gerica") != tenant.melding_profile("profil")
    assert tenant.melding_profile("gerica").contacts == tenant.melding_profile(None).contacts


def test_clients_with_their_own_systems_need_no_default(tmp_path: Path) -> None:
    tenant = load(
        tmp_path,
        reporting=reporting(epj_system=None),
        epj_clients=[api_client("gerica", epj_system=GERICA)],
    )
    tenant.require_reporting()
    assert tenant.melding_profile("gerica").system.name == "Gerica"


def test_without_the_block_no_profile(tmp_path: Path) -> None:
    tenant = load(tmp_path, epj_clients=[api_client("gerica", epj_system=GERICA)])
    assert tenant.reporting is None
    with pytest.raises(ReportingNotConfiguredError, match=r"tenant bergen: the reporting block"):
        tenant.melding_profile("gerica")
    with pytest.raises(ReportingNotConfiguredError, match=r"tenant bergen: the reporting block"):
        tenant.require_reporting()


def test_without_a_system_for_the_client_no_profile(tmp_path: Path) -> None:
    tenant = load(
        tmp_path, reporting=reporting(epj_system=None), epj_clients=[api_client("gerica")]
    )
    with pytest.raises(
        ReportingNotConfiguredError,
        match=r"tenant bergen: reporting\.epj_system .*not set and EPJ client gerica has no",
    ):
        tenant.melding_profile("gerica")
    with pytest.raises(ReportingNotConfiguredError, match=r"a message without an EPJ client"):
        tenant.melding_profile(None)


def test_require_reporting_names_the_clients_without_a_system(tmp_path: Path) -> None:
    tenant = load(
        tmp_path,
        reporting=reporting(epj_system=None),
        epj_clients=[
            api_client("gerica"),
            api_client("reader", scopes=["read"]),
            api_client("profil", epj_system=PROFIL),
        ],
        oauth={"tenant_claim_value": "964338531", "clients": [{"id": "flyt", "client_id": "x"}]},
    )
    with pytest.raises(ReportingNotConfiguredError) as caught:
        tenant.require_reporting()
    message = str(caught.value)
    assert message.startswith("tenant bergen: reporting.epj_system (the default) is not set")
    assert message.endswith("no epj_system of their own: gerica, flyt")
    assert "reader" not in message
    assert isinstance(caught.value, TenancyError)


def test_require_reporting_passes_with_a_default(tmp_path: Path) -> None:
    tenant = load(tmp_path, reporting=reporting(), epj_clients=[api_client("gerica")])
    tenant.require_reporting()
    assert tenant.melding_profile("gerica").system.name == "Profil"


def test_tenants_without_the_block_still_load(tmp_path: Path) -> None:
    tenants = load_tenants(
        write(tmp_path, {"tenants": [bergen(reporting=reporting()), trondheim()]})
    )
    assert tenants.by_id("bergen").reporting is not None
    assert tenants.by_id("trondheim").reporting is None


def test_the_oslo_example_has_a_complete_block() -> None:
    example = Path(__file__).parents[3] / "examples" / "tenant-oslo.yaml"
    tenant = load_tenant(example)
    tenant.require_reporting()
    profile = tenant.melding_profile(None)
    assert {c.type for c in profile.contacts} == set(ContactType)
