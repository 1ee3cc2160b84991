"""The demo's world and sample notifications: valid where meant to be, each deliberate case
what it claims to be."""

from __future__ import annotations

import random
import uuid
from pathlib import Path

from pydantic import ValidationError

from kpr_gateway.cli.demo.samples import event, national_id, sample_set
from kpr_gateway.cli.demo.world import DEMO_EPJ_SYSTEM, create_world
from kpr_gateway.ledger import EventState
from kpr_gateway.messages.iplos_kpr import ContactType, EventKind, IdType, Notification
from kpr_gateway.tenancy import load_tenants
from kpr_gateway.transform.rules import RuleSet


def test_the_world_names_an_epj_system_and_both_iplos_contacts(tmp_path: Path) -> None:
    world = create_world(tmp_path)
    tenants = load_tenants(world.tenants_file).tenants
    assert [t.id for t in tenants] == [m.tenant_id for m in world.municipalities]
    for tenant in tenants:
        tenant.require_reporting()
        for client in [None, *tenant.client_ids()]:
            profile = tenant.melding_profile(client)
            assert (profile.system.vendor, profile.system.name, profile.system.version) == tuple(
                DEMO_EPJ_SYSTEM.values()
            )
            assert {c.type for c in profile.contacts} == {
                ContactType.IPLOS_CONTACT,
                ContactType.IPLOS_SUBMITTER,
            }


def test_the_sample_set_has_every_deliberate_case(tmp_path: Path) -> None:
    tenant = load_tenants(create_world(tmp_path).tenants_file).tenants[0]
    items = sample_set(random.Random(7), tenant.municipality_number, 12)
    valid: list[Notification] = []
    refused = []
    for item in items:
        try:
            valid.append(Notification.model_validate(item))
        except ValidationError as exc:
            refused.append(exc)
    assert len(refused) == 1
    assert {n.kind for n in valid} == set(EventKind)
    by_id = {n.event_id: n for n in valid}
    corrections = [n for n in valid if n.corrects is not None]
    assert sorted(n.status.value for n in corrections) == ["C", "M"]
    (original,) = {n.corrects for n in corrections}
    assert original is not None
    assert by_id[original].status.value == "N"
    order = [n.event_id for n in valid]
    assert all(order.index(original) < order.index(n.event_id) for n in corrections)
    verdicts = [RuleSet().check(n, tenant) for n in valid]
    states = [v.state for v in verdicts]
    assert states.count(EventState.SUPPRESSED_TEST_PERSON) == 1
    assert states.count(None) == len(valid) - 1
    birth_dates = [n for n in valid if n.person.id_type is IdType.ANNET]
    assert len(birth_dates) == 1
    warned = [v for n, v in zip(valid, verdicts, strict=True) if n.person.id_type is IdType.ANNET]
    assert [f.rule for f in warned[0].findings] == ["no-kpr-id"]
    assert len(by_id) == len(valid)  # every event id once


def test_one_event_can_be_shaped_by_its_caller() -> None:
    rng = random.Random(3)
    person = national_id(rng)
    item = event(rng, "5001", person=person, service_type="29", kind=EventKind.TEMPORARY_STOP_TO)
    parsed = Notification.model_validate(item)
    assert (parsed.municipality_number, parsed.service_type, parsed.kind) == (
        "5001",
        "29",
        EventKind.TEMPORARY_STOP_TO,
    )
    assert parsed.person.national_id == person
    assert parsed.stop_id is not None
    assert uuid.UUID(item["event_id"]).version == 4
    assert event(random.Random(3), "5001") == event(random.Random(3), "5001")  # seeded
