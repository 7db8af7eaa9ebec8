"""Evidence files are judged by their bytes; every sample here is a real file built in the test."""

import io
import struct
import zipfile
import zlib

import docx
import openpyxl
import pytest

from measures.evidence_types import (
    MAX_EVIDENCE_BYTES,
    OLE2_MAGIC,
    EvidenceFileError,
    evidence_type_of,
    extension_of,
    sniff_kind,
)


def _pdf() -> bytes:
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)  # 1×1, 8-bit greyscale
    pixels = zlib.compress(b"\x00\xff")  # filter byte + one white pixel
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def _jpeg() -> bytes:
    # SOI, a JFIF APP0 segment, EOI: the markers every JPEG starts with.
    app0 = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    return b"\xff\xd8\xff\xe0" + struct.pack(">H", len(app0) + 2) + app0 + b"\xff\xd9"


def _docx() -> bytes:
    document = docx.Document()
    document.add_paragraph("关于建立困难群众救助工作机制的通知")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _xlsx() -> bytes:
    workbook = openpyxl.Workbook()
    workbook.active.append(["序号", "整改措施"])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _ole2() -> bytes:
    # The compound-file header of a legacy .doc/.xls: signature, then a 512-byte header.
    return OLE2_MAGIC + b"\x00" * 16 + b"\x3e\x00\x03\x00\xfe\xff\x09\x00" + b"\x00" * (512 - 32)


SAMPLES = {
    "pdf": _pdf,
    "png": _png,
    "jpeg": _jpeg,
    "docx": _docx,
    "xlsx": _xlsx,
    "ole2": _ole2,
}


def _check(name: str, content: bytes):
    return evidence_type_of(filename=name, fileobj=io.BytesIO(content), size=len(content))


@pytest.mark.parametrize(
    ("name", "sample", "content_type"),
    [
        ("整改通知.pdf", "pdf", "application/pdf"),
        ("现场照片.png", "png", "image/png"),
        ("现场照片.JPG", "jpeg", "image/jpeg"),
        ("现场照片.jpeg", "jpeg", "image/jpeg"),
        ("会议纪要.docx", "docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("台账.xlsx", "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("会议纪要.doc", "ole2", "application/msword"),
        ("台账.xls", "ole2", "application/vnd.ms-excel"),
    ],
)
def test_each_accepted_type_is_recognised_by_content(name, sample, content_type):
    evidence_type = _check(name, SAMPLES[sample]())
    assert evidence_type.content_type == content_type
    assert evidence_type.extension == extension_of(name)


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_sniffing_names_each_kind_and_rewinds(sample):
    fileobj = io.BytesIO(SAMPLES[sample]())
    assert sniff_kind(fileobj) == sample
    assert fileobj.tell() == 0


def test_png_content_named_pdf_is_refused():
    with pytest.raises(EvidenceFileError, match="不符"):
        _check("整改通知.pdf", _png())


def test_docx_named_xlsx_is_refused():
    with pytest.raises(EvidenceFileError, match="不符"):
        _check("台账.xlsx", _docx())


def test_html_named_pdf_is_refused():
    html = "<!doctype html><html><body><script>alert(1)</script>整改通知</body></html>".encode()
    with pytest.raises(EvidenceFileError, match="不是可接受的格式"):
        _check("整改通知.pdf", html)


def test_a_plain_zip_is_not_an_office_document():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(EvidenceFileError):
        _check("会议纪要.docx", out.getvalue())


def test_truncated_zip_is_refused():
    with pytest.raises(EvidenceFileError):
        _check("会议纪要.docx", _docx()[:200])


def test_unlisted_extensions_are_refused_whatever_the_content():
    for name in ("脚本.html", "程序.exe", "无扩展名", "压缩包.zip"):
        with pytest.raises(EvidenceFileError, match="不支持"):
            _check(name, _pdf())


def test_file_of_exactly_the_limit_is_accepted_and_one_byte_more_is_refused():
    at_limit = b"%PDF-1.4\n" + b"0" * (MAX_EVIDENCE_BYTES - 9)
    assert len(at_limit) == MAX_EVIDENCE_BYTES
    assert _check("大文件.pdf", at_limit).content_type == "application/pdf"
    too_big = at_limit + b"0"
    with pytest.raises(EvidenceFileError, match="20 MB"):
        _check("大文件.pdf", too_big)


def test_empty_file_is_refused():
    with pytest.raises(EvidenceFileError):
        _check("空.pdf", b"")


def test_extension_ignores_client_paths_and_case():
    assert extension_of("C:\\Users\\科员\\照片.JPEG") == "jpeg"
    assert extension_of("../../etc/passwd") == ""
    assert extension_of("archive.tar.PDF") == "pdf"
