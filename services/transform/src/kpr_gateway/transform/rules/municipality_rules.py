"""Rules on the municipality number: valid on the event's date, and the tenant's own.

The date is the event date (hendelseDato), the only date a notification has: an event that
happened before a renumbering happened under the number valid then, and is reported under
it, also when it is sent later (a backfill).

A tenant has one current number. An event dated before a renumbering may carry the number
valid then for the same municipality, or for one the tenant took over (the table's
successors lead from it to the tenant's number); it is sent under that number, with a
warning. The tenant's current number on an earlier date is refused, naming the number that
was valid.
"""

from __future__ import annotations

from datetime import date

from kpr_gateway.messages.iplos_kpr import Notification
from kpr_gateway.reference import MunicipalityPeriod, MunicipalityTable
from kpr_gateway.tenancy import Tenant
from kpr_gateway.transform.rules.catalogue import (
    MUNICIPALITY_EARLIER_NUMBER,
    MUNICIPALITY_NOT_TENANT,
    MUNICIPALITY_NUMBER_NOT_VALID_ON_DATE,
    MUNICIPALITY_NUMBER_UNKNOWN,
)
from kpr_gateway.transform.rules.findings import Finding


class MunicipalityRules:
    def __init__(self, table: MunicipalityTable) -> None:
        self._table = table

    def check(self, event: Notification, tenant: Tenant) -> tuple[tuple[Finding, ...], str | None]:
        """The findings, and the number the event is reported under (None if refused)."""
        number = event.municipality_number
        day = event.event_date
        periods = self._table.periods(number)
        if not periods:
            return (_unknown(number),), None
        lineage = self._table.lineage(tenant.municipality_number)
        findings: list[Finding] = []
        period = self._table.on(number, day)
        if period is None:
            findings.append(self._not_valid_on(periods, day, lineage))
        if number not in lineage:
            findings.append(self._not_tenants(periods[-1], tenant))
        if findings:
            return tuple(findings), None
        if period is not None and number != tenant.municipality_number:
            return (self._earlier_number(period, tenant, day),), number
        return (), number

    def _not_valid_on(
        self, periods: tuple[MunicipalityPeriod, ...], day: date, lineage: frozenset[str]
    ) -> Finding:
        ranges = [self._range(p) for p in periods]
        reason_nb = (
            f"kommunenummer {periods[-1].describe()} gjaldt ikke på hendelsesdatoen "
            f"{day.isoformat()}; det gjaldt {', '.join(nb for nb, _ in ranges)}"
        )
        reason_en = (
            f"municipality number {periods[-1].describe()} was not in use on the event date "
            f"{day.isoformat()}; it was valid {', '.join(en for _, en in ranges)}"
        )
        if periods[0].number in lineage:
            then = self._numbers_then(lineage, day, periods[-1].name)
            if then:
                reason_nb += f"; kommunens nummer den dagen var {' eller '.join(then)}"
                reason_en += f"; the municipality's number on that day was {' or '.join(then)}"
        return MUNICIPALITY_NUMBER_NOT_VALID_ON_DATE.finding(
            reason_nb=reason_nb, reason_en=reason_en
        )

    def _numbers_then(self, lineage: frozenset[str], day: date, name: str) -> list[str]:
        then = [p for n in lineage if (p := self._table.on(n, day)) is not None]
        # The number of the municipality with the same name first: Kristiansand before Søgne.
        then.sort(key=lambda p: (p.name != name, p.number))
        return [p.describe() for p in then]

    def _range(self, period: MunicipalityPeriod) -> tuple[str, str]:
        """When ``period`` was valid, in Norwegian and English."""
        start, last = period.valid_from.isoformat(), period.last_day
        if last is None:
            return f"fra {start}", f"from {start}"
        if period.valid_from == self._table.first_day:
            # The table starts here: the number may be older.
            return f"til og med {last}", f"until {last}"
        return f"fra {start} til og med {last}", f"from {start} to {last}"

    def _not_tenants(self, period: MunicipalityPeriod, tenant: Tenant) -> Finding:
        own = self._describe_number(tenant.municipality_number)
        return MUNICIPALITY_NOT_TENANT.finding(
            reason_nb=f"kommune {period.describe()} er verken {own}, som denne klienten "
            "rapporterer for, eller en kommune den har overtatt",
            reason_en=f"municipality {period.describe()} is neither {own}, the one this client "
            "reports for, nor one it took over",
        )

    def _earlier_number(self, period: MunicipalityPeriod, tenant: Tenant, day: date) -> Finding:
        own = self._describe_number(tenant.municipality_number)
        return MUNICIPALITY_EARLIER_NUMBER.finding(
            reason_nb=f"hendelsen fra {day.isoformat()} rapporteres med kommunenummer "
            f"{period.describe()}, som gjaldt da; kommunens nummer nå er {own}",
            reason_en=f"the event of {day.isoformat()} is reported under municipality number "
            f"{period.describe()}, valid then; the municipality's number now is {own}",
        )

    def _describe_number(self, number: str) -> str:
        periods = self._table.periods(number)
        return periods[-1].describe() if periods else number


def _unknown(number: str) -> Finding:
    return MUNICIPALITY_NUMBER_UNKNOWN.finding(
        reason_nb=f"kommunenummer {number} finnes ikke i SSBs kommuneinndeling fra 2017",
        reason_en=f"municipality number {number} is not in SSB's municipality classification "
        "from 2017 on",
    )
