"""The annual submission's upload: a multipart/form-data body streamed to disk.

The two files (parts ``iplos`` and ``ident``) are written to a fresh folder under the spool
directory as they arrive, a chunk at a time: a year of tens of MB is never held in memory.
Each file has a size limit (413 past it, the rest unread); the text fields are small. The
folder is removed when the ``spooled_upload`` context ends, whatever happened.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from kpr_gateway.intake.errors import (
    BadRequestError,
    InvalidSubmissionError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)

if TYPE_CHECKING:  # a typing-only name of python-multipart
    from python_multipart.multipart import MultipartCallbacks

FILE_PARTS: Final = ("iplos", "ident")
TEXT_PARTS: Final = frozenset({"year", "environment", "replace", "reason"})
MAX_TEXT_BYTES: Final = 2048
_MULTIPART: Final = b"multipart/form-data"
# Room beside the two files for the text fields and the parts' headers and boundaries.
_BODY_OVERHEAD: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class UploadLimits:
    max_file_bytes: int
    spool_dir: Path | None = None


@dataclass(frozen=True, slots=True)
class AnnualUpload:
    iplos: Path
    ident: Path
    fields: dict[str, str]
    sizes: dict[str, int]


@asynccontextmanager
async def spooled_upload(request: Request, limits: UploadLimits) -> AsyncIterator[AnnualUpload]:
    """Stream the request's multipart body to a folder of its own; removed on leaving."""
    boundary = _boundary(request.headers.get("content-type", ""))
    declared = request.headers.get("content-length")
    largest = 2 * limits.max_file_bytes + _BODY_OVERHEAD
    if declared is not None and declared.isdigit() and int(declared) > largest:
        raise PayloadTooLargeError(
            f"the body is over the limit ({limits.max_file_bytes} bytes per file)"
        )
    if limits.spool_dir is not None:
        limits.spool_dir.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="annual-", dir=limits.spool_dir))
    try:
        receiver = _Receiver(folder, limits.max_file_bytes)
        parser = MultipartParser(boundary, receiver.callbacks())
        try:
            async for chunk in request.stream():
                if chunk:
                    parser.write(chunk)
        except FormParserError as exc:
            raise BadRequestError("the body is not valid multipart/form-data") from exc
        except ClientDisconnect as exc:
            raise BadRequestError("the upload ended before the body was complete") from exc
        finally:
            receiver.close()
        yield receiver.result()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _boundary(content_type: str) -> bytes:
    kind, options = parse_options_header(content_type)
    if kind != _MULTIPART:
        raise UnsupportedMediaTypeError(
            "send the files as multipart/form-data (parts iplos and ident)"
        )
    boundary = options.get(b"boundary")
    if not boundary:
        raise BadRequestError("the multipart/form-data content type names no boundary")
    return boundary


@dataclass
class _Part:
    name: str
    sink: IO[bytes] | None
    text: bytearray = field(default_factory=bytearray)
    size: int = 0


class _Receiver:
    """The parser's callbacks: headers per part, then its data to a file or a small buffer."""

    def __init__(self, folder: Path, max_file_bytes: int) -> None:
        self._folder = folder
        self._max_file_bytes = max_file_bytes
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._part: _Part | None = None
        self._seen: set[str] = set()
        self._fields: dict[str, str] = {}
        self._sizes: dict[str, int] = {}
        self._ended = False

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field_data,
            "on_header_value": self._header_value_data,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self._headers = {}
        self._part = None

    def _header_field_data(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        disposition, options = parse_options_header(self._headers.get(b"content-disposition"))
        raw_name = options.get(b"name")
        if disposition != b"form-data" or raw_name is None:
            raise BadRequestError("every part needs Content-Disposition: form-data with a name")
        name = raw_name.decode("latin-1")
        if name not in FILE_PARTS and name not in TEXT_PARTS:
            # Named by a fixed list, so the text never echoes what the client sent.
            raise InvalidSubmissionError(
                "unknown part; the form has iplos, ident, year, environment, replace, reason"
            )
        if name in self._seen:
            raise InvalidSubmissionError(f"the part {name} is given twice")
        self._seen.add(name)
        sink = (self._folder / f"{name}.xml").open("wb") if name in FILE_PARTS else None
        self._part = _Part(name, sink)

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        part = self._part
        if part is None:
            return
        part.size += end - start
        if part.sink is not None:
            if part.size > self._max_file_bytes:
                raise PayloadTooLargeError(
                    f"the file {part.name} is over the limit of {self._max_file_bytes} bytes"
                )
            part.sink.write(data[start:end])
        else:
            if part.size > MAX_TEXT_BYTES:
                raise InvalidSubmissionError(f"the field {part.name} is too long")
            part.text += data[start:end]

    def _part_end(self) -> None:
        part = self._part
        if part is None:
            return
        if part.sink is not None:
            part.sink.close()
            self._sizes[part.name] = part.size
        else:
            try:
                self._fields[part.name] = part.text.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidSubmissionError(f"the field {part.name} is not UTF-8") from exc
        self._part = None

    def _end(self) -> None:
        self._ended = True

    def close(self) -> None:
        if self._part is not None and self._part.sink is not None:
            self._part.sink.close()

    def result(self) -> AnnualUpload:
        if not self._ended:
            raise BadRequestError("the multipart body ended without its closing boundary")
        missing = [name for name in FILE_PARTS if name not in self._sizes]
        if missing:
            raise InvalidSubmissionError(
                f"missing file part(s): {', '.join(missing)}",
                details=[{"field": name, "reason": "required"} for name in missing],
            )
        return AnnualUpload(
            iplos=self._folder / "iplos.xml",
            ident=self._folder / "ident.xml",
            fields=dict(self._fields),
            sizes=dict(self._sizes),
        )
