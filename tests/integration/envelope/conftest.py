"""The envelope integration tests use the outbound world's dev PKI and bergen's tenants file."""

from tests.support.outbound_fixtures import dev_pki, tenants

__all__ = ["dev_pki", "tenants"]
