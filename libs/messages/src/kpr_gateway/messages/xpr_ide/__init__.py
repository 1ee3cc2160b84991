"""XPR(ide) 53.1.3: the identity file sent beside the annual IPLOS file, as KPR_IDE.

A ``Melding`` (versjon 53.1.3) with ``Kontaktperson``s and ``Institusjon``s holding one
``PasientIdent`` per person: ``pid`` is the person's ``pePeID`` in the IPLOS file, ``fid``
the national id, ``typeID`` its type (kodeverk 9032). The two files travel as separate
shipments; only this one carries national ids.

``IdentFile`` streams through it, validating against the official schema as it reads.
"""

from typing import Final

from kpr_gateway.messages.xpr_ide.errors import IdentFileError
from kpr_gateway.messages.xpr_ide.reader import IdentFile, IdentHeader, PatientIdent
from kpr_gateway.messages.xpr_ide.xsd import (
    NAMESPACE,
    VERSION,
    XSD_DIR,
    XSD_FILES,
    XSD_PATH,
    qname,
    schema,
)

MSG_TYPE: Final = "KPR_IDE"
"""The MsgHead message type of the identity file."""

__all__ = [
    "MSG_TYPE",
    "NAMESPACE",
    "VERSION",
    "XSD_DIR",
    "XSD_FILES",
    "XSD_PATH",
    "IdentFile",
    "IdentFileError",
    "IdentHeader",
    "PatientIdent",
    "qname",
    "schema",
]
