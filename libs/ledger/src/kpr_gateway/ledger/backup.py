"""A backup of the ledger in one file, and its restore.

The file is gzip-compressed text, one JSON object a line:

- a header: the format and its version, the ledger's key prefix, its generation marker as it
  was when the backup started, when it started, and Redis' version (a key's ``DUMP`` payload
  is Redis' own serialization, which an older Redis may not read);
- one line per key under the prefix: the key and its ``DUMP`` payload (both Base64) and
  the time it expires (ms since the epoch, so a restore days later keeps its retention);
- a trailer: the key count and the SHA-256 of every line before it. A file without it, or
  whose lines do not add up to it, was cut short or damaged and is refused whole.

Keys are read with ``SCAN`` and dumped in pipelined rounds of a few hundred keys, fewer when
a round's payloads grow large, so memory stays flat however large the ledger is (one key is
held whole: a chain log of a million links is a few tens of MB). ``SCAN`` is no snapshot:
taken while services write, keys can disagree with each other (a chain's head one commit
ahead of its log); the restore's chain check reports that. A consistent copy is taken with
the services stopped, or from Redis' own RDB/AOF files.

A restore reads the file twice: once to check it whole before anything is written, then to
write the keys. The generation marker is written first with a ``restoring`` hold, so that a
service still running stops at its next check and a restore cut off half way stays held;
the last step turns it into a ``restored`` hold, which keeps every service from starting
until an operator has reconciled the ledger with KPR and released it
(``safeguards.release_ledger``).

File I/O is blocking: these are meant for the command line, not for a service's event loop.
"""

from __future__ import annotations

import base64
import binascii
import errno
import gzip
import hashlib
import json
import os
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from kpr_gateway.ledger.errors import LedgerError, LedgerUnavailableError
from kpr_gateway.ledger.keys import KeySpace
from kpr_gateway.ledger.replies import text
from kpr_gateway.ledger.safeguards import (
    UNREADABLE,
    Generation,
    HoldKind,
    decode_generation,
    encode_generation,
    generation_key,
    hold_now,
    read_generation,
    write_generation,
)

FORMAT = "kprgw-ledger-backup"
VERSION = 1
KEYS_PER_ROUND = 300
"""Keys dumped or restored per pipelined round, at most."""
BYTES_PER_ROUND = 16 * 1024 * 1024
"""Payload bytes a round aims to stay below: rounds of large keys hold fewer keys."""
_SCAN_COUNT = 1000
_COMPRESSION = 6
"""gzip's usual level: the Base64 text shrinks to about the payloads' size."""


class BackupError(LedgerError):
    """A backup or restore that cannot be done as asked (the text says why)."""


class BackupDamagedError(BackupError):
    """The file is not a whole ledger backup: cut short, changed, or not one at all."""


class RestoreRefusedError(BackupError):
    """The ledger is not empty and the restore was not asked to replace it."""


@dataclass(frozen=True, slots=True)
class BackupSummary:
    key_prefix: str
    generation: Generation
    taken_at: str
    """When the backup started: nothing after it is in it."""
    redis_version: str
    keys: int
    finished_at: str


@dataclass(frozen=True, slots=True)
class RestoreReport:
    backup: BackupSummary
    restored: int
    expired: int
    """Keys whose retention ended between the backup and the restore (not written)."""
    replaced: int
    """Keys deleted first (``replace``): what the ledger held before."""
    tenants_with_chains: list[str]
    """Tenants whose chains came back, for the check that the chains are whole."""
    generation: Generation
    """The marker as the restore left it (held: restored)."""


# -- backup -------------------------------------------------------------------------------


async def write_backup(redis: Redis, keys: KeySpace, out: Path) -> BackupSummary:
    """Write every key under the ledger's prefix to ``out`` (which must not exist yet).

    The file appears under its name only once it is whole (written as ``<out>.partial``
    first). Raises ``BackupError`` for a ledger without its generation marker,
    ``LedgerUnavailableError`` when Redis fails, ``OSError`` when the file cannot be written.
    """
    generation = await read_generation(redis, keys)
    if generation is None or generation.id == UNREADABLE:
        raise BackupError(
            "the ledger has no generation marker the gateway wrote: nothing of the "
            f"gateway's to back up under the prefix {keys.prefix!r}"
        )
    try:
        server: dict[str, Any] = await redis.info("server")
    except RedisError as exc:
        raise LedgerUnavailableError("Redis does not answer INFO server") from exc
    header = {
        "format": FORMAT,
        "version": VERSION,
        "key_prefix": keys.prefix,
        "generation": json.loads(encode_generation(generation)),
        "taken_at": _now(),
        "redis_version": str(server.get("redis_version", "unknown")),
    }
    if out.exists():
        raise FileExistsError(errno.EEXIST, "exists already: a backup never overwrites", str(out))
    partial = out.with_name(out.name + ".partial")
    raw = partial.open("xb")  # a .partial left by a backup that failed: removed by hand
    try:
        with raw:
            with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=_COMPRESSION) as compressed:
                writer = _LineWriter(compressed)
                writer.write(header)
                count = await _dump_all(redis, keys, writer)
                finished_at = _now()
                trailer = {"end": FORMAT, "keys": count, "sha256": writer.digest()}
                compressed.write(_line({**trailer, "finished_at": finished_at}))
            # the whole file on disk before it takes the name a restore looks for
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return BackupSummary(
        key_prefix=keys.prefix,
        generation=generation,
        taken_at=str(header["taken_at"]),
        redis_version=str(header["redis_version"]),
        keys=count,
        finished_at=finished_at,
    )


class _LineWriter:
    def __init__(self, out: gzip.GzipFile) -> None:
        self._out = out
        self._sha = hashlib.sha256()

    def write(self, value: dict[str, Any]) -> None:
        line = _line(value)
        self._sha.update(line)
        self._out.write(line)

    def digest(self) -> str:
        return self._sha.hexdigest()


async def _dump_all(redis: Redis, keys: KeySpace, writer: _LineWriter) -> int:
    marker = generation_key(keys).encode()
    rounds = _Rounds()
    pending: list[bytes] = []
    count = 0
    try:
        async for key in redis.scan_iter(match=_pattern(keys), count=_SCAN_COUNT):
            name = key.encode() if isinstance(key, str) else key
            if name == marker:  # in the header, as it was when the backup started
                continue
            pending.append(name)
            if len(pending) >= rounds.size:
                count += await _dump_round(redis, pending, writer, rounds)
                pending = []
        if pending:
            count += await _dump_round(redis, pending, writer, rounds)
    except RedisError as exc:
        raise LedgerUnavailableError("ledger read failed (backup)") from exc
    return count


async def _dump_round(
    redis: Redis, names: list[bytes], writer: _LineWriter, rounds: _Rounds
) -> int:
    async with redis.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.dump(name)
            pipe.pttl(name)
        replies: list[Any] = await pipe.execute()
    now_ms = int(time.time() * 1000)
    written = 0
    size = 0
    for index, name in enumerate(names):
        payload, pttl = replies[2 * index], int(replies[2 * index + 1])
        if payload is None or pttl == -2:  # expired or deleted since the SCAN
            continue
        writer.write(
            {
                "k": _b64(name),
                "x": now_ms + pttl if pttl >= 0 else None,
                "d": _b64(payload),
            }
        )
        written += 1
        size += len(payload)
    rounds.after(size)
    return written


class _Rounds:
    """How many keys the next round takes: halved after a round of large payloads, grown
    back while rounds stay small."""

    def __init__(self) -> None:
        self.size = KEYS_PER_ROUND

    def after(self, payload_bytes: int) -> None:
        if payload_bytes > BYTES_PER_ROUND:
            self.size = max(1, self.size // 2)
        elif payload_bytes < BYTES_PER_ROUND // 4:
            self.size = min(KEYS_PER_ROUND, self.size * 2)


# -- reading a backup -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Record:
    key: bytes
    expires_at_ms: int | None
    payload: bytes


def check_backup(path: Path) -> BackupSummary:
    """Read the whole file and check it; raises ``BackupDamagedError`` (or ``OSError`` when
    it cannot be opened)."""
    reading = _Reader(path)
    for _ in reading.records():
        pass
    return reading.summary()


class _Reader:
    """One pass over a backup file: the header, then the records; the trailer is checked
    when the records end (``summary`` is only known then)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._header: dict[str, Any] | None = None
        self._trailer: dict[str, Any] | None = None

    def records(self) -> Iterator[_Record]:
        sha = hashlib.sha256()
        count = 0
        with self._path.open("rb") as raw:
            lines = _lines(raw)
            first = next(lines, None)
            if first is None:
                raise BackupDamagedError("the file is empty: not a ledger backup")
            self._header = _header(first)
            sha.update(first)
            prefix = (self._header["key_prefix"] + ":").encode()
            for line in lines:
                value = _json(line)
                if "end" in value:
                    self._trailer = _trailer(value, count, sha.hexdigest())
                    if next(lines, None) is not None:
                        raise BackupDamagedError("lines follow the backup's last line")
                    return
                sha.update(line)
                record = _record(value)
                if not record.key.startswith(prefix):
                    raise BackupDamagedError(
                        f"a key outside the backup's prefix {self._header['key_prefix']!r}"
                    )
                count += 1
                yield record
        raise BackupDamagedError(
            f"the file ends after {count} keys without the backup's last line: cut short "
            "(the backup did not finish, or the copy is incomplete)"
        )

    def summary(self) -> BackupSummary:
        if self._header is None or self._trailer is None:
            raise RuntimeError("summary() before the records were read to the end")
        return BackupSummary(
            key_prefix=self._header["key_prefix"],
            generation=self._header["generation"],
            taken_at=self._header["taken_at"],
            redis_version=self._header["redis_version"],
            keys=self._trailer["keys"],
            finished_at=self._trailer["finished_at"],
        )


def _lines(raw: IO[bytes]) -> Iterator[bytes]:
    try:
        with gzip.GzipFile(fileobj=raw, mode="rb") as compressed:
            yield from compressed
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise BackupDamagedError(f"not a whole gzip file ({exc})") from exc


def _json(line: bytes) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except ValueError as exc:
        raise BackupDamagedError("a line that is not JSON") from exc
    if not isinstance(value, dict):
        raise BackupDamagedError("a line that is not a JSON object")
    return value


def _header(line: bytes) -> dict[str, Any]:
    value = _json(line)
    if value.get("format") != FORMAT:
        raise BackupDamagedError("not a ledger backup (no kprgw-ledger-backup header)")
    if value.get("version") != VERSION:
        raise BackupDamagedError(
            f"backup format version {value.get('version')!r}: this kprgw reads {VERSION}"
        )
    try:
        generation = decode_generation(json.dumps(value["generation"]))
        header = {
            "key_prefix": str(value["key_prefix"]),
            "generation": generation,
            "taken_at": str(value["taken_at"]),
            "redis_version": str(value["redis_version"]),
        }
    except (KeyError, TypeError) as exc:
        raise BackupDamagedError("the header lacks a field") from exc
    if generation.id == UNREADABLE:
        raise BackupDamagedError("the header's generation marker is unreadable")
    return header


def _trailer(value: dict[str, Any], count: int, digest: str) -> dict[str, Any]:
    if value.get("end") != FORMAT or value.get("keys") != count:
        raise BackupDamagedError(
            f"the last line counts {value.get('keys')!r} keys, the file holds {count}"
        )
    if value.get("sha256") != digest:
        raise BackupDamagedError("the checksum does not match: the file was changed or damaged")
    return {"keys": count, "finished_at": str(value.get("finished_at", "unknown"))}


def _record(value: dict[str, Any]) -> _Record:
    try:
        expires = value["x"]
        if expires is not None and not isinstance(expires, int):
            raise TypeError("x")
        return _Record(
            key=base64.b64decode(value["k"], validate=True),
            expires_at_ms=expires,
            payload=base64.b64decode(value["d"], validate=True),
        )
    except (KeyError, TypeError, binascii.Error) as exc:
        raise BackupDamagedError("a key's line is not readable") from exc


# -- restore --------------------------------------------------------------------------------


async def restore_backup(
    redis: Redis, keys: KeySpace, path: Path, *, replace_existing: bool = False
) -> RestoreReport:
    """Restore the backup at ``path`` under ``keys.prefix`` (the backup's own prefix or
    another: keys are renamed), and leave the ledger held (restored).

    Refuses (``RestoreRefusedError``) a prefix that holds any key unless
    ``replace_existing``: then every key under it is deleted first, and the ledger becomes
    the backup. Refuses a damaged file before writing anything (``BackupDamagedError``).
    """
    summary = check_backup(path)
    pattern = _pattern(keys)
    try:
        present = await _any_key(redis, pattern)
    except RedisError as exc:
        raise LedgerUnavailableError("ledger read failed (restore)") from exc
    if present and not replace_existing:
        raise RestoreRefusedError(
            f"the ledger under the prefix {keys.prefix!r} is not empty: a restore would mix "
            "two ledgers (replace it whole with --replace, after a backup of it if it may "
            "still be needed)"
        )
    backup_generation = replace(summary.generation, hold=None)
    restoring = replace(
        backup_generation,
        hold=hold_now(
            HoldKind.RESTORING,
            "kprgw ledger restore is writing the keys, or stopped before it finished",
            backup_taken_at=summary.taken_at,
        ),
    )
    await write_generation(redis, keys, restoring)
    try:
        replaced = await _delete_all(redis, keys) if replace_existing else 0
        restored, expired, tenants = await _restore_keys(redis, keys, path, summary)
    except RedisError as exc:
        raise LedgerUnavailableError("ledger write failed (restore)") from exc
    held = replace(
        backup_generation,
        hold=hold_now(
            HoldKind.RESTORED,
            f"restored from a backup ({restored} keys) by kprgw ledger restore: what happened "
            "after the backup was taken is not in the ledger",
            backup_taken_at=summary.taken_at,
        ),
    )
    await write_generation(redis, keys, held)
    return RestoreReport(
        backup=summary,
        restored=restored,
        expired=expired,
        replaced=replaced,
        tenants_with_chains=sorted(tenants),
        generation=held,
    )


async def _any_key(redis: Redis, pattern: str) -> bool:
    async for _ in redis.scan_iter(match=pattern, count=_SCAN_COUNT):
        return True
    return False


async def _delete_all(redis: Redis, keys: KeySpace) -> int:
    marker = generation_key(keys).encode()
    deleted = 0
    batch: list[bytes] = []
    async for key in redis.scan_iter(match=_pattern(keys), count=_SCAN_COUNT):
        name = key.encode() if isinstance(key, str) else key
        if name == marker:
            continue
        batch.append(name)
        if len(batch) >= KEYS_PER_ROUND:
            deleted += int(await redis.unlink(*batch))
            batch = []
    if batch:
        deleted += int(await redis.unlink(*batch))
    return deleted


async def _restore_keys(
    redis: Redis, keys: KeySpace, path: Path, summary: BackupSummary
) -> tuple[int, int, set[str]]:
    source = summary.key_prefix.encode()
    target = keys.prefix.encode()
    marker = generation_key(keys).encode()
    tenant_start = target + b":{"
    restored = expired = 0
    tenants: set[str] = set()
    batch: list[_Record] = []
    size = 0
    reading = _Reader(path)  # checks the file again as it goes: it could change in between
    for record in reading.records():
        now_ms = int(time.time() * 1000)
        if record.expires_at_ms is not None and record.expires_at_ms <= now_ms:
            expired += 1
            continue
        name = target + record.key[len(source) :]
        if name == marker:  # written from the header, with the hold
            continue
        batch.append(replace(record, key=name))
        size += len(record.payload)
        if name.startswith(tenant_start) and name.endswith(b"}:chains"):
            tenants.add(text(name[len(tenant_start) : -len(b"}:chains")]))
        if len(batch) >= KEYS_PER_ROUND or size >= BYTES_PER_ROUND:
            restored += await _restore_round(redis, batch)
            batch, size = [], 0
    if batch:
        restored += await _restore_round(redis, batch)
    return restored, expired, tenants


async def _restore_round(redis: Redis, batch: list[_Record]) -> int:
    async with redis.pipeline(transaction=False) as pipe:
        for record in batch:
            expires = record.expires_at_ms
            pipe.restore(record.key, expires or 0, record.payload, absttl=expires is not None)
        replies: list[Any] = await pipe.execute(raise_on_error=False)
    for reply in replies:
        if isinstance(reply, ResponseError):
            raise BackupError(f"Redis refused to restore a key: {_refusal(reply)}")
        if isinstance(reply, Exception):
            raise reply
    return len(batch)


def _refusal(error: ResponseError) -> str:
    said = str(error)
    if "BUSYKEY" in said:
        return "it exists already (something wrote to the ledger during the restore)"
    if "payload version" in said or "checksum" in said:
        return (
            "its payload is not one this Redis reads (the backup comes from a newer Redis "
            "version; see the backup's header)"
        )
    return said


# -- helpers --------------------------------------------------------------------------------


def _pattern(keys: KeySpace) -> str:
    """SCAN's pattern for every key under the prefix (glob characters in it escaped)."""
    escaped = "".join(f"\\{c}" if c in "*?[]\\" else c for c in keys.prefix)
    return f"{escaped}:*"


def _line(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode() + b"\n"


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _now() -> str:
    return datetime.now(UTC).isoformat()
