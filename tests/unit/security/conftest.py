"""One development PKI per session: RSA key generation is the slow part of these tests."""

from __future__ import annotations

import pytest

from kpr_gateway.security.devpki import DevPki

# kommune: a municipality (sender); fhi and fhi-next: the receiver's current encryption
# certificate and the one it rotates to; intruder: a valid certificate of someone else.
PARTIES = (
    ("kommune", "123456785"),
    ("fhi", "983744516"),
    ("fhi-next", "983744516"),
    ("intruder", "974760673"),
)


@pytest.fixture(scope="session")
def dev_parties() -> tuple[tuple[str, str], ...]:
    return PARTIES


@pytest.fixture(scope="session")
def dev_pki(dev_parties: tuple[tuple[str, str], ...]) -> DevPki:
    return DevPki.create(dev_parties)
