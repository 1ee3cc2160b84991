"""``CachedRegistry``: the registry's answers kept in Redis, fresh for ``ttl``.

Each answer is one Redis hash (``value``: the party as JSON or the certificate as DER;
``fresh_until``: epoch seconds). It is fresh for ``ttl``; after that the registry is asked
again. Redis keeps the hash for ``ttl + stale_for``, so that when the registry is down
(``RegistryUnavailableError``: unreachable, timing out, failing on its side) a stale answer
can still be served, with a warning. A stale answer served is then taken as fresh for
``retry_after`` (default a minute), so an outage that times out does not cost every lookup
the client's full timeout.

Why serve stale: parties and certificates change rarely and with notice (certificates are
renewed well before they expire), while a registry outage would otherwise stop every
shipment and every receipt. Sending with a certificate that has just been replaced fails
visibly (the receiver answers with a transport error) and is retried once the registry is
back; refusing to send would fail every message instead. Only transient errors fall back:
"no such party" and faults are answers, and are raised. Not-found answers are not cached.

Redis trouble never stops a lookup: the registry is asked directly and a warning logged.
Every key is read and written on its own, so Redis Cluster needs no hash tags here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from enum import StrEnum
from typing import Final, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from redis.asyncio import Redis
from redis.exceptions import RedisError

from kpr_gateway.registry.certificates import load_der
from kpr_gateway.registry.errors import RegistryError, RegistryUnavailableError
from kpr_gateway.registry.interface import AddressRegistry
from kpr_gateway.registry.party import CommunicationParty, party_from_json, party_to_json
from kpr_gateway.registry.wsdl import canonical_her_id

DEFAULT_TTL: Final = timedelta(hours=1)
DEFAULT_STALE_FOR: Final = timedelta(days=7)
DEFAULT_RETRY_AFTER: Final = timedelta(minutes=1)
DEFAULT_KEY_PREFIX: Final = "kprgw:registry:"

_VALUE = b"value"
_FRESH_UNTIL = b"fresh_until"
# Only an entry that still exists: a bare HSET would recreate an expired key without expiry.
_POSTPONE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'fresh_until', ARGV[1])
end
return 0
"""

_log = logging.getLogger(__name__)

T = TypeVar("T")


class Entry(StrEnum):
    """What is cached per HER-id; the value is the key segment."""

    PARTY = "party"
    ENCRYPTION_CERTIFICATE = "cert:enc"
    SIGNING_CERTIFICATE = "cert:sig"


class CachedRegistry:
    """An ``AddressRegistry`` in front of another one (usually ``AddressRegistryClient``).

    ``redis`` must answer bytes (``decode_responses=False``, redis-py's default): certificates
    are stored as DER.
    """

    def __init__(
        self,
        client: AddressRegistry,
        redis: Redis,
        *,
        ttl: timedelta = DEFAULT_TTL,
        stale_for: timedelta = DEFAULT_STALE_FOR,
        retry_after: timedelta = DEFAULT_RETRY_AFTER,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if ttl <= timedelta(0):
            raise ValueError("ttl must be positive")
        if stale_for < timedelta(0):
            raise ValueError("stale_for must not be negative")
        if retry_after <= timedelta(0):
            raise ValueError("retry_after must be positive")
        self._client = client
        self._redis = redis
        self._ttl = ttl.total_seconds()
        self._retry_after = retry_after.total_seconds()
        self._retain_ms = int((ttl + stale_for).total_seconds() * 1000)
        self._prefix = key_prefix
        self._clock = clock

    def key(self, entry: Entry, her_id: str) -> str:
        return f"{self._prefix}{entry.value}:{her_id}"

    async def get_communication_party_details(self, her_id: str | int) -> CommunicationParty:
        return await self._lookup(
            Entry.PARTY,
            her_id,
            self._client.get_communication_party_details,
            party_to_json,
            party_from_json,
        )

    async def get_certificate_details_for_encryption(self, her_id: str | int) -> x509.Certificate:
        return await self._lookup(
            Entry.ENCRYPTION_CERTIFICATE,
            her_id,
            self._client.get_certificate_details_for_encryption,
            _der,
            load_der,
        )

    async def get_certificate_details_for_validating_signature(
        self, her_id: str | int
    ) -> x509.Certificate:
        return await self._lookup(
            Entry.SIGNING_CERTIFICATE,
            her_id,
            self._client.get_certificate_details_for_validating_signature,
            _der,
            load_der,
        )

    async def invalidate(self, her_id: str | int) -> None:
        """Forget everything cached for ``her_id`` (e.g. a signature fails: a new certificate?)."""
        number = canonical_her_id(her_id)
        if number is None:
            return
        try:
            await self._redis.delete(*(self.key(entry, number) for entry in Entry))
        except RedisError as exc:
            _log.warning("registry cache: invalidating HER-id %s failed: %s", number, _name(exc))

    async def mark_stale(self, her_id: str | int) -> None:
        """Have the next lookups for ``her_id`` ask the registry again, keeping the answers.

        Unlike ``invalidate``, the stale answers stay for the outage fallback: when a
        certificate from here fails (an AppRec's signer is not the one cached), the registry is
        asked at once, and if it is down the caller gets the same answer as before rather
        than none.
        """
        number = canonical_her_id(her_id)
        if number is None:
            return
        for entry in Entry:
            await self._postpone(self.key(entry, number), 0.0, number)

    async def _lookup(
        self,
        entry: Entry,
        her_id: str | int,
        fetch: Callable[[str], Awaitable[T]],
        encode: Callable[[T], bytes],
        decode: Callable[[bytes], T],
    ) -> T:
        number = canonical_her_id(her_id)
        if number is None:
            return await fetch(str(her_id))  # the client refuses it; nothing to cache
        key = self.key(entry, number)
        cached = await self._read(key, decode, entry, number)
        now = self._clock()
        if cached is not None and now < cached[1]:
            return cached[0]
        try:
            value = await fetch(number)
        except RegistryUnavailableError as exc:
            if cached is None:
                raise
            _log.warning(
                "address registry unavailable (%s); serving the %s of HER-id %s cached"
                " %.0f s past its freshness",
                _name(exc),
                entry.name.lower().replace("_", " "),
                number,
                now - cached[1],
            )
            await self._postpone(key, now + self._retry_after, number)
            return cached[0]
        await self._write(key, encode(value), now + self._ttl, number)
        return value

    async def _read(
        self, key: str, decode: Callable[[bytes], T], entry: Entry, her_id: str
    ) -> tuple[T, float] | None:
        try:
            stored = await self._redis.hmget(key, [_VALUE, _FRESH_UNTIL])
        except RedisError as exc:
            _log.warning("registry cache: reading HER-id %s failed: %s", her_id, _name(exc))
            return None
        raw, fresh_until = stored
        if raw is None or fresh_until is None:
            return None
        try:
            if not isinstance(raw, bytes):
                raise TypeError("the Redis client must answer bytes (decode_responses=False)")
            return decode(raw), float(fresh_until)
        except (ValueError, TypeError, KeyError, RegistryError) as exc:
            _log.warning(
                "registry cache: the cached %s of HER-id %s is unreadable (%s); ignored",
                entry.name.lower().replace("_", " "),
                her_id,
                _name(exc),
            )
            return None

    async def _postpone(self, key: str, fresh_until: float, her_id: str) -> None:
        """Take a stale entry as fresh for a while, without touching its Redis expiry."""
        try:
            await self._redis.eval(_POSTPONE, 1, key, repr(fresh_until))
        except RedisError as exc:
            _log.warning("registry cache: storing HER-id %s failed: %s", her_id, _name(exc))

    async def _write(self, key: str, value: bytes, fresh_until: float, her_id: str) -> None:
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(key, mapping={_VALUE: value, _FRESH_UNTIL: repr(fresh_until)})
                pipe.pexpire(key, self._retain_ms)
                await pipe.execute()
        except RedisError as exc:
            _log.warning("registry cache: storing HER-id %s failed: %s", her_id, _name(exc))


def _der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(Encoding.DER)


def _name(exc: BaseException) -> str:
    return type(exc).__name__
