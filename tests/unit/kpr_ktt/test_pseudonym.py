from __future__ import annotations

import base64
import hashlib
import hmac
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpr_gateway.messages.kpr_ktt_v1 import PERSON_KEY_LENGTH, KprDocumentError, person_key
from kpr_gateway.messages.kpr_ktt_v1.pseudonym import person_keys
from tests.unit.kpr_ktt.strategies import national_ids
from tests.unit.kpr_ktt.synthetic import synthetic_national_id

PERSON_A = synthetic_national_id(14, 3, 1948, 123)
PERSON_B = synthetic_national_id(23, 7, 1990, 210, d_number=True)
TENANT_1 = b"tenant-one-secret-0123456789abcdef"
TENANT_2 = b"tenant-two-secret-0123456789abcdef"
secrets = st.binary(min_size=16, max_size=64)


def test_known_answer() -> None:
    # Keys must never change between releases: KPR links a person's history by them.
    assert (
        person_key(PERSON_A, b"golden-tenant-secret/not-for-production")
        == "M4VEPWROZA6UB4VI6CC65WCR7TN335D7"
    )


@settings(max_examples=50)
@given(national_id=national_ids(), secret=secrets)
def test_the_key_is_the_documented_construction(national_id: str, secret: bytes) -> None:
    # person_keys keeps an HMAC state and writes base32 itself: it must give the same key.
    mac = hmac.new(
        secret, b"kpr-gateway/kpr-ktt-v1/person-key\x00" + national_id.encode(), hashlib.sha256
    )
    assert person_key(national_id, secret) == base64.b32encode(mac.digest()[:20]).decode()


def test_person_keys_gives_one_key_per_distinct_person() -> None:
    keys = person_keys([PERSON_A, PERSON_B, PERSON_A], TENANT_1)
    assert keys == {
        PERSON_A: person_key(PERSON_A, TENANT_1),
        PERSON_B: person_key(PERSON_B, TENANT_1),
    }


def test_construction_is_the_documented_one() -> None:
    mac = hmac.new(
        TENANT_1, b"kpr-gateway/kpr-ktt-v1/person-key\x00" + PERSON_A.encode(), hashlib.sha256
    )
    expected = base64.b32encode(mac.digest()[:20]).decode()
    assert person_key(PERSON_A, TENANT_1) == expected


@settings(max_examples=50)
@given(national_id=national_ids(), secret=secrets)
def test_deterministic_and_compact(national_id: str, secret: bytes) -> None:
    key = person_key(national_id, secret)
    assert key == person_key(national_id, secret)
    assert len(key) == PERSON_KEY_LENGTH == 32
    assert re.fullmatch(r"[A-Z2-7]{32}", key)
    assert national_id not in key


@settings(max_examples=50)
@given(national_id=national_ids(), first=secrets, second=secrets)
def test_tenants_get_different_keys(national_id: str, first: bytes, second: bytes) -> None:
    if first != second:
        assert person_key(national_id, first) != person_key(national_id, second)


def test_persons_get_different_keys() -> None:
    assert person_key(PERSON_A, TENANT_1) != person_key(PERSON_B, TENANT_1)
    assert person_key(PERSON_A, TENANT_1) != person_key(PERSON_A, TENANT_2)


def test_short_secret_is_refused() -> None:
    with pytest.raises(KprDocumentError, match="at least 16 bytes"):
        person_key(PERSON_A, b"too short")


@pytest.mark.parametrize("bad", ["1483481241", PERSON_A + "0", PERSON_A[:-1] + "X", ""])
def test_malformed_national_id_is_refused_without_echo(bad: str) -> None:
    with pytest.raises(KprDocumentError) as caught:
        person_key(bad, TENANT_1)
    assert "11 digits" in str(caught.value)
    assert not re.search(r"[0-9]{10}", str(caught.value))
