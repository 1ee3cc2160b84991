"""One development PKI per session (RSA key generation is slow) and a fresh bus per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from kpr_gateway.nhn import InMemoryNhnBroker
from kpr_gateway.security.devpki import DevPki
from tests.unit.simulator.support import PARTIES, Party


@pytest.fixture(scope="session")
def pki() -> DevPki:
    return DevPki.create(PARTIES)


@pytest.fixture
def broker() -> InMemoryNhnBroker:
    return InMemoryNhnBroker()


@pytest.fixture
def party(pki: DevPki, broker: InMemoryNhnBroker) -> Party:
    return Party(pki, broker)


@pytest.fixture(scope="session")
def pki_dir(pki: DevPki, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The PKI as files: ``ca.pem`` and ``NAME-{sign,enc}.{pem,key}``."""
    directory = tmp_path_factory.mktemp("pki")
    pki.write(directory)
    return directory
