"""Example messages shared by the messages tests (synthetic values only)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from lxml import etree

from kpr_gateway.messages.apprec import (
    APPREC_NAMESPACES,
    ERROR_CODE_SYSTEM,
    AppRec,
    AppRecErrorCode,
    AppRecStatusCode,
    apprec_for,
)
from kpr_gateway.messages.msghead import MSGHEAD_NS, MsgHead, Organisation
from tests.unit.messages.strategies import payload_document

NS10 = APPREC_NAMESPACES["1.0"]
NS11 = APPREC_NAMESPACES["1.1"]
MH = {"mh": MSGHEAD_NS}


def at(parent: etree._Element, path: str, namespaces: dict[str, str] = MH) -> etree._Element:
    """The element at ``path``; fails the test when it is missing."""
    found = parent.find(path, namespaces)
    assert found is not None, f"missing {path}"
    return found


def attrs(element: etree._Element) -> dict[str, str]:
    return {str(name): str(value) for name, value in element.attrib.items()}


GEN_DATE = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)


def municipality() -> Organisation:
    return Organisation(
        name="Testkommune",
        her_id="8142987",
        org_number="974760673",
        service=Organisation(name="Saksbehandling", her_id="8142988"),
    )


def kpr() -> Organisation:
    return Organisation(
        name="Folkehelseinstituttet",
        her_id="85217",
        service=Organisation(name="KPR Validering", her_id="171479"),
    )


def head(**changes: object) -> MsgHead:
    base = MsgHead(
        msg_type="KPR_IPL",
        msg_type_text="KPR fagmelding",
        msg_id="4d7c6f0e-3b52-4c1a-9d3e-2f8a6b1c0d9e",
        gen_date=GEN_DATE,
        sender=municipality(),
        receiver=kpr(),
        issue_date=GEN_DATE,
        document=payload_document("12345678901", ["a", "b"], [["c"]]),
        content_description="KPR KTT",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def apprec_document(
    *,
    namespace: str = NS10,
    mig: str = "<MIGversion>1.0 2004-11-21</MIGversion>",
    status: str = '<Status V="2" DN="Avvist"/>',
    errors: str = '<Error V="E21" S="2.16.578.1.12.4.1.1.8221" DN="Mottaker finnes ikke"/>',
    original: str = (
        "<OriginalMsgId><MsgType V='KPR_IPL'/><IssueDate>2025-03-14T09:26:53Z</IssueDate>"
        "<Id>4d7c6f0e-3b52-4c1a-9d3e-2f8a6b1c0d9e</Id></OriginalMsgId>"
    ),
    sender_hcp: str = (
        "<Inst><Name>Folkehelseinstituttet</Name><Id>85217</Id><TypeId V='HER'/>"
        "<Dept><Name>KPR</Name><Id>122612</Id><TypeId V='HER'/></Dept></Inst>"
    ),
    extra: str = "",
) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<AppRec xmlns="{namespace}">
  <MsgType V="APPREC" DN="Applikasjonskvittering"/>
  {mig}
  <GenDate>2025-03-14T10:00:00Z</GenDate>
  <Id>ar-1</Id>
  <Sender><Role V="AVS"/><HCP>{sender_hcp}</HCP></Sender>
  <Receiver>
    <HCP><Inst><Name>Testkommune</Name><Id>8142987</Id><TypeId V="HER"/></Inst></HCP>
  </Receiver>
  {status}
  {errors}
  {extra}
  {original}
</AppRec>
""".encode()


def reply(**changes: object) -> AppRec:
    base = apprec_for(
        MsgHead(
            msg_type="KPR_IPL",
            msg_type_text="KPR fagmelding",
            msg_id="4d7c6f0e-3b52-4c1a-9d3e-2f8a6b1c0d9e",
            gen_date=datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC),
            sender=Organisation(
                "Testkommune", "8142987", "974760673", Organisation("Saks", "8142988")
            ),
            receiver=Organisation(
                "Folkehelseinstituttet", "85217", None, Organisation("KPR", "122612")
            ),
            issue_date=datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC),
            document=payload_document("12345678901", [], []),
        ),
        status=AppRecStatusCode.REJECTED,
        errors=[AppRecErrorCode("E21", ERROR_CODE_SYSTEM, "Mottaker finnes ikke")],
        apprec_id="ar-1",
        gen_date=datetime(2025, 3, 14, 10, 0, tzinfo=UTC),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]
