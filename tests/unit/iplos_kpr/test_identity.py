"""pasientGUID: stable per user number and tenant, unrelated across tenants, a version-8 UUID."""

from __future__ import annotations

import hashlib
import hmac
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpr_gateway.messages.iplos_kpr import KprDocumentError, patient_guid, patient_guids
from kpr_gateway.messages.iplos_kpr.identity import MIN_SECRET_BYTES

TENANT_A = b"tenant-a-secret-0123456789abcdef"
TENANT_B = b"tenant-b-secret-0123456789abcdef"
secrets = st.binary(min_size=MIN_SECRET_BYTES, max_size=64)
user_numbers = st.text(min_size=1, max_size=100)


def test_known_value() -> None:
    # Pinned: a change here changes every person's GUID in the register.
    mac = hmac.new(TENANT_A, b"kpr-gateway/iplos-kpr/pasient-guid\x00100234", hashlib.sha256)
    raw = int.from_bytes(mac.digest()[:16], "big")
    expected = (raw & ~(0xF << 76) & ~(0x3 << 62)) | (0x8 << 76) | (0x2 << 62)
    assert patient_guid("100234", TENANT_A) == UUID(int=expected)


@given(user_number=user_numbers, secret=secrets)
def test_stable_version_8_rfc_variant(user_number: str, secret: bytes) -> None:
    guid = patient_guid(user_number, secret)
    assert guid == patient_guid(user_number, secret)
    assert guid.version == 8
    assert guid.variant == "specified in RFC 4122"


@given(user_number=user_numbers)
def test_different_across_tenants(user_number: str) -> None:
    assert patient_guid(user_number, TENANT_A) != patient_guid(user_number, TENANT_B)


@given(pair=st.lists(user_numbers, min_size=2, max_size=2, unique=True))
def test_different_per_person(pair: list[str]) -> None:
    first, second = pair
    assert patient_guid(first, TENANT_A) != patient_guid(second, TENANT_A)


def test_the_guid_does_not_contain_the_user_number() -> None:
    assert "100234" not in str(patient_guid("100234", TENANT_A)).replace("-", "")


@given(numbers=st.lists(user_numbers, max_size=20))
def test_batch_form_agrees_with_the_single_one(numbers: list[str]) -> None:
    guids = patient_guids(numbers, TENANT_A)
    assert set(guids) == set(numbers)
    assert all(guids[number] == patient_guid(number, TENANT_A) for number in numbers)


def test_batch_form_reads_an_iterator_once() -> None:
    guids = patient_guids(iter(["1", "2", "1"]), TENANT_A)
    assert list(guids) == ["1", "2"]


@pytest.mark.parametrize("length", [0, 1, MIN_SECRET_BYTES - 1])
def test_secret_too_short_is_refused(length: int) -> None:
    with pytest.raises(KprDocumentError, match=f"at least {MIN_SECRET_BYTES} bytes"):
        patient_guid("100234", b"s" * length)
    with pytest.raises(KprDocumentError):
        patient_guids([], b"s" * length)


def test_secret_of_the_minimum_length_is_enough() -> None:
    assert MIN_SECRET_BYTES == 16
    assert patient_guid("100234", b"s" * MIN_SECRET_BYTES).version == 8
