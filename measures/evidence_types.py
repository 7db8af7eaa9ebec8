"""What an uploaded piece of evidence (佐证材料) really is, judged by its bytes.

A file's name and the browser's Content-Type are whatever the client says; an HTML page
renamed `.pdf` would otherwise be stored and later served to colleagues. So the type is
sniffed from the content, the name's extension must agree with it, and the content type we
store (and serve) comes from this module, never from the request.
"""

import os
import zipfile
from dataclasses import dataclass
from typing import BinaryIO

from django.utils.translation import gettext as _

MAX_EVIDENCE_BYTES = 20 * 1024 * 1024

PDF_MAGIC = b"%PDF-"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy Office: .doc and .xls
ZIP_MAGIC = b"PK\x03\x04"  # Office Open XML: .docx and .xlsx


@dataclass(frozen=True)
class EvidenceType:
    extension: str  # what the stored file is named with, lower case, no dot
    content_type: str


# Extension → (the content kind it must carry, the content type we store and serve).
_BY_EXTENSION: dict[str, tuple[str, str]] = {
    "pdf": ("pdf", "application/pdf"),
    "png": ("png", "image/png"),
    "jpg": ("jpeg", "image/jpeg"),
    "jpeg": ("jpeg", "image/jpeg"),
    # OLE2 compound files are told apart only by the streams inside; both legacy formats
    # are accepted under their own extension, which is how they are served back.
    "doc": ("ole2", "application/msword"),
    "xls": ("ole2", "application/vnd.ms-excel"),
    "docx": ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    "xlsx": ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
}

ALLOWED_EXTENSIONS = tuple(_BY_EXTENSION)


class EvidenceFileError(ValueError):
    """The upload is not acceptable evidence; the message is for the user."""


def extension_of(filename: str) -> str:
    # Browsers on Windows have been known to send full paths; only the last part counts.
    base = os.path.basename(filename.replace("\\", "/"))
    _stem, dot, ext = base.rpartition(".")
    return ext.lower() if dot else ""


def _office_open_xml_kind(fileobj: BinaryIO) -> str | None:
    # Reads only the central directory: no member is decompressed, so a zip bomb costs nothing.
    try:
        with zipfile.ZipFile(fileobj) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return None
    if "[Content_Types].xml" not in names:
        return None
    if any(name.startswith("word/") for name in names):
        return "docx"
    if any(name.startswith("xl/") for name in names):
        return "xlsx"
    return None


def sniff_kind(fileobj: BinaryIO) -> str | None:
    """The kind of content: "pdf", "png", "jpeg", "ole2", "docx", "xlsx", or None.

    Leaves the file positioned at its start.
    """
    fileobj.seek(0)
    head = fileobj.read(8)
    fileobj.seek(0)
    kind: str | None = None
    if head.startswith(PDF_MAGIC):
        kind = "pdf"
    elif head.startswith(PNG_MAGIC):
        kind = "png"
    elif head.startswith(JPEG_MAGIC):
        kind = "jpeg"
    elif head.startswith(OLE2_MAGIC):
        kind = "ole2"
    elif head.startswith(ZIP_MAGIC):
        kind = _office_open_xml_kind(fileobj)
        fileobj.seek(0)
    return kind


def evidence_type_of(*, filename: str, fileobj: BinaryIO, size: int) -> EvidenceType:
    """The type to store an uploaded file under, or EvidenceFileError saying why it is refused."""
    if size > MAX_EVIDENCE_BYTES:
        raise EvidenceFileError(_("文件大小不能超过 %(limit)d MB。") % {"limit": MAX_EVIDENCE_BYTES // (1024 * 1024)})
    if size == 0:
        raise EvidenceFileError(_("文件是空的。"))
    allowed = ", ".join(ALLOWED_EXTENSIONS)
    ext = extension_of(filename)
    if ext not in _BY_EXTENSION:
        raise EvidenceFileError(_("不支持的文件类型,只能上传:%(allowed)s。") % {"allowed": allowed})
    expected_kind, content_type = _BY_EXTENSION[ext]
    kind = sniff_kind(fileobj)
    if kind is None:
        raise EvidenceFileError(
            _("文件内容不是可接受的格式(%(allowed)s),请检查文件是否损坏或被改名。") % {"allowed": allowed}
        )
    if kind != expected_kind:
        raise EvidenceFileError(_("文件扩展名 .%(ext)s 与文件实际内容不符。") % {"ext": ext})
    return EvidenceType(extension=ext, content_type=content_type)
