"""Fixtures of the envelope and dispatch tests: the dev PKI, bergen's tenants file and an
in-process ledger (see ``tests.support.outbound_world``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakeredis import FakeAsyncRedis

from kpr_gateway.ledger import Ledger
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.tenancy import Tenant, TenantsFile
from tests.support.outbound_world import PARTIES, bergen_entry, write_tenants


@pytest.fixture(scope="session")
def dev_pki() -> DevPki:
    return DevPki.create(PARTIES)


@pytest.fixture
def tenants(dev_pki: DevPki, tmp_path: Path) -> TenantsFile:
    return write_tenants(dev_pki, tmp_path, [bergen_entry()])


@pytest.fixture
def bergen(tenants: TenantsFile) -> Tenant:
    return tenants.by_id("bergen")


@pytest.fixture
def ledger() -> Ledger:
    """The ledger on fakeredis, for the unit tests."""
    return Ledger(FakeAsyncRedis())
