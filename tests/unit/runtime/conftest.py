"""One development PKI per session: the tenants', the override's and KPR's in the registry."""

from __future__ import annotations

import pytest

from kpr_gateway.security.devpki import DevPki
from tests.unit.runtime.registries import PARTIES


@pytest.fixture(scope="session")
def registry_pki() -> DevPki:
    return DevPki.create(PARTIES)
