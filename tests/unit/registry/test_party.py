"""Reading a communication party: queue addresses (own before inherited), types, parents;
and the cache's JSON form of a party, round trip."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from kpr_gateway.registry import (
    CommunicationParty,
    PartyType,
    QueueKind,
    RegistryResponseError,
    queue_name,
)
from kpr_gateway.registry.party import (
    parse_communication_party,
    party_from_json,
    party_to_json,
)

P = "http://register.nhn.no/CommunicationParty"
C = "http://register.nhn.no/Common"
XSI = "http://www.w3.org/2001/XMLSchema-instance"


def address(kind: str, value: str, *, inherited: bool, type_code_only: bool = False) -> str:
    code = f"<b:Type><b:CodeValue>{kind}</b:CodeValue></b:Type>"
    if not type_code_only:
        code += f"<b:TypeCodeValue>{kind}</b:TypeCodeValue>"
    flag = "true" if inherited else "false"
    return (
        f"<b:ElectronicAddress><b:Address>{value}</b:Address>"
        f"<b:Inherited>{flag}</b:Inherited>{code}</b:ElectronicAddress>"
    )


def party(*children: str, xsi_type: str | None = None) -> etree._Element:
    declared = f' i:type="{xsi_type}"' if xsi_type else ""
    return etree.fromstring(
        f'<CommunicationParty xmlns="{P}" xmlns:i="{XSI}" xmlns:b="{C}"{declared}>'
        + "".join(children)
        + "</CommunicationParty>"
    )


def test_own_addresses_win_over_inherited_ones_in_any_order() -> None:
    element = party(
        "<HerId>70002</HerId>",
        "<ElectronicAddresses>"
        + address("E_SB_ASYNC", "sb/parent_async", inherited=True)
        + address("E_SB_ASYNC", "sb/own_async", inherited=False)
        + address("E_SB_ASYNC", "sb/second_own_async", inherited=False)
        + address("E_SB_ERROR", "sb/own_error", inherited=False)
        + address("E_SB_ERROR", "sb/parent_error", inherited=True)
        + address("E_SB_SYNC", "sb/first_parent_sync", inherited=True)
        + address("E_SB_SYNC", "sb/second_parent_sync", inherited=True)
        + "</ElectronicAddresses>",
    )
    parsed = parse_communication_party(element)

    assert parsed.async_queue == "own_async"
    assert parsed.error_queue == "own_error"
    assert parsed.sync_queue == "first_parent_sync"
    assert parsed.inherited_queues == frozenset({QueueKind.SYNC})


def test_address_type_read_from_the_code_when_the_short_form_is_missing() -> None:
    element = party(
        "<HerId>70002</HerId>",
        "<ElectronicAddresses>"
        + address(
            "E_SB_ASYNC",
            "\n  sb.test.nhn.no/DigitalDialog/70002_async \n",
            inherited=False,
            type_code_only=True,
        )
        + address("E_DS", "ldap://x/y", inherited=False)
        + address("E_SB_ERROR", "sb.test.nhn.no/", inherited=False)
        + "</ElectronicAddresses>",
    )
    parsed = parse_communication_party(element)

    assert parsed.async_queue == "70002_async"
    assert parsed.error_queue is None  # an address ending in "/" names no queue


@pytest.mark.parametrize(
    ("address_text", "queue"),
    [
        ("sb.test.nhn.no/DigitalDialog/93238_async", "93238_async"),
        ("93238_async", "93238_async"),
        (" a/b/c ", "c"),
        ("a/", ""),
    ],
)
def test_queue_is_the_text_after_the_last_slash(address_text: str, queue: str) -> None:
    assert queue_name(address_text) == queue


@pytest.mark.parametrize(
    ("children", "xsi_type", "expected"),
    [
        (["<Type>Service</Type>"], None, PartyType.SERVICE),
        (["<Type>Organization</Type>"], "Service", PartyType.ORGANIZATION),
        (["<Type>Unheard Person</Type>"], None, PartyType.PERSON),
        (["<Type>Unheard</Type>"], "OrganizationPerson", PartyType.PERSON),
        ([], "q1:Service", PartyType.SERVICE),
        ([], None, PartyType.NONE),
    ],
)
def test_party_type(children: list[str], xsi_type: str | None, expected: PartyType) -> None:
    parsed = parse_communication_party(party("<HerId>70002</HerId>", *children, xsi_type=xsi_type))
    assert parsed.type is expected


def test_parent_absent_nil_or_minus_one() -> None:
    parsed = parse_communication_party(
        party(
            "<HerId>70002</HerId>",
            "<ParentHerId>-1</ParentHerId>",
            '<ParentName i:nil="true"/>',
            "<Active>1</Active>",
        )
    )
    assert (parsed.parent_her_id, parsed.parent_name) == (None, None)
    assert parsed.active
    assert not parsed.valid_communication_party  # absent: the cautious reading
    assert parsed.name == ""


def test_display_name_when_name_is_missing() -> None:
    parsed = parse_communication_party(
        party("<DisplayName>Legevakt</DisplayName>", "<HerId>70002</HerId>", '<Name i:nil="true"/>')
    )
    assert parsed.name == "Legevakt"


@pytest.mark.parametrize("her_id", ["", "<HerId/>", "<HerId>-1</HerId>", "<HerId>x</HerId>"])
def test_a_party_needs_a_her_id(her_id: str) -> None:
    with pytest.raises(RegistryResponseError, match="no valid HerId"):
        parse_communication_party(party(her_id))


def test_names_stay_out_of_the_repr() -> None:
    person = CommunicationParty(
        her_id="93238",
        name="Alexander Dahl",
        type=PartyType.PERSON,
        active=True,
        valid_communication_party=True,
        parent_her_id="93237",
        parent_name="DD fastlege",
    )
    assert "Alexander" not in repr(person)
    assert "fastlege" not in repr(person)
    assert "93238" in repr(person)


her_ids = st.integers(min_value=1, max_value=2**31 - 1).map(str)
queues = st.none() | st.text(min_size=1, max_size=40)
parties = st.builds(
    CommunicationParty,
    her_id=her_ids,
    name=st.text(max_size=60),
    type=st.sampled_from(PartyType),
    active=st.booleans(),
    valid_communication_party=st.booleans(),
    parent_her_id=st.none() | her_ids,
    parent_name=st.none() | st.text(max_size=60),
    async_queue=queues,
    sync_queue=queues,
    error_queue=queues,
    inherited_queues=st.frozensets(st.sampled_from(QueueKind)),
)


@settings(max_examples=50)
@given(parties)
def test_json_round_trip(original: CommunicationParty) -> None:
    assert party_from_json(party_to_json(original)) == original


@pytest.mark.parametrize(
    "stored",
    [
        b"[]",
        b"{}",
        b"not json",
        b"\xff\xfe",
        json.dumps({"her_id": "0"}).encode(),
    ],
)
def test_unreadable_json_is_refused(stored: bytes) -> None:
    with pytest.raises((ValueError, TypeError, KeyError)):
        party_from_json(stored)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", 5),
        ("active", "yes"),
        ("type", "Robot"),
        ("inherited_queues", ["E_X"]),
        ("parent_name", 1),
    ],
)
def test_wrongly_typed_json_fields_are_refused(field: str, value: object) -> None:
    good = json.loads(
        party_to_json(
            CommunicationParty(
                her_id="70002",
                name="P",
                type=PartyType.SERVICE,
                active=True,
                valid_communication_party=True,
            )
        )
    )
    good[field] = value
    with pytest.raises((ValueError, TypeError)):
        party_from_json(json.dumps(good).encode())
