"""The annual IPLOS 3.7 file (iplos_2019.xsd): a municipality's whole year, sent once a year.

Each municipality sends its year in the IPLOS 3.7 format (namespace
``http://www.npr.no/xmlstds/iplos/2019``) as a KPR_IPL fagmelding, and the identities of its
persons separately in XPR(ide) 53.1.3 (``kpr_gateway.messages.xpr_ide``, KPR_IDE): an
``IPLOS`` root with the ``INNHINFO`` header, then one ``PERSON`` per person (``pePeID``,
the key of its ``PasientIdent``) with its services (``TJENESTE``), functions, diagnoses and
residential services (``DOGNTILBUD``).

A year is tens of MB of XML: ``AnnualFile`` streams through it, validating against the
official schema as it reads, and hands over per person only what the annual checks need.
"""

from typing import Final

from kpr_gateway.messages.iplos_annual.errors import AnnualFileError
from kpr_gateway.messages.iplos_annual.reader import (
    AnnualFile,
    AnnualHeader,
    AnnualPerson,
    canonical_id,
)
from kpr_gateway.messages.iplos_annual.streaming import (
    MAX_LOCATED,
    MAX_SCHEMA_ERRORS,
    SchemaProblem,
    StreamOutcome,
    ValidatingStream,
)
from kpr_gateway.messages.iplos_annual.xsd import (
    NAMESPACE,
    VERSION,
    XSD_DIR,
    XSD_FILES,
    XSD_PATH,
    qname,
    schema,
)

MSG_TYPE: Final = "KPR_IPL"
"""The MsgHead message type the annual file travels as (fagmelding), as the daily one."""

__all__ = [
    "MAX_LOCATED",
    "MAX_SCHEMA_ERRORS",
    "MSG_TYPE",
    "NAMESPACE",
    "VERSION",
    "XSD_DIR",
    "XSD_FILES",
    "XSD_PATH",
    "AnnualFile",
    "AnnualFileError",
    "AnnualHeader",
    "AnnualPerson",
    "SchemaProblem",
    "StreamOutcome",
    "ValidatingStream",
    "canonical_id",
    "qname",
    "schema",
]
