"""Application receipt (AppRec) v1.0 and v1.1: tolerant reader, strict writer.

Real receipts are not always tidy, so the reader trims whitespace in codes and ids, accepts an
unknown or missing MIGversion and ignores unknown elements, noting each in ``warnings``. It is
strict only where correlation depends on it: OriginalMsgId/Id and the status (kodeverk 8258).
The writer accepts only what validates against the official XSD of the chosen version.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any, Literal, TypeVar, get_args

from lxml import etree

from kpr_gateway.messages.errors import (
    AppRecError,
    MissingOriginalMsgIdError,
    NotAnAppRecError,
    UnknownAppRecStatusError,
)
from kpr_gateway.messages.msghead import MsgHead, Organisation
from kpr_gateway.messages.xmlsafe import DEFAULT_MAX_BYTES, parse_xml
from kpr_gateway.messages.xmlwrite import to_bytes
from kpr_gateway.messages.xsdtime import format_utc, parse_datetime

AppRecVersion = Literal["1.0", "1.1"]
PartyKind = Literal["Inst", "HCProf"]

APPREC_NAMESPACES: dict[AppRecVersion, str] = {
    "1.0": "http://www.kith.no/xmlstds/apprec/2004-11-21",
    "1.1": "http://www.kith.no/xmlstds/apprec/2012-02-15",
}
MIG_VERSIONS: dict[AppRecVersion, str] = {"1.0": "1.0 2004-11-21", "1.1": "v1.1 2012-02-15"}
APPREC_MSG_TYPE = ("APPREC", "Applikasjonskvittering")
# OID of kodeverk 8221 "Feil i applikasjonskvittering".
ERROR_CODE_SYSTEM = "2.16.578.1.12.4.1.1.8221"
# Display names written for well-known identifier types; other types are written as V only.
ID_TYPE_TEXTS = {
    "HER": "HER-id",
    "ENH": "Organisasjonsnummeret i Enhetsregisteret",
    "HPR": "HPR-nummer",
}

_T = TypeVar("_T")
_CODE = re.compile(r"\S+")
_OID = re.compile(r"(\d+\.?)*\d+")
_KNOWN_CHILDREN = frozenset(
    {
        "MsgType",
        "MIGversion",
        "SoftwareName",
        "SoftwareVersion",
        "GenDate",
        "Id",
        "Sender",
        "Receiver",
        "Status",
        "Error",
        "OriginalMsgId",
    }
)


class AppRecStatusCode(IntEnum):
    """Kodeverk 8258 "Status for mottak av melding"."""

    OK = 1
    REJECTED = 2
    OK_WITH_ERRORS = 3


STATUS_TEXTS = {
    AppRecStatusCode.OK: "OK",
    AppRecStatusCode.REJECTED: "Avvist",
    AppRecStatusCode.OK_WITH_ERRORS: "OK, feil i delmelding",
}


@dataclass(frozen=True, slots=True)
class AppRecStatus:
    code: AppRecStatusCode
    text: str

    @classmethod
    def of(cls, code: AppRecStatusCode | int) -> AppRecStatus:
        """The status with its text from kodeverk 8258."""
        try:
            known = AppRecStatusCode(code)
        except ValueError as exc:
            raise UnknownAppRecStatusError("status must be 1, 2 or 3 (kodeverk 8258)") from exc
        return cls(known, STATUS_TEXTS[known])


@dataclass(frozen=True, slots=True)
class AppRecErrorCode:
    """One ``Error`` CV: ``code`` = V, ``system`` = S (an OID), ``text`` = DN, ``ref`` = OT."""

    code: str
    system: str | None = None
    text: str | None = None
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class OriginalMsg:
    """The message this receipt answers; ``id`` is the MsgId that was sent."""

    id: str
    msg_type: str | None = None
    issue_date: datetime | None = None


@dataclass(frozen=True, slots=True)
class AdditionalId:
    id: str
    type: str | None = None


@dataclass(frozen=True, slots=True)
class PartyUnit:
    """A department (``Dept``) or a person in an institution (``HCPerson``)."""

    name: str | None = field(default=None, repr=False)
    id: str | None = None
    type_id: str | None = None
    additional_ids: tuple[AdditionalId, ...] = ()


@dataclass(frozen=True, slots=True)
class AppRecParty:
    """Sender or receiver: the ``HCP`` as an institution (``Inst``) or a professional."""

    name: str | None = field(default=None, repr=False)
    id: str | None = None
    type_id: str | None = None
    kind: PartyKind = "Inst"
    role: str | None = None
    additional_ids: tuple[AdditionalId, ...] = ()
    departments: tuple[PartyUnit, ...] = ()
    persons: tuple[PartyUnit, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class AppRec:
    """An application receipt. Optional fields are ``None`` only when a received one lacked them."""

    version: AppRecVersion = "1.0"
    id: str | None
    gen_date: datetime | None
    status: AppRecStatus
    original: OriginalMsg
    sender: AppRecParty | None
    receiver: AppRecParty | None
    errors: list[AppRecErrorCode] = field(default_factory=list)
    msg_type: str = APPREC_MSG_TYPE[0]
    mig_version: str | None = None
    software_name: str | None = None
    software_version: str | None = None
    warnings: list[str] = field(default_factory=list)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "id": self.id,
            "gen_date": _iso(self.gen_date),
            "status": {"code": int(self.status.code), "text": self.status.text},
            "errors": [
                {"code": e.code, "system": e.system, "text": e.text, "ref": e.ref}
                for e in self.errors
            ],
            "original": {
                "msg_type": self.original.msg_type,
                "issue_date": _iso(self.original.issue_date),
                "id": self.original.id,
            },
            "sender": _party_json(self.sender),
            "receiver": _party_json(self.receiver),
        }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _additional_json(ids: tuple[AdditionalId, ...]) -> list[dict[str, Any]]:
    return [{"id": a.id, "type": a.type} for a in ids]


def _unit_json(unit: PartyUnit) -> dict[str, Any]:
    return {
        "name": unit.name,
        "id": unit.id,
        "type_id": unit.type_id,
        "additional_ids": _additional_json(unit.additional_ids),
    }


def _party_json(party: AppRecParty | None) -> dict[str, Any] | None:
    if party is None:
        return None
    return {
        "role": party.role,
        "kind": party.kind,
        "name": party.name,
        "id": party.id,
        "type_id": party.type_id,
        "additional_ids": _additional_json(party.additional_ids),
        "departments": [_unit_json(d) for d in party.departments],
        "persons": [_unit_json(p) for p in party.persons],
    }


# ----------------------------------------------------------------------------- reading


class _Reader:
    """Reads one AppRec in its namespace, collecting warnings for tolerated noise."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.warnings: list[str] = []

    def q(self, name: str) -> str:
        return f"{{{self.namespace}}}{name}"

    def find(self, parent: etree._Element, name: str) -> etree._Element | None:
        return parent.find(self.q(name))

    def findall(self, parent: etree._Element, name: str) -> list[etree._Element]:
        return parent.findall(self.q(name))

    def trimmed(self, raw: str | None, where: str) -> str | None:
        if raw is None:
            return None
        value = raw.strip()
        if value != raw:
            self.warnings.append(f"whitespace trimmed in {where}")
        return value or None

    def code(self, parent: etree._Element, name: str, where: str) -> str | None:
        element = self.find(parent, name)
        return None if element is None else self.trimmed(element.get("V"), f"{where}/{name}/@V")

    def ident(self, parent: etree._Element, name: str, where: str) -> str | None:
        element = self.find(parent, name)
        return None if element is None else self.trimmed(element.text, f"{where}/{name}")

    def text(self, parent: etree._Element, name: str) -> str | None:
        element = self.find(parent, name)
        return None if element is None else (element.text or "")

    def date(self, parent: etree._Element, name: str, where: str) -> datetime | None:
        raw = self.ident(parent, name, where)
        if raw is None:
            self.warnings.append(f"missing {where}/{name}")
            return None
        try:
            return parse_datetime(raw)
        except ValueError:
            self.warnings.append(f"{where}/{name} is not a valid date-time; ignored")
            return None

    def additional_ids(self, parent: etree._Element, where: str) -> tuple[AdditionalId, ...]:
        found = []
        for element in self.findall(parent, "AdditionalId"):
            value = self.ident(element, "Id", f"{where}/AdditionalId")
            if value is None:
                self.warnings.append(f"{where}/AdditionalId without Id ignored")
                continue
            found.append(AdditionalId(value, self.code(element, "Type", f"{where}/AdditionalId")))
        return tuple(found)

    def unit(self, element: etree._Element, where: str) -> PartyUnit:
        return PartyUnit(
            name=self.text(element, "Name"),
            id=self.ident(element, "Id", where),
            type_id=self.code(element, "TypeId", where),
            additional_ids=self.additional_ids(element, where),
        )

    def party(self, root: etree._Element, name: str) -> AppRecParty | None:
        element = self.find(root, name)
        hcp = None if element is None else self.find(element, "HCP")
        if element is None or hcp is None:
            self.warnings.append(f"missing {name}/HCP")
            return None
        role = self.code(element, "Role", name)
        inst = self.find(hcp, "Inst")
        if inst is not None:
            where = f"{name}/HCP/Inst"
            base = self.unit(inst, where)
            return AppRecParty(
                name=base.name,
                id=base.id,
                type_id=base.type_id,
                kind="Inst",
                role=role,
                additional_ids=base.additional_ids,
                departments=tuple(
                    self.unit(d, f"{where}/Dept") for d in self.findall(inst, "Dept")
                ),
                persons=tuple(
                    self.unit(p, f"{where}/HCPerson") for p in self.findall(inst, "HCPerson")
                ),
            )
        prof = self.find(hcp, "HCProf")
        if prof is None:
            self.warnings.append(f"{name}/HCP has neither Inst nor HCProf")
            return None
        base = self.unit(prof, f"{name}/HCP/HCProf")
        return AppRecParty(
            name=base.name,
            id=base.id,
            type_id=base.type_id,
            kind="HCProf",
            role=role,
            additional_ids=base.additional_ids,
        )

    def status(self, root: etree._Element) -> AppRecStatus:
        element = self.find(root, "Status")
        if element is None:
            raise UnknownAppRecStatusError("AppRec: Status is missing")
        value = self.trimmed(element.get("V"), "Status/@V")
        if value not in ("1", "2", "3"):
            raise UnknownAppRecStatusError("AppRec: Status/@V is not a code of kodeverk 8258")
        code = AppRecStatusCode(int(value))
        text = element.get("DN")
        return AppRecStatus(code, text if text else STATUS_TEXTS[code])

    def errors(self, root: etree._Element) -> list[AppRecErrorCode]:
        found = []
        for position, element in enumerate(self.findall(root, "Error"), start=1):
            where = f"Error[{position}]"
            code = self.trimmed(element.get("V"), f"{where}/@V")
            if code is None:
                self.warnings.append(f"{where} has no code (V)")
            found.append(
                AppRecErrorCode(
                    code=code or "",
                    system=self.trimmed(element.get("S"), f"{where}/@S"),
                    text=element.get("DN"),
                    ref=element.get("OT"),
                )
            )
        return found

    def original(self, root: etree._Element) -> OriginalMsg:
        element = self.find(root, "OriginalMsgId")
        msg_id = None if element is None else self.ident(element, "Id", "OriginalMsgId")
        if element is None or msg_id is None:
            raise MissingOriginalMsgIdError("AppRec: OriginalMsgId/Id is missing or empty")
        msg_type = self.code(element, "MsgType", "OriginalMsgId")
        if msg_type is None:
            self.warnings.append("missing OriginalMsgId/MsgType")
        return OriginalMsg(
            id=msg_id,
            msg_type=msg_type,
            issue_date=self.date(element, "IssueDate", "OriginalMsgId"),
        )

    def mig_version(self, root: etree._Element, version: AppRecVersion) -> str | None:
        value = self.ident(root, "MIGversion", "AppRec")
        if value is None:
            self.warnings.append("missing MIGversion")
        elif value != MIG_VERSIONS[version]:
            self.warnings.append(
                f"MIGversion is not {MIG_VERSIONS[version]!r}; read as AppRec {version}"
            )
        return value

    def note_unknown_children(self, root: etree._Element) -> None:
        for child in root:
            if not isinstance(child.tag, str):
                continue
            qname = etree.QName(child)
            if qname.namespace != self.namespace or qname.localname not in _KNOWN_CHILDREN:
                self.warnings.append(f"ignored unknown element {qname.localname[:50]} in AppRec")


def _version_of(root: etree._Element) -> AppRecVersion:
    qname = etree.QName(root)
    for version, namespace in APPREC_NAMESPACES.items():
        if qname.localname == "AppRec" and qname.namespace == namespace:
            return version
    raise NotAnAppRecError("root element is not AppRec in the AppRec v1.0 or v1.1 namespace")


def parse_apprec(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> AppRec:
    """Read an AppRec v1.0 or v1.1.

    Raises ``NotAnAppRecError`` (wrong root), ``MissingOriginalMsgIdError``,
    ``UnknownAppRecStatusError``, and the ``xmlsafe`` errors for unsafe or malformed input.
    """
    root = parse_xml(data, max_bytes=max_bytes)
    version = _version_of(root)
    reader = _Reader(APPREC_NAMESPACES[version])
    reader.note_unknown_children(root)
    status = reader.status(root)
    original = reader.original(root)
    msg_type = reader.code(root, "MsgType", "AppRec")
    if msg_type != APPREC_MSG_TYPE[0]:
        reader.warnings.append("MsgType is not APPREC")
    apprec_id = reader.ident(root, "Id", "AppRec")
    if apprec_id is None:
        reader.warnings.append("missing AppRec/Id")
    return AppRec(
        version=version,
        id=apprec_id,
        gen_date=reader.date(root, "GenDate", "AppRec"),
        status=status,
        original=original,
        sender=reader.party(root, "Sender"),
        receiver=reader.party(root, "Receiver"),
        errors=reader.errors(root),
        msg_type=msg_type or "",
        mig_version=reader.mig_version(root, version),
        software_name=reader.text(root, "SoftwareName"),
        software_version=reader.text(root, "SoftwareVersion"),
        warnings=reader.warnings,
    )


# ----------------------------------------------------------------------------- writing


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise AppRecError(message)


def _present(value: _T | None, where: str) -> _T:
    if value is None:
        raise AppRecError(f"{where} is required")
    return value


def _check_code(value: str | None, where: str, *, required: bool = True) -> None:
    if value is None:
        _require(not required, f"{where} is required")
        return
    _require(_CODE.fullmatch(value) is not None, f"{where} must be a code without spaces")


def _check_id(value: str | None, where: str, *, required: bool = True) -> None:
    if value is None:
        _require(not required, f"{where} is required")
        return
    _require(
        bool(value) and value == value.strip(),
        f"{where} must be non-empty without surrounding whitespace",
    )


def _check_aware(value: datetime | None, where: str) -> None:
    _require(_present(value, where).utcoffset() is not None, f"{where} must be timezone-aware")


def _check_additional(ids: tuple[AdditionalId, ...], where: str) -> None:
    for additional in ids:
        _check_id(additional.id, f"{where}.additional_ids.id")
        _check_code(additional.type, f"{where}.additional_ids.type")


def _check_unit(unit: PartyUnit | AppRecParty, where: str) -> None:
    _check_id(unit.id, f"{where}.id", required=False)
    _check_code(unit.type_id, f"{where}.type_id", required=unit.id is not None)
    _check_additional(unit.additional_ids, where)


def _check_party(party: AppRecParty | None, where: str) -> None:
    party = _present(party, where)
    _require(party.kind in get_args(PartyKind), f"{where}.kind must be Inst or HCProf")
    _check_code(party.role, f"{where}.role", required=False)
    _check_unit(party, where)
    if party.kind == "HCProf":
        _require(
            not party.departments and not party.persons,
            f"{where}: departments and persons belong to an Inst only",
        )
    for department in party.departments:
        _check_unit(department, f"{where}.departments")
    for person in party.persons:
        _check_unit(person, f"{where}.persons")


def _check_apprec(apprec: AppRec) -> None:
    _require(apprec.version in APPREC_NAMESPACES, "version must be '1.0' or '1.1'")
    _require(apprec.msg_type == APPREC_MSG_TYPE[0], "msg_type must be APPREC")
    _require(
        apprec.mig_version in (None, MIG_VERSIONS[apprec.version]),
        f"mig_version must be {MIG_VERSIONS[apprec.version]!r} for AppRec {apprec.version}",
    )
    _check_id(apprec.id, "id")
    _check_aware(apprec.gen_date, "gen_date")
    _require(apprec.status.code in set(AppRecStatusCode), "status code must be 1, 2 or 3")
    for error in apprec.errors:
        _check_code(error.code, "errors.code")
        if error.system is not None:
            _require(_OID.fullmatch(error.system) is not None, "errors.system must be an OID")
    _check_id(apprec.original.id, "original.id")
    _check_code(apprec.original.msg_type, "original.msg_type")
    _check_aware(apprec.original.issue_date, "original.issue_date")
    _check_party(apprec.sender, "sender")
    _check_party(apprec.receiver, "receiver")


class _Writer:
    def __init__(self, namespace: str) -> None:
        self.namespace = namespace

    def sub(self, parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
        element = etree.SubElement(parent, f"{{{self.namespace}}}{name}")
        if text is not None:
            element.text = text
        return element

    def code(
        self, parent: etree._Element, name: str, value: str, text: str | None = None
    ) -> etree._Element:
        element = self.sub(parent, name)
        element.set("V", value)
        if text:
            element.set("DN", text)
        return element

    def ids(self, parent: etree._Element, unit: PartyUnit | AppRecParty) -> None:
        if unit.id is not None:
            self.sub(parent, "Id", unit.id)
        if unit.type_id is not None:
            self.code(parent, "TypeId", unit.type_id, ID_TYPE_TEXTS.get(unit.type_id))

    def additional(self, parent: etree._Element, ids: tuple[AdditionalId, ...]) -> None:
        for additional in ids:
            element = self.sub(parent, "AdditionalId")
            self.sub(element, "Id", additional.id)
            self.code(element, "Type", additional.type or "")

    def unit(self, parent: etree._Element, name: str, unit: PartyUnit) -> None:
        element = self.sub(parent, name)
        if unit.name is not None:
            self.sub(element, "Name", unit.name)
        self.ids(element, unit)
        self.additional(element, unit.additional_ids)

    def party(self, root: etree._Element, name: str, party: AppRecParty) -> None:
        element = self.sub(root, name)
        if party.role is not None:
            self.code(element, "Role", party.role)
        body = self.sub(self.sub(element, "HCP"), party.kind)
        if party.name is not None:
            self.sub(body, "Name", party.name)
        self.ids(body, party)
        for department in party.departments:
            self.unit(body, "Dept", department)
        self.additional(body, party.additional_ids)
        for person in party.persons:
            self.unit(body, "HCPerson", person)

    def apprec(self, apprec: AppRec) -> etree._Element:
        original = apprec.original
        # lxml-stubs do not allow None (the default namespace) as a prefix key
        root = etree.Element(f"{{{self.namespace}}}AppRec", nsmap={None: self.namespace})  # type: ignore[dict-item]
        self.code(root, "MsgType", *APPREC_MSG_TYPE)
        self.sub(root, "MIGversion", MIG_VERSIONS[apprec.version])
        if apprec.software_name is not None:
            self.sub(root, "SoftwareName", apprec.software_name)
        if apprec.software_version is not None:
            self.sub(root, "SoftwareVersion", apprec.software_version)
        self.sub(root, "GenDate", format_utc(_present(apprec.gen_date, "gen_date")))
        self.sub(root, "Id", _present(apprec.id, "id"))
        self.party(root, "Sender", _present(apprec.sender, "sender"))
        self.party(root, "Receiver", _present(apprec.receiver, "receiver"))
        code = AppRecStatusCode(apprec.status.code)
        self.code(root, "Status", str(int(code)), apprec.status.text or STATUS_TEXTS[code])
        for error in apprec.errors:
            element = self.sub(root, "Error")
            element.set("V", error.code)
            for attribute, value in (("S", error.system), ("DN", error.text), ("OT", error.ref)):
                if value is not None:
                    element.set(attribute, value)
        original_element = self.sub(root, "OriginalMsgId")
        self.code(original_element, "MsgType", _present(original.msg_type, "original.msg_type"))
        issue_date = _present(original.issue_date, "original.issue_date")
        self.sub(original_element, "IssueDate", format_utc(issue_date))
        self.sub(original_element, "Id", original.id)
        return root


def build_apprec(apprec: AppRec) -> bytes:
    """Serialise ``apprec`` in its version; ``AppRecError`` if it would not validate.

    ``warnings`` are not written. ``mig_version`` must be ``None`` or that version's own.
    """
    _check_apprec(apprec)
    try:
        return to_bytes(_Writer(APPREC_NAMESPACES[apprec.version]).apprec(apprec))
    except (ValueError, OverflowError) as exc:  # e.g. characters XML cannot carry
        raise AppRecError("an AppRec field cannot be written as XML") from exc


# ----------------------------------------------------------------------------- answering


def _party_from(organisation: Organisation) -> AppRecParty:
    service = organisation.service
    departments = () if service is None else (PartyUnit(service.name, service.her_id, "HER"),)
    return AppRecParty(
        name=organisation.name,
        id=organisation.her_id,
        type_id="HER",
        kind="Inst",
        departments=departments,
    )


def apprec_for(
    head: MsgHead,
    *,
    status: AppRecStatusCode | int,
    errors: list[AppRecErrorCode] | None = None,
    version: AppRecVersion = "1.0",
    apprec_id: str | None = None,
    gen_date: datetime | None = None,
) -> AppRec:
    """The receipt answering ``head``: parties swapped, level 2 as ``Dept``, MsgId as original."""
    return AppRec(
        version=version,
        id=apprec_id or str(uuid.uuid4()),
        gen_date=gen_date or datetime.now(UTC),
        status=AppRecStatus.of(status),
        original=OriginalMsg(id=head.msg_id, msg_type=head.msg_type, issue_date=head.gen_date),
        sender=_party_from(head.receiver),
        receiver=_party_from(head.sender),
        errors=list(errors or []),
    )
