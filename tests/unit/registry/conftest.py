"""One development PKI per session (RSA key generation is slow)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kpr_gateway.security.devpki import DevPki
from tests.unit.registry.support import CRL_URL, PARTIES


@pytest.fixture(scope="session")
def pki() -> DevPki:
    return DevPki.create(PARTIES, crl_url=CRL_URL)


@pytest.fixture(scope="session")
def pki_dir(pki: DevPki, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("registry-pki")
    pki.write(directory)
    return directory
