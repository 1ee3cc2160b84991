"""Fixtures of the runtime integration tests."""

from tests.support.outbound_fixtures import dev_pki

__all__ = ["dev_pki"]
