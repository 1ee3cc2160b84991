"""Transport error conditions, as Norsk helsenett's reference client reports them.

They go on the sender's ``_error`` queue (empty body, ``errorCondition`` property) when a
message cannot be taken in at all, so no AppRec can answer it.
"""

from typing import Final

INVALID_CERTIFICATE: Final = "transport:invalid-certificate"
"""Not a CMS message for our key, a broken signature or an unusable signer certificate."""

SPOOFING_ATTACK: Final = "abuse:spoofing-attack"
"""Signed by someone other than the sender, or the MsgHead names another sender."""

NOT_WELL_FORMED_XML: Final = "transport:not-well-formed-xml"
"""The content is not XML, or not a MsgHead that can be answered."""

INVALID_FIELD_VALUE: Final = "transport:invalid-field-value"
"""An AMQP property contradicts the message (subject versus MsgHead type)."""

INTERNAL_ERROR: Final = "transport:internal-error"
"""The receiver failed; also the default condition of a simulated transport error."""
