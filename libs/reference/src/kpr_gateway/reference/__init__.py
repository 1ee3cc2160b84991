"""Reference data and checks shared by the daily and annual rules.

- ``municipalities``: SSB's municipality numbers by validity period (classification 131),
  and which numbers led to which.
- ``national_ids``: the form, check digits and date of person ids by type (kodeverk 9032).
- ``test_persons``: synthetic test ids by their form, and a tenant's listed test persons
  held as keyed hashes.

Nothing here names a person in an error text.
"""

from kpr_gateway.reference.errors import ReferenceDataError
from kpr_gateway.reference.municipalities import (
    MunicipalityPeriod,
    MunicipalityTable,
    load_municipalities,
)
from kpr_gateway.reference.national_ids import (
    IdProblem,
    check_birth_date,
    check_digits,
    check_digits_valid,
    check_fodselsnummer,
    check_h_number,
    check_national_id,
    plainly_valid,
)
from kpr_gateway.reference.test_persons import KnownTestPersons, is_synthetic

__all__ = [
    "IdProblem",
    "KnownTestPersons",
    "MunicipalityPeriod",
    "MunicipalityTable",
    "ReferenceDataError",
    "check_birth_date",
    "check_digits",
    "check_digits_valid",
    "check_fodselsnummer",
    "check_h_number",
    "check_national_id",
    "is_synthetic",
    "load_municipalities",
    "plainly_valid",
]
