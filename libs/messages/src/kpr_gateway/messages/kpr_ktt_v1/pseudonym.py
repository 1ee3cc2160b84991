"""The per-tenant pseudonymous person key that links KPR_IPL to KPR_IDE.

``person_key`` is HMAC-SHA256 under the tenant's secret over a fixed label and the
national id, truncated to its first 160 bits and written in base32 without padding:
32 characters of ``A-Z2-7``. The same person gets the same key in every batch of one
tenant, and unrelated keys in different tenants. The label keeps these keys apart from
any other use of the same secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Final

from kpr_gateway.messages.kpr_ktt_v1.errors import KprDocumentError

PERSON_KEY_BITS: Final = 160
PERSON_KEY_LENGTH: Final = 32
"""Characters in a person key (160 bits in base32)."""
MIN_SECRET_BYTES: Final = 16

_LABEL: Final = b"kpr-gateway/kpr-ktt-v1/person-key\x00"
_NATIONAL_ID = re.compile(r"[0-9]{11}")


def person_key(national_id: str, tenant_secret: bytes) -> str:
    """The tenant's pseudonymous key for the person with this national id."""
    if len(tenant_secret) < MIN_SECRET_BYTES:
        raise KprDocumentError(f"tenant secret must be at least {MIN_SECRET_BYTES} bytes")
    if not _NATIONAL_ID.fullmatch(national_id):
        raise KprDocumentError("national id must be exactly 11 digits")
    digest = hmac.new(tenant_secret, _LABEL + national_id.encode("ascii"), hashlib.sha256)
    truncated = digest.digest()[: PERSON_KEY_BITS // 8]
    return base64.b32encode(truncated).decode("ascii")
