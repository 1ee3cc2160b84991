"""The per-tenant pseudonymous person key that links KPR_IPL to KPR_IDE.

``person_key`` is HMAC-SHA256 under the tenant's secret over a fixed label and the
national id, truncated to its first 160 bits and written in base32 without padding:
32 characters of ``A-Z2-7``. The same person gets the same key in every batch of one
tenant, and unrelated keys in different tenants. The label keeps these keys apart from
any other use of the same secret.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from typing import Final

from kpr_gateway.messages.kpr_ktt_v1.errors import KprDocumentError

PERSON_KEY_BITS: Final = 160
PERSON_KEY_LENGTH: Final = 32
"""Characters in a person key (160 bits in base32)."""
MIN_SECRET_BYTES: Final = 16

_LABEL: Final = b"kpr-gateway/kpr-ktt-v1/person-key\x00"
_NATIONAL_ID = re.compile(r"[0-9]{11}")
_BASE32: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def person_key(national_id: str, tenant_secret: bytes) -> str:
    """The tenant's pseudonymous key for the person with this national id."""
    return person_keys((national_id,), tenant_secret)[national_id]


def person_keys(national_ids: Iterable[str], tenant_secret: bytes) -> dict[str, str]:
    """The key of each distinct national id in ``national_ids``, computed once per person.

    A batch names a person in each of their events and again in the Identmelding: the
    HMAC and base32 cost ~10 µs a key, so a batch computes them here, once per person.
    """
    if len(tenant_secret) < MIN_SECRET_BYTES:
        raise KprDocumentError(f"tenant secret must be at least {MIN_SECRET_BYTES} bytes")
    # The HMAC state after the secret and the label, copied per person: the same MAC as
    # hmac.new(secret, label + id), without keying it again for every person.
    labelled = hmac.new(tenant_secret, _LABEL, hashlib.sha256)
    keys: dict[str, str] = {}
    for national_id in national_ids:
        if national_id in keys:
            continue
        if not _NATIONAL_ID.fullmatch(national_id):
            raise KprDocumentError("national id must be exactly 11 digits")
        mac = labelled.copy()
        mac.update(national_id.encode("ascii"))
        keys[national_id] = _base32(mac.digest()[: PERSON_KEY_BITS // 8])
    return keys


def _base32(data: bytes) -> str:
    # base64.b32encode of 20 bytes (no padding at 160 bits), from a table of two-letter
    # pairs: the stdlib's pure-Python loop took half the time of a key.
    number = int.from_bytes(data, "big")
    shifts = range(len(data) * 8 - 10, -1, -10)
    return "".join([_BASE32_PAIRS[(number >> shift) & 0x3FF] for shift in shifts])


_BASE32_PAIRS: Final = tuple(a + b for a in _BASE32 for b in _BASE32)
