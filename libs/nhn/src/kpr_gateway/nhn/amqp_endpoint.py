"""Where and how to connect to the Tjenestebuss: URL, SASL PLAIN credentials, TLS policy, exchange.

The URL follows Helsenorge.Messaging's connection string: ``amqps://user:password@host:port/exchange``;
credentials and the exchange given by name win over those in the URL. Plain ``amqp://`` is
refused unless ``allow_insecure`` is set (local brokers in tests), because SASL PLAIN would
send the password in clear text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from kpr_gateway.nhn.errors import NhnError

_DEFAULT_PORTS = {"amqp": 5672, "amqps": 5671}


@dataclass(frozen=True, slots=True)
class AmqpEndpoint:
    host: str
    port: int
    tls: bool
    username: str
    password: str = field(repr=False)
    exchange: str

    @property
    def url(self) -> str:
        """The URL proton connects to, without credentials (they go to SASL, never to logs)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'amqps' if self.tls else 'amqp'}://{host}:{self.port}"

    @property
    def where(self) -> str:
        """Host and port, for logs and error texts."""
        return f"{self.host}:{self.port}"


def parse_endpoint(
    url: str,
    *,
    username: str | None = None,
    password: str | None = None,
    exchange: str | None = None,
    allow_insecure: bool = False,
) -> AmqpEndpoint:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise NhnError("the AMQP URL is not valid") from exc
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise NhnError(f"the AMQP URL must start with amqp:// or amqps://, not {scheme!r}")
    if not parts.hostname:
        raise NhnError("the AMQP URL has no host")
    if scheme == "amqp" and not allow_insecure:
        raise NhnError(
            "plain amqp:// is refused: the Tjenestebuss is reached over TLS (amqps://); "
            "allow_insecure=True is for local brokers only"
        )
    user = username if username is not None else unquote(parts.username or "")
    secret = password if password is not None else unquote(parts.password or "")
    if not user:
        raise NhnError("no AMQP username: SASL PLAIN needs a username and password")
    target = exchange if exchange is not None else unquote(parts.path.strip("/"))
    if not target or "/" in target:
        raise NhnError("no exchange: give exchange=... or put it as the URL's path")
    return AmqpEndpoint(
        host=parts.hostname,
        port=port or _DEFAULT_PORTS[scheme],
        tls=scheme == "amqps",
        username=user,
        password=secret,
        exchange=target,
    )
