"""How a MsgHead carries its document: inline XML, or zipped and base64-encoded in a kith
``Base64Container`` (kith-base64.xsd, which MsgHead-v1_2.xsd imports).

The daily KPR_IPL is small and goes inline (``DAILY_PACKING``); the annual files are tens of
MB of XML that zip to a few MB, so they go packed (``ANNUAL_PACKING``). Either is a setting:
the reader takes both.

Packing streams: ``pack_file`` reads the document in chunks into a zip held in memory (the
compressed size, a few MB), so the uncompressed document is never held whole. Unpacking is
bounded: the reader names the largest document it accepts and a zip that claims or turns out
to be larger raises ``PackedDocumentTooLargeError`` (a zip bomb stops at the bound).
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import IO, Final

from lxml import etree

from kpr_gateway.messages.errors import (
    PackedDocumentError,
    PackedDocumentTooLargeError,
    PackedTooLargeError,
)

BASE64_CONTAINER_NS: Final = "http://www.kith.no/xmlstds/base64container"
BASE64_CONTAINER: Final = f"{{{BASE64_CONTAINER_NS}}}Base64Container"
ZIP_MIME_TYPE: Final = "application/zip"
DEFAULT_ENTRY_NAME: Final = "document.xml"
DEFAULT_MAX_UNPACKED_BYTES: Final = 256 * 1024 * 1024
"""Room for a large municipality's year (a 50,000-person IPLOS file is about 72 MB)."""
CHUNK_BYTES: Final = 1024 * 1024

# A fixed time stamp: the same document packs to the same bytes (the zip format's epoch).
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_READABLE_COMPRESSION = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})
_ENCRYPTED_FLAG = 0x1


class Packing(StrEnum):
    """How the document sits in ``RefDoc/Content``."""

    INLINE = "inline"
    """The XML document itself (``RefDoc/MsgType`` XML)."""
    BASE64_ZIP = "base64_zip"
    """A zip of the document, base64 in a ``Base64Container`` (``RefDoc/MsgType`` A,
    ``MimeType`` application/zip)."""


DAILY_PACKING: Final = Packing.INLINE
ANNUAL_PACKING: Final = Packing.BASE64_ZIP


@dataclass(frozen=True, slots=True)
class PackedDocument:
    """A document zipped (one entry) and base64-encoded, as a ``Base64Container`` holds it."""

    base64: bytes
    """ASCII base64 of the zip, without line breaks."""
    document_bytes: int | None = None
    """The document's size before packing; ``None`` when read from a MsgHead (a zip's own
    size claims are not trusted: the bound is checked while unpacking)."""

    def container(self) -> etree._Element:
        """The ``Base64Container`` element to put in ``MsgHead.document``."""
        element = etree.Element(BASE64_CONTAINER, nsmap={None: BASE64_CONTAINER_NS})  # type: ignore[dict-item]
        element.text = self.base64.decode("ascii")
        return element

    def open(
        self, *, max_bytes: int = DEFAULT_MAX_UNPACKED_BYTES
    ) -> AbstractContextManager[IO[bytes]]:
        """A stream of the unpacked document that raises ``PackedDocumentTooLargeError`` past
        ``max_bytes`` and ``PackedDocumentError`` for a damaged zip, also while reading."""
        return _open_entry(_zip_bytes(self.base64), max_bytes)

    def unpack(self, *, max_bytes: int = DEFAULT_MAX_UNPACKED_BYTES) -> bytes:
        """The unpacked document in memory (for small documents; large ones: ``open``)."""
        with self.open(max_bytes=max_bytes) as stream:
            return stream.read()


def pack_bytes(document: bytes, *, entry_name: str = DEFAULT_ENTRY_NAME) -> PackedDocument:
    """Pack a document held in memory."""
    return pack_file(io.BytesIO(document), entry_name=entry_name)


def pack_file(
    source: str | os.PathLike[str] | IO[bytes],
    *,
    entry_name: str = DEFAULT_ENTRY_NAME,
    chunk_bytes: int = CHUNK_BYTES,
    max_base64_bytes: int | None = None,
) -> PackedDocument:
    """Pack a document from a path or a binary stream, reading ``chunk_bytes`` at a time.

    Memory holds the zip and its base64 text (about 2.4 times the compressed size), never
    the uncompressed document. A stream is read from where it stands and not closed.
    ``max_base64_bytes``: stop, with ``PackedTooLargeError``, as soon as the zip written so
    far would make more base64 than this (a year too large for NHN is not packed whole).
    """
    if chunk_bytes < 1:
        raise ValueError("chunk_bytes must be positive")
    entry = zipfile.ZipInfo(entry_name, date_time=_ZIP_EPOCH)
    entry.compress_type = zipfile.ZIP_DEFLATED
    zipped = io.BytesIO()
    size = 0
    try:
        with (
            _binary(source) as stream,
            zipfile.ZipFile(zipped, "w") as archive,
            archive.open(entry, "w") as writer,
        ):
            while chunk := stream.read(chunk_bytes):
                writer.write(chunk)
                size += len(chunk)
                if max_base64_bytes is not None and _base64_size(zipped.tell()) > max_base64_bytes:
                    raise PackedTooLargeError(_base64_size(zipped.tell()), max_base64_bytes)
    except OSError as exc:
        raise PackedDocumentError(f"the document could not be read for packing: {exc}") from exc
    except zipfile.LargeZipFile as exc:
        raise PackedDocumentError("the document is too large to pack (over 2 GiB)") from exc
    with zipped.getbuffer() as view:
        encoded = base64.b64encode(view)
    return PackedDocument(encoded, size)


def _base64_size(raw: int) -> int:
    return 4 * ((raw + 2) // 3)


def packed_in(container: etree._Element) -> PackedDocument:
    """The packed document a ``Base64Container`` read from a MsgHead holds."""
    if container.tag != BASE64_CONTAINER:
        raise PackedDocumentError("the element is not a kith Base64Container")
    try:
        text = (container.text or "").encode("ascii")
    except UnicodeEncodeError:
        raise PackedDocumentError(
            "the Base64Container holds characters base64 does not use"
        ) from None
    # xs:base64Binary allows whitespace (line breaks from other writers); b64decode does not.
    return PackedDocument(b"".join(text.split()))


@contextmanager
def _binary(source: str | os.PathLike[str] | IO[bytes]) -> Iterator[IO[bytes]]:
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as stream:
            yield stream
    else:
        yield source


def _zip_bytes(encoded: bytes) -> bytes:
    if not encoded:
        raise PackedDocumentError("the Base64Container is empty")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PackedDocumentError("the Base64Container does not hold valid base64") from exc


@contextmanager
def _open_entry(zipped: bytes, max_bytes: int) -> Iterator[IO[bytes]]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(zipped))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise PackedDocumentError("the packed content is not a readable zip") from exc
    with archive:
        entry = _single_entry(archive)
        if entry.file_size > max_bytes:
            raise PackedDocumentTooLargeError(
                f"the packed document claims {entry.file_size} bytes, over the limit of "
                f"{max_bytes} bytes"
            )
        try:
            raw = archive.open(entry)
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, ValueError) as exc:
            raise PackedDocumentError("the packed document cannot be opened") from exc
        with raw, io.BufferedReader(_BoundedReader(raw, max_bytes), CHUNK_BYTES) as stream:
            yield stream


def _single_entry(archive: zipfile.ZipFile) -> zipfile.ZipInfo:
    entries = archive.infolist()
    if len(entries) != 1:
        raise PackedDocumentError(
            f"the packed content must be a zip of one document, found {len(entries)} entries"
        )
    entry = entries[0]
    if entry.is_dir():
        raise PackedDocumentError("the packed content holds a folder, not a document")
    if entry.flag_bits & _ENCRYPTED_FLAG:
        raise PackedDocumentError("the packed document is encrypted")
    if entry.compress_type not in _READABLE_COMPRESSION:
        raise PackedDocumentError(
            f"the packed document uses zip compression method {entry.compress_type}; "
            "only stored and deflate are read"
        )
    return entry


class _BoundedReader(io.RawIOBase):
    """Reads a zip entry and counts: past ``max_bytes`` it raises instead of reading on.

    zipfile stops at the entry's declared size already; counting here keeps the bound
    independent of what the zip claims.
    """

    def __init__(self, raw: IO[bytes], max_bytes: int) -> None:
        self._raw = raw
        self._max_bytes = max_bytes
        self._read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        want = min(len(buffer), self._max_bytes - self._read + 1)
        try:
            data = self._raw.read(want)
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            # zipfile's texts name the entry, which comes from outside: the kind is enough.
            raise PackedDocumentError(
                f"the packed document is damaged ({type(exc).__name__})"
            ) from exc
        self._read += len(data)
        if self._read > self._max_bytes:
            raise PackedDocumentTooLargeError(
                f"the packed document unpacks to more than the limit of {self._max_bytes} bytes"
            )
        buffer[: len(data)] = data
        return len(data)
