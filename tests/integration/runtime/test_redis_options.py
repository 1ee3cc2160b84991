"""Redis' password and TLS CA from files, for an external Redis."""

from __future__ import annotations

from pathlib import Path

import pytest

from kpr_gateway.ledger import redis_from_url
from kpr_gateway.runtime.component import StartupError
from kpr_gateway.runtime.runner import redis_options
from kpr_gateway.runtime.settings import ServiceSettings

pytestmark = pytest.mark.integration


def settings(tmp_path: Path, **values: object) -> ServiceSettings:
    return ServiceSettings(tenants_file=tmp_path / "tenants.yaml", **values)  # type: ignore[arg-type]


def test_no_files_no_options(tmp_path: Path) -> None:
    assert redis_options(settings(tmp_path)) == {}


def test_the_password_comes_from_its_file(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret-from-a-file\n", encoding="utf-8")
    assert redis_options(settings(tmp_path, redis_password_file=secret)) == {
        "password": "s3cret-from-a-file"
    }


async def test_the_client_carries_the_password_and_still_reaches_redis(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("not-the-local-one", encoding="utf-8")
    options = redis_options(settings(tmp_path, redis_password_file=secret))
    client = redis_from_url("redis://127.0.0.1:6379/0", **options)
    try:
        assert client.connection_pool.connection_kwargs["password"] == "not-the-local-one"
        # The local Redis has no password: redis-py sends AUTH and goes on when the server
        # says none is configured (a Redis with a password would refuse a wrong one).
        assert await client.ping()
    finally:
        await client.aclose()


def test_unreadable_password_file_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(StartupError, match="redis_password_file cannot be read"):
        redis_options(settings(tmp_path, redis_password_file=tmp_path / "missing"))


def test_a_ca_file_needs_tls(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    with pytest.raises(StartupError, match="not rediss://"):
        redis_options(settings(tmp_path, redis_ca_file=ca))
    assert redis_options(
        settings(tmp_path, redis_url="rediss://redis.example:6380/0", redis_ca_file=ca)
    ) == {"ssl_ca_certs": str(ca)}
    with pytest.raises(StartupError, match="redis_ca_file is not a readable file"):
        redis_options(
            settings(
                tmp_path, redis_url="rediss://redis.example:6380/0", redis_ca_file=tmp_path / "x"
            )
        )
