"""AppRec addressing: an AppRec is accepted only from KPR (FHI's party of the tenant's
environment) to the tenant's communication party; anything else is parked with the reason,
before it can close a message, and without quoting the HER-ids it names."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from kpr_gateway.ledger import MessageState
from kpr_gateway.messages.apprec import (
    AppRec,
    AppRecParty,
    AppRecStatus,
    OriginalMsg,
    PartyUnit,
    apprec_for,
    build_apprec,
)
from kpr_gateway.receipts.errors import ForeignAppRecError, MisaddressedAppRecError
from kpr_gateway.receipts.reading import (
    Addressing,
    apprec_addressing,
    check_addressing,
    read_apprec,
)
from kpr_gateway.tenancy import Tenant
from tests.unit.receipts.conftest import Harness
from tests.unit.receipts.world import on_async_queue, seal

MUNICIPALITY, PARTY = "50001", "50002"  # the harness's tenant, bergen
NEIGHBOUR, NEIGHBOURS_PARTY = "60001", "60002"  # another municipality on the same gateway
FHI, KPR_VALIDERING, KPR = "85217", "171479", "122612"
MSG_ID = "4d7c6f0e-3b52-4c1a-9d3e-2f8a6b1c0d9e"
APPREC_NS = "http://www.kith.no/xmlstds/apprec/2004-11-21"


def tenant(tmp_path: Path, environment: str = "validation") -> Tenant:
    secret = tmp_path / "pseudonym.key"
    secret.write_bytes(b"0123456789abcdef0123456789abcdef-test")
    return Tenant.model_validate(
        {
            "id": "bergen",
            "municipality_number": "4601",
            "name": "Bergen kommune",
            "org_number": "964338531",
            "her_id": MUNICIPALITY,
            "communication_party": {"name": "Saksbehandling", "her_id": PARTY},
            "environment": environment,
            "pseudonym_secret_file": str(secret),
        }
    )


def party(
    institution: str | None, *departments: str, type_id: str = "HER", kind: str = "Inst"
) -> AppRecParty:
    """A party by HER-ids: the institution, and its departments (service-based addressing)."""
    return AppRecParty(
        name="Part",
        id=institution,
        type_id=type_id if institution is not None else None,
        kind="HCProf" if kind == "HCProf" else "Inst",
        departments=tuple(PartyUnit("Avdeling", d, type_id) for d in departments),
    )


def apprec(sender: AppRecParty, receiver: AppRecParty) -> AppRec:
    return AppRec(
        version="1.0",
        id=str(uuid.uuid4()),
        gen_date=datetime(2026, 1, 5, 10, 0, tzinfo=UTC),
        status=AppRecStatus.of(1),
        original=OriginalMsg(
            id=MSG_ID, msg_type="KPR_IPL", issue_date=datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        ),
        sender=sender,
        receiver=receiver,
    )


def received(document: AppRec, *, drop: str | None = None) -> AppRec:
    """``document`` as written and read back; ``drop``: an element taken out on the way
    (``Sender``, ``Receiver``, ``TypeId``), as a peer might send it."""
    written = build_apprec(document)
    if drop is not None:
        root = etree.fromstring(written)
        for element in root.iter(f"{{{APPREC_NS}}}{drop}"):
            element.getparent().remove(element)  # type: ignore[union-attr]
        written = etree.tostring(root)
    return read_apprec(written)


FROM_KPR = party(FHI, KPR_VALIDERING)
TO_US = party(MUNICIPALITY, PARTY)


def addressing_of(tmp_path: Path, environment: str = "validation") -> Addressing:
    return apprec_addressing(tenant(tmp_path, environment))


# -- accepted ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sender", "receiver", "environment"),
    [
        (FROM_KPR, TO_US, "validation"),  # as the gateway sends: two levels each way
        (party(KPR_VALIDERING), party(PARTY), "validation"),  # the parties alone (flat)
        (party(FHI, KPR), TO_US, "production"),
        # A tenant in production sends its test submissions to KPR Validering.
        (FROM_KPR, TO_US, "production"),
    ],
    ids=["two-level", "flat", "production", "production-test-submission"],
)
def test_an_apprec_from_kpr_to_the_communication_party_is_accepted(
    tmp_path: Path, sender: AppRecParty, receiver: AppRecParty, environment: str
) -> None:
    check_addressing(received(apprec(sender, receiver)), addressing_of(tmp_path, environment))


def test_identifiers_without_a_type_count_as_her_ids(tmp_path: Path) -> None:
    untyped = received(apprec(FROM_KPR, TO_US), drop="TypeId")
    assert untyped.receiver is not None
    assert untyped.receiver.type_id is None
    check_addressing(untyped, addressing_of(tmp_path))


# -- refused -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("receiver", "drop"),
    [
        (party(NEIGHBOUR, NEIGHBOURS_PARTY), None),  # another tenant's AppRec
        (party(MUNICIPALITY, NEIGHBOURS_PARTY), None),
        (party(NEIGHBOUR, PARTY), None),  # our party under another municipality
        (party(MUNICIPALITY), None),  # the municipality, not its communication party
        (party(MUNICIPALITY, PARTY, NEIGHBOURS_PARTY), None),  # which one is it for?
        (party(MUNICIPALITY, PARTY, type_id="ENH"), None),  # organisation numbers, no HER-ids
        (TO_US, "Receiver"),
    ],
    ids=[
        "other-tenant",
        "other-party",
        "other-municipality",
        "level-1-only",
        "two-parties",
        "not-her-ids",
        "no-receiver",
    ],
)
def test_an_apprec_not_addressed_to_the_communication_party_is_refused(
    tmp_path: Path, receiver: AppRecParty, drop: str | None
) -> None:
    document = received(apprec(FROM_KPR, receiver), drop=drop)
    with pytest.raises(MisaddressedAppRecError) as refused:
        check_addressing(document, addressing_of(tmp_path))
    assert str(refused.value) == (
        f"AppRec is not addressed to the tenant's communication party (HER-id {PARTY} under"
        f" {MUNICIPALITY})"
    )
    assert refused.value.reason_class == "misaddressed_apprec"
    assert refused.value.msg_id == MSG_ID


@pytest.mark.parametrize(
    ("sender", "drop"),
    [
        (party(FHI, KPR), None),  # KPR in production, to a tenant that sends to validation
        (party(FHI, "8133973"), None),  # NHN's communication test receiver
        (party(FHI, "12345"), None),  # another party of FHI
        (party(NEIGHBOUR, KPR_VALIDERING), None),  # KPR's HER-id under someone else
        (party(MUNICIPALITY, PARTY), None),  # our own message, reflected
        (party(NEIGHBOUR, NEIGHBOURS_PARTY), None),  # another municipality
        (party("565501", kind="HCProf"), None),  # a health professional
        (FROM_KPR, "Sender"),
    ],
    ids=[
        "kpr-production",
        "communication-test",
        "other-fhi-party",
        "kpr-under-other",
        "reflected",
        "municipality",
        "professional",
        "no-sender",
    ],
)
def test_an_apprec_not_from_kpr_is_refused(
    tmp_path: Path, sender: AppRecParty, drop: str | None
) -> None:
    document = received(apprec(sender, TO_US), drop=drop)
    with pytest.raises(ForeignAppRecError) as refused:
        check_addressing(document, addressing_of(tmp_path))
    assert str(refused.value) == f"AppRec is not from KPR (HER-id {KPR_VALIDERING} under {FHI})"
    assert refused.value.reason_class == "apprec_not_from_kpr"


def test_a_refusal_names_our_her_ids_not_the_ones_the_apprec_names(tmp_path: Path) -> None:
    document = received(apprec(party(NEIGHBOUR, "565501"), party(NEIGHBOUR, NEIGHBOURS_PARTY)))
    with pytest.raises(MisaddressedAppRecError) as refused:
        check_addressing(document, addressing_of(tmp_path))
    assert NEIGHBOURS_PARTY not in str(refused.value)
    assert NEIGHBOUR not in str(refused.value)


# -- in receipts: parked, the message left open ------------------------------------------


async def deliver_addressed(
    harness: Harness, *, sender: AppRecParty | None = None, receiver: AppRecParty | None = None
) -> tuple[str, str]:
    """FHI's AppRec to a sent message, its parties replaced; (MsgId, AMQP message id)."""
    sent = await harness.sent()
    answer = apprec_for(sent.head, status=1)
    answer = dataclasses.replace(
        answer, sender=sender or answer.sender, receiver=receiver or answer.receiver
    )
    message = on_async_queue(harness.tenant, seal(build_apprec(answer), harness.pki))
    await harness.deliver(message)
    return sent.msg_id, message.message_id


@pytest.mark.parametrize(
    ("sender", "receiver", "reason_class"),
    [
        (None, party(NEIGHBOUR, NEIGHBOURS_PARTY), "misaddressed_apprec"),
        (party(FHI, KPR), None, "apprec_not_from_kpr"),
        (party(MUNICIPALITY, PARTY), None, "apprec_not_from_kpr"),
    ],
    ids=["to-another-tenant", "from-kpr-production", "reflected"],
)
async def test_a_misaddressed_apprec_is_parked_and_closes_nothing(
    harness: Harness,
    sender: AppRecParty | None,
    receiver: AppRecParty | None,
    reason_class: str,
) -> None:
    msg_id, amqp_id = await deliver_addressed(harness, sender=sender, receiver=receiver)

    [parked] = harness.parked()
    assert parked.message_id == amqp_id
    assert parked.headers["kprgw-reason-class"] == reason_class
    assert parked.headers["kprgw-msg-id"] == msg_id
    assert parked.reason.startswith("AppRec is not")
    assert harness.transport.of(amqp_id) == ["accept"]
    assert (await harness.message(msg_id)).state is MessageState.DISPATCHED
    assert harness.notices == []
    assert harness.metric("kprgw_receipts_parked_total", tenant="bergen", reason=reason_class) == 1


async def test_the_same_apprec_correctly_addressed_closes_the_message(harness: Harness) -> None:
    msg_id, _ = await deliver_addressed(harness)

    assert harness.parked() == []
    assert (await harness.message(msg_id)).state is MessageState.ACKNOWLEDGED
