from __future__ import annotations

import pytest

from kpr_gateway.nhn import NhnError
from kpr_gateway.nhn.amqp_endpoint import parse_endpoint


def test_helsenorge_style_url_gives_credentials_and_exchange() -> None:
    endpoint = parse_endpoint("amqps://user%40x:p%3Ass@mb.test.nhn.no/NHNTESTServiceBus")
    assert (endpoint.host, endpoint.port, endpoint.tls) == ("mb.test.nhn.no", 5671, True)
    assert (endpoint.username, endpoint.password) == ("user@x", "p:ss")
    assert endpoint.exchange == "NHNTESTServiceBus"
    assert endpoint.url == "amqps://mb.test.nhn.no:5671"
    assert "p:ss" not in repr(endpoint)


def test_named_settings_win_over_the_url() -> None:
    endpoint = parse_endpoint(
        "amqps://a:b@host:5700/fromurl", username="u", password="p", exchange="named"
    )
    assert (endpoint.port, endpoint.username, endpoint.password) == (5700, "u", "p")
    assert endpoint.exchange == "named"


def test_plain_amqp_only_when_allowed() -> None:
    with pytest.raises(NhnError, match="TLS"):
        parse_endpoint("amqp://u:p@127.0.0.1/x")
    endpoint = parse_endpoint("amqp://u:p@127.0.0.1/x", allow_insecure=True)
    assert (endpoint.tls, endpoint.port) == (False, 5672)


def test_ipv6_host_is_bracketed() -> None:
    assert parse_endpoint("amqps://u:p@[::1]:5671/x").url == "amqps://[::1]:5671"


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("http://u:p@host/x", "amqp:// or amqps://"),
        ("amqps:///x", "no host"),
        ("amqps://host/x", "username"),
        ("amqps://u:p@host", "no exchange"),
        ("amqps://u:p@host/a/b", "no exchange"),
        ("amqps://u:p@host:notaport/x", "not valid"),
    ],
)
def test_bad_settings_are_refused(url: str, complaint: str) -> None:
    with pytest.raises(NhnError, match=complaint):
        parse_endpoint(url)
