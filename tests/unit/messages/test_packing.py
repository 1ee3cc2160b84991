"""Packing of the MsgHead's document: zip + base64 in a Base64Container, and back, bounded."""

from __future__ import annotations

import base64
import io
import random
import zipfile
from pathlib import Path

import pytest
from lxml import etree

from kpr_gateway.messages.errors import (
    MsgHeadError,
    PackedDocumentError,
    PackedDocumentTooLargeError,
    PackedTooLargeError,
)
from kpr_gateway.messages.msghead import (
    build_msghead,
    canonical_document,
    document_bytes,
    document_element,
    open_document,
    parse_msghead,
    read_msghead,
)
from kpr_gateway.messages.packing import (
    ANNUAL_PACKING,
    BASE64_CONTAINER,
    DAILY_PACKING,
    PackedDocument,
    Packing,
    pack_bytes,
    pack_file,
    packed_in,
)
from kpr_gateway.messages.xmlsafe import parse_xml
from tests.unit.messages.examples import MH, at, attrs, head
from tests.unit.messages.strategies import PAYLOAD_NS, payload_document

DOCUMENT = payload_document("12345678901", ["a", "b"], [["c"]])
DOCUMENT_BYTES = etree.tostring(DOCUMENT, encoding="UTF-8", xml_declaration=True)


def packed_head(document: bytes = DOCUMENT_BYTES) -> bytes:
    return build_msghead(head(document=pack_bytes(document).container()))


def zipped(*entries: tuple[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> PackedDocument:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return PackedDocument(base64.b64encode(buffer.getvalue()))


# ----------------------------------------------------------------------------- the choice


def test_daily_goes_inline_and_annual_packed_by_default() -> None:
    assert (DAILY_PACKING, ANNUAL_PACKING) == (Packing.INLINE, Packing.BASE64_ZIP)
    assert head().packing is Packing.INLINE
    assert head(document=pack_bytes(DOCUMENT_BYTES).container()).packing is Packing.BASE64_ZIP


def test_packed_refdoc_says_attachment_zip_and_holds_a_base64_container() -> None:
    root = etree.fromstring(packed_head())
    ref_doc = at(root, "mh:Document/mh:RefDoc")
    assert [etree.QName(child).localname for child in ref_doc] == [
        "IssueDate",
        "MsgType",
        "MimeType",
        "Content",
    ]
    assert attrs(at(ref_doc, "mh:MsgType")) == {"V": "A", "DN": "Vedlegg"}
    assert ref_doc.findtext("mh:MimeType", namespaces=MH) == "application/zip"
    [container] = at(ref_doc, "mh:Content")
    assert container.tag == BASE64_CONTAINER
    assert b"12345678901" not in packed_head()  # the document travels zipped only


def test_inline_refdoc_is_unchanged_xml_without_mime_type() -> None:
    ref_doc = at(etree.fromstring(build_msghead(head())), "mh:Document/mh:RefDoc")
    assert attrs(at(ref_doc, "mh:MsgType")) == {"V": "XML", "DN": "XML-instans"}
    assert ref_doc.find("mh:MimeType", MH) is None


# ----------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("packing", list(Packing))
def test_reader_gives_the_document_back_the_same_way_for_both(packing: Packing) -> None:
    document = DOCUMENT if packing is Packing.INLINE else pack_bytes(DOCUMENT_BYTES).container()
    data = build_msghead(head(document=document))
    for read in (parse_msghead(data), read_msghead(parse_xml(data))):
        assert read.packing is packing
        assert canonical_document(parse_xml(document_bytes(read))) == canonical_document(DOCUMENT)
        with open_document(read) as stream:
            assert parse_xml(stream.read()).tag == f"{{{PAYLOAD_NS}}}Payload"
        assert document_element(read).findtext(f"{{{PAYLOAD_NS}}}Reference") == "12345678901"


def test_a_packed_msghead_reads_back_equal_and_builds_the_same_bytes() -> None:
    data = packed_head()
    read = parse_msghead(data)
    assert read == head(document=pack_bytes(DOCUMENT_BYTES).container())
    assert build_msghead(read) == data
    assert build_msghead(read, compact_document=True) == data


def test_packing_is_deterministic_and_unpacks_to_the_same_bytes() -> None:
    first, second = pack_bytes(DOCUMENT_BYTES), pack_bytes(DOCUMENT_BYTES)
    assert first == second
    assert first.document_bytes == len(DOCUMENT_BYTES)
    assert first.unpack() == DOCUMENT_BYTES


def test_pack_file_reads_a_path_or_a_stream_in_chunks(tmp_path: Path) -> None:
    data = b"<x>" + b"".join(b"<y>%d</y>" % n for n in range(50_000)) + b"</x>"
    path = tmp_path / "large.xml"
    path.write_bytes(data)
    from_path = pack_file(path, chunk_bytes=4096)
    from_str = pack_file(str(path))
    stream = io.BytesIO(b"ignored" + data)
    stream.seek(len(b"ignored"))
    from_stream = pack_file(stream, chunk_bytes=1000)
    assert from_path.unpack() == from_str.unpack() == from_stream.unpack() == data
    assert from_path.document_bytes == len(data)
    assert not stream.closed
    assert len(from_path.base64) < len(data) / 3  # zipped, even as base64


def test_base64_with_line_breaks_from_another_writer_is_read() -> None:
    packed = pack_bytes(DOCUMENT_BYTES)
    text = packed.base64.decode()
    wrapped = "\n".join(text[i : i + 76] for i in range(0, len(text), 76))
    container = etree.Element(BASE64_CONTAINER)
    container.text = f"\n  {wrapped}\n"
    assert packed_in(container).unpack() == DOCUMENT_BYTES


def test_stored_entries_are_read_too() -> None:
    assert zipped(("doc.xml", b"<a/>"), method=zipfile.ZIP_STORED).unpack() == b"<a/>"


# ----------------------------------------------------------------------------- bounds


def test_a_document_over_the_bound_is_refused_by_its_claimed_size() -> None:
    packed = pack_bytes(b"<a>" + b"0" * 10_000 + b"</a>")
    with pytest.raises(PackedDocumentTooLargeError, match="over the limit of 1000 bytes"):
        packed.unpack(max_bytes=1000)
    assert len(packed.unpack(max_bytes=10_007)) == 10_007


def test_a_zip_that_lies_about_its_size_stops_at_the_bound() -> None:
    # A zip bomb's header may claim a small size; the reader counts what actually comes out.
    honest = zipped(("doc.xml", b"<a>" + b"0" * 2_000_000 + b"</a>"))
    data = bytearray(base64.b64decode(honest.base64))
    claimed = (1000).to_bytes(4, "little")
    local_size, central_size = 22, data.rindex(b"PK\x01\x02") + 24
    data[local_size : local_size + 4] = claimed
    data[central_size : central_size + 4] = claimed
    liar = PackedDocument(base64.b64encode(bytes(data)))
    with pytest.raises(PackedDocumentError):
        liar.unpack(max_bytes=5000)
    with pytest.raises(PackedDocumentError):
        packed_document_read_in_pieces(liar, max_bytes=5000)


def test_the_bound_is_counted_while_streaming() -> None:
    packed = pack_bytes(b"<a>" + b"0" * 100_000 + b"</a>")
    with pytest.raises(PackedDocumentTooLargeError):
        packed_document_read_in_pieces(packed, max_bytes=100_006)
    assert len(packed_document_read_in_pieces(packed, max_bytes=100_007)) == 100_007


def packed_document_read_in_pieces(packed: PackedDocument, *, max_bytes: int) -> bytes:
    pieces = []
    with packed.open(max_bytes=max_bytes) as stream:
        while piece := stream.read(777):
            pieces.append(piece)
    return b"".join(pieces)


def test_the_msghead_reader_applies_the_bound() -> None:
    read = parse_msghead(packed_head(b"<a>" + b"0" * 5000 + b"</a>"))
    with pytest.raises(PackedDocumentTooLargeError):
        document_bytes(read, max_bytes=1000)
    with pytest.raises(PackedDocumentTooLargeError):
        document_element(read, max_bytes=1000)


# ----------------------------------------------------------------------------- damaged


@pytest.mark.parametrize(
    ("packed", "complaint"),
    [
        (PackedDocument(b""), "empty"),
        (PackedDocument(b"not base64!"), "valid base64"),
        (PackedDocument(base64.b64encode(b"not a zip")), "not a readable zip"),
        (zipped(), "found 0 entries"),
        (zipped(("a.xml", b"<a/>"), ("b.xml", b"<b/>")), "found 2 entries"),
        (zipped(("folder/", b"")), "folder"),
        (zipped(("a.xml", b"<a/>"), method=zipfile.ZIP_BZIP2), "compression method 12"),
    ],
)
def test_damaged_or_unexpected_zips_are_refused_clearly(
    packed: PackedDocument, complaint: str
) -> None:
    with pytest.raises(PackedDocumentError, match=complaint):
        packed.unpack()


def test_a_corrupted_entry_is_refused_without_naming_it() -> None:
    data = bytearray(base64.b64decode(zipped(("12345678901.xml", b"<a>" * 1000)).base64))
    data[60] ^= 0xFF  # inside the compressed data
    with pytest.raises(PackedDocumentError) as caught:
        PackedDocument(base64.b64encode(bytes(data))).unpack()
    assert "12345678901" not in str(caught.value)


def test_errors_are_msghead_errors() -> None:
    assert issubclass(PackedDocumentTooLargeError, PackedDocumentError)
    assert issubclass(PackedDocumentError, MsgHeadError)


def test_non_ascii_in_a_container_is_refused() -> None:
    container = etree.Element(BASE64_CONTAINER)
    container.text = "æøå"
    with pytest.raises(PackedDocumentError, match="characters base64 does not use"):
        packed_in(container)


@pytest.mark.parametrize(
    ("old", "new", "complaint"),
    [
        (b'<MsgType V="A" DN="Vedlegg"/>', b'<MsgType V="XML"/>', "XML but Content is a Base64"),
        (b"<MimeType>application/zip</MimeType>", b"<MimeType>application/pdf</MimeType>", "zip"),
        (b"<MimeType>application/zip</MimeType>", b"", "MimeType application/zip"),
    ],
)
def test_the_reader_refuses_a_packing_it_does_not_know(
    old: bytes, new: bytes, complaint: str
) -> None:
    data = packed_head()
    assert old in data
    with pytest.raises(MsgHeadError, match=complaint):
        parse_msghead(data.replace(old, new, 1))


def test_the_reader_refuses_attachment_type_without_a_container() -> None:
    data = build_msghead(head()).replace(
        b'<MsgType V="XML" DN="XML-instans"/>', b'<MsgType V="A"/>'
    )
    with pytest.raises(MsgHeadError, match="not a Base64Container"):
        parse_msghead(data)


def test_packing_stops_once_it_would_pass_the_limit() -> None:
    """A year too large for NHN is not packed whole before it is refused."""
    incompressible = random.Random(3).randbytes(2 * 1024 * 1024)
    with pytest.raises(PackedTooLargeError) as refused:
        pack_file(io.BytesIO(incompressible), chunk_bytes=64 * 1024, max_base64_bytes=256 * 1024)
    assert refused.value.limit == 256 * 1024
    assert refused.value.at_least > 256 * 1024
    fits = pack_file(io.BytesIO(b"<a/>" * 1000), max_base64_bytes=256 * 1024)
    assert len(fits.base64) <= 256 * 1024
