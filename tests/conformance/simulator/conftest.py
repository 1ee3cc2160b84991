"""The simulator with the official schemas: one development PKI per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from kpr_gateway.messages.schemas import SchemaSet, load_schema_set
from kpr_gateway.nhn import InMemoryNhnBroker
from kpr_gateway.security.devpki import DevPki
from tests.unit.simulator.support import PARTIES, Party


@pytest.fixture(scope="session")
def pki() -> DevPki:
    return DevPki.create(PARTIES)


@pytest.fixture(scope="session")
def schemas(standards_dir: Path) -> SchemaSet:
    return load_schema_set(standards_dir)


@pytest.fixture
def broker() -> InMemoryNhnBroker:
    return InMemoryNhnBroker()


@pytest.fixture
def party(pki: DevPki, broker: InMemoryNhnBroker) -> Party:
    return Party(pki, broker)
