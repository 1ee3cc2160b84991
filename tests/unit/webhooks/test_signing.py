"""The webhook signature and delivery id, checked the way an EPJ system checks them."""

from __future__ import annotations

import uuid

from kpr_gateway.webhooks.signing import DELIVERY_HEADER, SIGNATURE_HEADER, delivery_id, signature
from tests.support.webhook_world import verify_as_an_epj_would

SECRET = b"a-signing-secret-of-at-least-32-bytes!"
BODY = b'{"type":"receipt","msg_id":"0b0f8c9e-5a61-4c1e-9d2a-0c7e8f1a2b01"}'
NOW = 1_767_686_400


def headers(value: str) -> dict[str, str]:
    # HTTP header names are case-insensitive; a server framework hands them lower-cased
    return {SIGNATURE_HEADER.lower(): value}


def test_a_signature_verifies_with_the_documented_scheme() -> None:
    signed = signature(SECRET, BODY, NOW)
    assert signed.startswith(f"t={NOW},v1=")
    assert verify_as_an_epj_would(SECRET, headers(signed), BODY, now=NOW + 2)


def test_another_body_secret_or_timestamp_fails_verification() -> None:
    signed = signature(SECRET, BODY, NOW)
    assert not verify_as_an_epj_would(SECRET, headers(signed), BODY + b" ", now=NOW)
    assert not verify_as_an_epj_would(SECRET[:-1] + b"?", headers(signed), BODY, now=NOW)
    # the timestamp is signed: moving it forward to get past a replay window breaks the MAC
    forged = signed.replace(f"t={NOW}", f"t={NOW + 600}")
    assert not verify_as_an_epj_would(SECRET, headers(forged), BODY, now=NOW + 600)


def test_an_old_signature_is_refused_by_the_replay_window() -> None:
    signed = signature(SECRET, BODY, NOW)
    assert not verify_as_an_epj_would(SECRET, headers(signed), BODY, now=NOW + 301)


def test_the_delivery_id_is_stable_per_message_and_client() -> None:
    msg_id = uuid.UUID("0b0f8c9e-5a61-4c1e-9d2a-0c7e8f1a2b01")
    first = delivery_id(msg_id, "gerica-prod")
    assert first == delivery_id(msg_id, "gerica-prod")
    assert first.version == 5
    assert first != delivery_id(msg_id, "profil-prod")
    assert first != delivery_id(uuid.uuid4(), "gerica-prod")
    assert DELIVERY_HEADER == "KPRGW-Delivery"
