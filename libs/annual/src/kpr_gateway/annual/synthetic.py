"""Synthetic annual extracts: an IPLOS 3.7 file and its XPR(ide) identity file, consistent
with each other, for N persons of one municipality and year, the same for the same seed.

For tests, the demo and the benchmark. Every person is fictional: national ids have valid
check digits and real birth dates (so the checks pass them) and are never synthetic
test-person ids (month + 40 or + 80), which the ``test-person`` rule would refuse; ids on
the tenant's test person list are skipped too. The files are written as they are made,
person by person, so memory does not grow with N; a 50,000-person IPLOS file is about 70 MB,
like a large municipality's year.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Final, TextIO
from xml.sax.saxutils import escape, quoteattr

from stdnum.no import orgnr

from kpr_gateway.annual.errors import AnnualInputError
from kpr_gateway.messages import iplos_annual, xpr_ide
from kpr_gateway.reference import (
    KnownTestPersons,
    MunicipalityTable,
    ReferenceDataError,
    check_digits,
)
from kpr_gateway.tenancy import Tenant

# Kodeverk 9151 in use from 2019 and how often a person has each (weights); 6, 26, 27, 28
# are welfare technology.
_SERVICE_WEIGHTS: Final = (
    (1, 18), (2, 2), (3, 3), (4, 6), (5, 4), (6, 16), (7, 2), (8, 2), (9, 4), (11, 3),
    (15, 30), (17, 2), (18, 5), (19, 3), (20, 3), (21, 8), (22, 1), (25, 1), (26, 2),
    (27, 3), (28, 2), (29, 6),
)  # fmt: skip
_INSTITUTION: Final = frozenset({8, 17, 18, 19, 20, 21, 22, 25})
"""Service types given in an institution: their person has a DOGNTILBUD."""
_FUNCTIONS: Final = 17
"""IPLOS's function variables (fnFunkType 1-17)."""
_DIAGNOSES: Final = ("I10", "E11", "F03", "I63", "M17", "J44", "G20", "C50")
_CONTACTS: Final = (
    ("16", "IPLOS-kontakt", "+47 00 00 00 00", "iplos@kommune.example.org"),
    ("17", "Innsendingsansvarlig", "+47 00 00 00 01", "kpr@kommune.example.org"),
)
_SYSTEM: Final = ("KPRGW-SYNT", "1.0")
_ORG_WEIGHTS: Final = (3, 2, 7, 6, 5, 4, 3, 2)


@dataclass(frozen=True, slots=True)
class ExtractFiles:
    """Where a synthetic pair was written."""

    iplos: Path
    ident: Path
    persons: int
    municipality_number: str


def municipality_number_in(table: MunicipalityTable, tenant_number: str, year: int) -> str:
    """The number the tenant's municipality reported under in ``year``: its own when in use
    throughout the year, else the number of its lineage in use then (the same name first)."""
    first, last = date(year, 1, 1), date(year, 12, 31)
    if table.in_use_throughout(tenant_number, first, last):
        return tenant_number
    current = table.periods(tenant_number)
    name = current[-1].name if current else ""
    candidates = sorted(
        (n for n in table.lineage(tenant_number) if table.in_use_throughout(n, first, last)),
        key=lambda n: (table.periods(n)[-1].name != name, n),
    )
    return candidates[0] if candidates else tenant_number


def write_tenant_extract(
    directory: Path,
    *,
    tenant: Tenant,
    year: int,
    persons: int,
    seed: int = 0,
    table: MunicipalityTable,
) -> ExtractFiles:
    """A pair for ``tenant`` in ``directory``: ``<tenant>-<year>-iplos.xml`` and
    ``<tenant>-<year>-ident.xml``, under the number its municipality had in ``year``, with
    its contacts and EPJ system where its ``reporting`` block names them."""
    avoid = None
    if tenant.test_persons_file is not None:
        try:
            avoid = KnownTestPersons.from_file(tenant.test_persons_file)
        except ReferenceDataError as exc:
            raise AnnualInputError(f"tenant {tenant.id}: test_persons_file: {exc}") from exc
    contacts: tuple[tuple[str, str, str, str], ...] = _CONTACTS
    system = _SYSTEM
    if tenant.reporting is not None:
        contacts = (
            tuple(
                (str(int(c.type)), c.name, c.phone or "", c.email)
                for c in tenant.reporting.contacts
            )
            or _CONTACTS
        )
        if tenant.reporting.epj_system is not None:
            epj = tenant.reporting.epj_system
            system = (epj.name[:15], epj.version[:15])
    directory.mkdir(parents=True, exist_ok=True)
    return write_extract(
        directory / f"{tenant.id}-{year}-iplos.xml",
        directory / f"{tenant.id}-{year}-ident.xml",
        municipality_number=municipality_number_in(table, tenant.municipality_number, year),
        year=year,
        persons=persons,
        seed=seed,
        contacts=contacts,
        system=system,
        avoid=avoid,
    )


def write_extract(
    iplos_path: Path,
    ident_path: Path,
    *,
    municipality_number: str,
    year: int,
    persons: int,
    seed: int = 0,
    contacts: tuple[tuple[str, str, str, str], ...] = _CONTACTS,
    system: tuple[str, str] = _SYSTEM,
    avoid: KnownTestPersons | None = None,
) -> ExtractFiles:
    """Write a consistent pair: ``persons`` PERSONs and as many PasientIdents.

    ``contacts``: (type, name, phone, email) per contact person (kodeverk 8471; the
    IPLOS file needs at least two). ``system``: iiSysID and iiSysVersjon (15 characters).
    """
    if persons < 1:
        raise ValueError("an annual file has at least one person")
    rng = random.Random(seed)  # noqa: S311 - fictional data, the same for the same seed
    ids = _NationalIds(rng, avoid)
    with (
        iplos_path.open("w", encoding="utf-8", newline="\n") as iplos,
        ident_path.open("w", encoding="utf-8", newline="\n") as ident,
    ):
        _write_heads(
            iplos,
            ident=ident,
            number=municipality_number,
            year=year,
            contacts=contacts,
            system=system,
        )
        people = _People(rng, municipality_number, year)
        for index in range(persons):
            person_id = 100_001 + index
            national_id, type_id = ids.next()
            iplos.write(people.person(person_id))
            ident.write(f'    <PasientIdent pid="{person_id}" fid="{national_id}" ')
            ident.write(f'typeID="{type_id}"/>\n')
        iplos.write("</IPLOS>\n")
        ident.write("  </Institusjon>\n</Melding>\n")
    return ExtractFiles(iplos_path, ident_path, persons, municipality_number)


def _write_heads(
    iplos: TextIO,
    *,
    ident: TextIO,
    number: str,
    year: int,
    contacts: tuple[tuple[str, str, str, str], ...],
    system: tuple[str, str],
) -> None:
    made = date(year + 1, 1, 5)
    iplos.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    iplos.write(f'<IPLOS xmlns="{iplos_annual.NAMESPACE}" versjon="{iplos_annual.VERSION}">\n')
    iplos.write(f"  <INNHINFO>\n    <iiInnhType>P</iiInnhType>\n    <iiKomnr>{number}</iiKomnr>\n")
    iplos.write("    <iiBydelsnr>00</iiBydelsnr>\n")
    for kind, name, phone, email in (contacts * 2)[: max(2, len(contacts))]:
        iplos.write(
            f"    <iiKontakt>\n      <Type>{escape(kind)}</Type>\n"
            f"      <Navn>{escape(name)}</Navn>\n"
            f"      <Telefon>{escape(phone)}</Telefon>\n      <Epost>{escape(email)}</Epost>\n"
            "    </iiKontakt>\n"
        )
    iplos.write(
        f"    <iiFraDato>{year}0101</iiFraDato>\n    <iiTilDato>{year}1231</iiTilDato>\n"
        f"    <iiLagetDato>{made:%Y%m%d}</iiLagetDato>\n"
        f"    <iiSysID>{escape(system[0])}</iiSysID>\n"
        f"    <iiSysVersjon>{escape(system[1])}</iiSysVersjon>\n"
        "    <iiLopenr>1</iiLopenr>\n  </INNHINFO>\n"
    )
    ident.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    ident.write(
        f'<Melding xmlns="{xpr_ide.NAMESPACE}" versjon="{xpr_ide.VERSION}" meldingstype="B" '
        f'fraDatoPeriode="{year}-01-01" uttakDato="{made.isoformat()}" '
        f"leverandor={quoteattr(system[0])} navnEPJ={quoteattr(system[0])} "
        f'versjonEPJ={quoteattr(system[1])} versjonUt="kpr-gateway" lopenr="1" '
        f'tilDatoPeriode="{year}-12-31">\n'
    )
    for kind, name, phone, email in contacts:
        ident.write(
            f"  <Kontaktperson kontPerson={quoteattr(name)} meldTelefon={quoteattr(phone)} "
            f"meldEpost1={quoteattr(email)} typeKontaktperson={quoteattr(kind)}/>\n"
        )
    ident.write(f'  <Institusjon institusjonID="{number}">\n')


class _NationalIds:
    """Distinct fictional fødselsnumre (and a few D-numbers) with valid check digits."""

    def __init__(self, rng: random.Random, avoid: KnownTestPersons | None) -> None:
        self._rng = rng
        self._avoid = avoid
        self._used: set[str] = set()
        self._first = date(1925, 1, 1).toordinal()
        self._last = date(2015, 12, 31).toordinal()

    def next(self) -> tuple[str, int]:
        rng = self._rng
        while True:
            born = date.fromordinal(rng.randint(self._first, self._last))
            d_number = rng.random() < 0.01
            individual = rng.randrange(0, 500) if born.year < 2000 else rng.randrange(500, 1000)
            day = born.day + (40 if d_number else 0)
            nine = f"{day:02d}{born.month:02d}{born.year % 100:02d}{individual:03d}"
            digits = check_digits(nine)
            if digits is None:
                continue
            national_id = nine + digits
            if national_id in self._used or (self._avoid and national_id in self._avoid):
                continue
            self._used.add(national_id)
            return national_id, 2 if d_number else 1


class _People:
    """One PERSON element at a time, as text."""

    def __init__(self, rng: random.Random, number: str, year: int) -> None:
        self._rng = rng
        self._number = number
        self._year = year
        self._providers = list(_org_numbers(rng, 6))
        codes, weights = zip(*_SERVICE_WEIGHTS, strict=True)
        self._codes: tuple[int, ...] = codes
        self._weights: tuple[int, ...] = weights
        self._next_id = 1

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _day(self) -> str:
        return f"{date(self._year, 1, 1) + timedelta(days=self._rng.randrange(0, 365)):%Y%m%d}"

    def person(self, person_id: int) -> str:
        rng = self._rng
        year = self._year
        parts = [
            f'  <PERSON pePeID="{person_id}">\n'
            f"    <peAlder>{rng.randint(1, 102)}</peAlder>\n"
            f"    <peKjonn>{rng.choice('12')}</peKjonn>\n"
            f"    <peKomnr>{self._number}</peKomnr>\n"
            f"    <peBydelsnr>{rng.randint(1, 8):02d}</peBydelsnr>\n"
            f"    <peFraDato>{rng.randint(year - 12, year)}0101</peFraDato>\n"
            f'    <PERSONOPPL poPeID="{person_id}" poPoID="{self._id()}">\n'
            f"      <poHusstand>{rng.randint(1, 3)}</poHusstand>\n"
            f"      <poBoligTilr>{rng.randint(1, 3)}</poBoligTilr>\n"
            f"      <poVurdTann>{rng.randint(1, 2)}</poVurdTann>\n"
            f"      <poVurdLege>{rng.randint(1, 2)}</poVurdLege>\n"
            f"      <poIndPlan>{rng.randint(1, 3)}</poIndPlan>\n"
            f"      <poHarKoordinator>{rng.randint(1, 3)}</poHarKoordinator>\n"
            f"      <poFraDato>{year}0101</poFraDato>\n"
            f"      <poTilDato>{year}1231</poTilDato>\n"
            "    </PERSONOPPL>\n"
        ]
        for kind in sorted(rng.sample(range(1, _FUNCTIONS + 1), rng.randint(1, 4))):
            parts.append(
                f'    <FUNKSJON fnPeID="{person_id}" fnFnID="{self._id()}">\n'
                f"      <fnFunkType>{kind}</fnFunkType>\n"
                f"      <fnFunkVerdi>{rng.randint(1, 5)}</fnFunkVerdi>\n"
                f"      <fnFraDato>{self._day()}</fnFraDato>\n"
                f"      <fnTilDato>{year}1231</fnTilDato>\n"
                "    </FUNKSJON>\n"
            )
        services = sorted(set(rng.choices(self._codes, self._weights, k=rng.randint(1, 2))))
        for code in services:
            parts.append(
                f'    <TJENESTE tjPeID="{person_id}" tjTjID="{self._id()}">\n'
                f"      <tjTjenType>{code}</tjTjenType>\n"
                f"      <tjVedtDato>{self._day()}</tjVedtDato>\n"
                f"      <tjTimerUke>{rng.randint(1, 400) / 10:.2f}</tjTimerUke>\n"
                f"      <tjInstOrgnr>{rng.choice(self._providers)}</tjInstOrgnr>\n"
                f"      <tjFraDato>{self._day()}</tjFraDato>\n"
                "    </TJENESTE>\n"
            )
        if rng.random() < 0.25:
            parts.append(
                f'    <DIAGNOSE diPeID="{person_id}" diDiID="{self._id()}">\n'
                "      <diKodeVersjon>ICD-10</diKodeVersjon>\n"
                f"      <diDiagKode>{rng.choice(_DIAGNOSES)}</diDiagKode>\n"
                f"      <diFraDato>{self._day()}</diFraDato>\n"
                f"      <diTilDato>{year}1231</diTilDato>\n"
                "    </DIAGNOSE>\n"
            )
        if _INSTITUTION.intersection(services):
            parts.append(
                f'    <DOGNTILBUD dgPeID="{person_id}" dgDgID="{self._id()}">\n'
                f"      <dgInstOrgnr>{rng.choice(self._providers)}</dgInstOrgnr>\n"
                f"      <dgFraDato>{self._day()}</dgFraDato>\n"
                "    </DOGNTILBUD>\n"
            )
        parts.append("  </PERSON>\n")
        return "".join(parts)


def _org_numbers(rng: random.Random, count: int) -> Iterator[str]:
    """Fictional organisation numbers with a valid mod-11 check digit (9 digits, first 9)."""
    made = 0
    while made < count:
        eight = f"9{rng.randrange(10**7):07d}"
        check = (11 - sum(int(d) * w for d, w in zip(eight, _ORG_WEIGHTS, strict=True))) % 11
        if check != 10 and orgnr.is_valid(candidate := f"{eight}{check}"):
            made += 1
            yield candidate
