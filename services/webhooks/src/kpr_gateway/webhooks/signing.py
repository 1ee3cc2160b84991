"""The signature of a webhook's body, and the delivery id an EPJ deduplicates on.

``KPRGW-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``: the
timestamp is signed with the body, so a receiver that refuses old timestamps (five minutes,
say) refuses a replayed request. Each attempt is signed anew with its own time; the body and
``KPRGW-Delivery`` stay the same across attempts.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import Final

DELIVERY_HEADER: Final = "KPRGW-Delivery"
SIGNATURE_HEADER: Final = "KPRGW-Signature"
SIGNATURE_VERSION: Final = "v1"


def signature(secret: bytes, body: bytes, timestamp: int) -> str:
    """The ``KPRGW-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},{SIGNATURE_VERSION}={mac}"


def delivery_id(msg_id: uuid.UUID, client_id: str) -> uuid.UUID:
    """Stable per (message, client): the same on every attempt and every copy of a notice."""
    return uuid.uuid5(msg_id, client_id)
