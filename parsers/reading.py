"""Public entry points: the forms in an attached file, and the figures typed into a mail body.

A file's real type is told from its bytes, not its name (units rename .xls to .doc, save HTML
as .xls, WPS writes .wps that are Word files inside). Old binary Word/WPS files, RTF and
OpenDocument are converted to .docx/.xlsx by the injected `convert` (LibreOffice, at the edge).
Nothing here raises on a bad file: a file that cannot be read gives one FormReading with
`form` None whose warning tells the clerk what to ask of the unit.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from collections.abc import Callable, Sequence

from parsers.concerns import Concern
from parsers.formreading import FormReading, read_sections
from parsers.forms import Contact, FormDefinition, MediaRow
from parsers.layout import (
    Section,
    html_sections,
    ole_streams,
    text_sections,
    word_sections,
    xls_sections,
    xlsx_sections,
)
from store.model import ProblemKind

__all__ = ["Contact", "Converter", "FormReading", "MediaRow", "read_body", "read_document"]

log = logging.getLogger(__name__)

Converter = Callable[[bytes, str], bytes]
"""convert(data, "docx" | "xlsx") -> the converted file's bytes; raises if it cannot."""

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_RESEND = "请单位改用 .docx 或 .xlsx 重新发送"
_OFFICE_EXTENSIONS = frozenset({"doc", "docx", "xls", "xlsx", "wps", "et", "rtf", "odt", "ods"})
_FORMAT_NAMES = {
    "doc": "旧版 Word 格式",
    "wps": "WPS 文字格式",
    "et": "WPS 表格格式",
    "xls": "旧版 Excel 格式",
    "rtf": "RTF 格式",
    "odt": "OpenDocument 格式",
    "ods": "OpenDocument 格式",
    "xml": "Word XML 格式",
    "xml-sheet": "Excel XML 格式",
    "mht": "MHT 网页格式",
}


class _Unreadable(Exception):
    """The file cannot be read; the message is the clerk's warning."""


def _extension(filename: str) -> str:
    return filename.rsplit(".", 1)[-1].lower() if "." in filename else ""


def _sniff(data: bytes) -> str:
    """The file's real kind: docx, xlsx, odt, ods, ole (old Word/Excel/WPS, or encrypted
    OOXML), rtf, html, xml/xml-sheet (Office 2003 XML), mht, zip, broken-zip or other."""
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = set(archive.namelist())
                mimetype = archive.read("mimetype") if "mimetype" in names else b""
        except (zipfile.BadZipFile, OSError, KeyError):
            return "broken-zip"
        if "word/document.xml" in names:
            return "docx"
        if "xl/workbook.xml" in names:
            return "xlsx"
        if mimetype.endswith(b"opendocument.text"):
            return "odt"
        if mimetype.endswith(b"opendocument.spreadsheet"):
            return "ods"
        return "zip"
    if data.startswith(_OLE_MAGIC):
        return "ole"
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"{\\rtf"):
        return "rtf"
    if head.startswith(b"mime-version") or b"multipart/related" in head:
        return "mht"  # Word's and WPS's "单个网页" .doc / .xls
    if b"<w:worddocument" in head or b"progid=\"word.document\"" in head:
        return "xml"  # Word 2003 XML saved as .doc
    if b"progid=\"excel.sheet\"" in head:
        return "xml-sheet"
    if head.startswith((b"<!doctype html", b"<html", b"<table")) or b"<html" in head:
        return "html"
    return "other"


def _decode(data: bytes) -> str:
    """HTML exported by Chinese systems is often GBK and says so only in a meta tag, if at all."""
    declared = re.search(rb"charset=[\"']?([\w-]+)", data[:4096], re.IGNORECASE)
    for encoding in (declared.group(1).decode("ascii") if declared else None, "utf-8", "gb18030"):
        if encoding:
            try:
                return data.decode(encoding)
            except (LookupError, UnicodeDecodeError):
                continue
    return data.decode("utf-8", errors="replace")


def _converted(
    filename: str, data: bytes, target: str, kind: str, convert: Converter | None
) -> bytes:
    """`data` converted to `target` ("docx"/"xlsx"), or _Unreadable saying what to ask for."""
    name = _FORMAT_NAMES.get(kind, "旧版格式")
    if convert is None:
        raise _Unreadable(f"“{filename}”是{name}，本机未安装 LibreOffice 无法读取，{_RESEND}")
    try:
        return convert(data, target)
    except Exception as error:  # the converter is someone else's I/O; any failure means the same
        log.debug("converting %s failed: %r", filename, error)
        raise _Unreadable(
            f"“{filename}”是{name}，用 LibreOffice 转换失败（可能已损坏或设置了密码），{_RESEND}"
        ) from error


def _ole_sections(filename: str, data: bytes, convert: Converter | None) -> tuple[Section, ...]:
    streams = set(ole_streams(data))
    if "EncryptedPackage" in streams:
        raise _Unreadable(f"“{filename}”设置了打开密码，无法读取，请单位取消密码后重新发送")
    extension = _extension(filename)
    if "Workbook" in streams or "Book" in streams:
        try:
            return xls_sections(data)
        except Exception as error:  # xlrd's errors have no common meaning; LibreOffice may cope
            if "encrypted" in str(error).lower():
                raise _Unreadable(
                    f"“{filename}”设置了打开密码，无法读取，请单位取消密码后重新发送"
                ) from error
            kind = extension if extension in ("et", "xls") else "xls"
            return xlsx_sections(_converted(filename, data, "xlsx", kind, convert))
    if "WordDocument" in streams or extension in ("doc", "wps"):
        kind = "wps" if extension == "wps" else "doc"
        return word_sections(_converted(filename, data, "docx", kind, convert))
    if extension == "et":
        return xlsx_sections(_converted(filename, data, "xlsx", "et", convert))
    return ()


def _sections(filename: str, data: bytes, convert: Converter | None) -> tuple[Section, ...]:
    kind = _sniff(data)
    extension = _extension(filename)
    if kind == "docx":
        return word_sections(data)
    if kind == "xlsx":
        return xlsx_sections(data)
    if kind == "ole":
        return _ole_sections(filename, data, convert)
    if kind in ("rtf", "odt", "xml", "mht"):
        return word_sections(_converted(filename, data, "docx", kind, convert))
    if kind in ("ods", "xml-sheet"):
        return xlsx_sections(_converted(filename, data, "xlsx", kind, convert))
    if kind == "html":
        return html_sections(_decode(data))
    if kind == "broken-zip" or (extension in _OFFICE_EXTENSIONS and kind == "other"):
        raise _Unreadable(f"“{filename}”文件已损坏或不完整，无法打开，请单位重新发送")
    if extension == "txt":
        return text_sections(_decode(data))
    return ()  # a scan, a photo, an archive: no form to read here


def read_document(
    filename: str,
    data: bytes,
    definitions: Sequence[FormDefinition],
    convert: Converter | None,
) -> tuple[FormReading, ...]:
    """The forms of `definitions` found in one attached file (none, one or several).

    `convert(data, "docx"|"xlsx")` turns old Word/WPS, RTF and OpenDocument files into OOXML;
    without it such a file gives a single reading with `form` None and a warning asking the
    unit to resend as .docx/.xlsx. Damaged or password-protected files give the same kind of
    reading; this function does not raise on a bad file.
    """
    if not data:
        empty = Concern(ProblemKind.OTHER, f"“{filename}”是空文件，请单位重新发送")
        return (FormReading(None, filename, warnings=(empty,)),)
    try:
        sections = _sections(filename, data, convert)
    except _Unreadable as problem:
        return (FormReading(None, filename, warnings=(Concern(ProblemKind.UNREADABLE, str(problem)),)),)
    except Exception as error:  # python-docx, openpyxl, xlrd and lxml raise a zoo on bad input
        log.debug("reading %s failed: %r", filename, error)
        warning = Concern(ProblemKind.UNREADABLE, f"“{filename}”文件已损坏或格式异常，无法读取，请单位重新发送")
        return (FormReading(None, filename, warnings=(warning,)),)
    return read_sections(sections, definitions, filename)


# Where a reply's quoted history begins (Foxmail, QQ, 126/163, Outlook, phones).
_QUOTED = re.compile(
    r"^\s*(-{2,}\s*(原始邮件|Original Message|回复的原邮件)|(发件人|From)\s*[:：]|在.{4,80}写道[:：]"
    r"|On .{4,120}wrote:)",
    re.MULTILINE | re.IGNORECASE,
)
_QUOTED_HTML = re.compile(r"<blockquote|原始邮件|Original Message|写道[:：]", re.IGNORECASE)


def read_body(
    text: str, html: str | None, definitions: Sequence[FormDefinition]
) -> tuple[FormReading, ...]:
    """Forms and figures typed into a mail body: the form pasted as a table (read from `html`
    when the body has one) or figures in prose ("宣讲活动3场，参与120人次").

    The quoted history of a reply is left out: it may hold last week's figures."""
    if html and "<table" in html.lower():
        quoted = _QUOTED_HTML.search(html)
        fresh_html = html[: quoted.start()] if quoted else html
        readings = read_sections(html_sections(fresh_html), definitions, "邮件正文", in_body=True)
        if readings:
            return readings
    quoted = _QUOTED.search(text)
    fresh = text[: quoted.start()] if quoted else text
    fresh = "\n".join(line for line in fresh.splitlines() if not line.lstrip().startswith(">"))
    return read_sections(text_sections(fresh), definitions, "邮件正文", in_body=True)
