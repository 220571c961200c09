"""What a file really is, told from its bytes; the name's extension is only a hint.

Units rename files freely (a .docx saved as "报表.doc", a text file called .docx, an HTML table
exported as .xls), so every reader downstream asks `sniff` first and trusts its answer. A
mismatch between the name and the content, an encrypted Office file and a damaged container are
said in `notes`, in Chinese, for the operator log.
"""

from __future__ import annotations

import codecs
import enum
import io
import re
import struct
import zipfile
from dataclasses import dataclass

import olefile

from parsers.concerns import Concern
from store.model import ProblemKind


class Format(enum.StrEnum):
    """The formats units send, plus the containers and near-misses worth telling apart."""

    DOCX = "docx"
    XLSX = "xlsx"
    PPTX = "pptx"
    DOC = "doc"
    XLS = "xls"
    PPT = "ppt"
    WPS = "wps"  # Kingsoft WPS Writer's own format (an OLE2 file in Word's binary layout)
    ET = "et"  # Kingsoft WPS Spreadsheets' own format (an OLE2 file in Excel's BIFF layout)
    ODT = "odt"
    ODS = "ods"
    RTF = "rtf"
    PDF = "pdf"
    OFD = "ofd"  # GB/T 33190, the Chinese state's fixed-layout format (a zip with OFD.xml)
    JPEG = "jpeg"
    PNG = "png"
    HEIC = "heic"
    GIF = "gif"
    BMP = "bmp"
    TIFF = "tiff"
    WEBP = "webp"
    MP4 = "mp4"
    MOV = "mov"
    AVI = "avi"
    WMV = "wmv"
    MKV = "mkv"
    ZIP = "zip"
    RAR = "rar"
    SEVEN_Z = "7z"
    HTML = "html"
    MHT = "mht"
    XML = "xml"
    TEXT = "text"
    OLE = "ole"  # an OLE2 compound file that is none of the Office formats above
    EMPTY = "empty"
    OTHER = "other"


ARCHIVES = frozenset({Format.ZIP, Format.RAR, Format.SEVEN_Z})
IMAGES = frozenset(
    {Format.JPEG, Format.PNG, Format.HEIC, Format.GIF, Format.BMP, Format.TIFF, Format.WEBP}
)
VIDEOS = frozenset({Format.MP4, Format.MOV, Format.AVI, Format.WMV, Format.MKV})

# Extensions that name each format honestly. A format missing here (OTHER, OLE, EMPTY) has no
# extension that could lie about it.
_EXTENSIONS: dict[Format, frozenset[str]] = {
    Format.DOCX: frozenset({"docx", "docm", "dotx", "dotm"}),
    Format.XLSX: frozenset({"xlsx", "xlsm", "xltx", "xltm"}),
    Format.PPTX: frozenset({"pptx", "pptm", "ppsx"}),
    Format.DOC: frozenset({"doc", "dot"}),
    Format.XLS: frozenset({"xls", "xlt"}),
    Format.PPT: frozenset({"ppt", "pps", "pot", "dps"}),
    Format.WPS: frozenset({"wps"}),
    Format.ET: frozenset({"et"}),
    Format.ODT: frozenset({"odt"}),
    Format.ODS: frozenset({"ods"}),
    Format.RTF: frozenset({"rtf"}),
    Format.PDF: frozenset({"pdf"}),
    Format.OFD: frozenset({"ofd"}),
    Format.JPEG: frozenset({"jpg", "jpeg", "jpe", "jfif"}),
    Format.PNG: frozenset({"png"}),
    Format.HEIC: frozenset({"heic", "heif", "hif"}),
    Format.GIF: frozenset({"gif"}),
    Format.BMP: frozenset({"bmp", "dib"}),
    Format.TIFF: frozenset({"tif", "tiff"}),
    Format.WEBP: frozenset({"webp"}),
    Format.MP4: frozenset({"mp4", "m4v", "3gp", "3g2"}),
    Format.MOV: frozenset({"mov", "qt"}),
    Format.AVI: frozenset({"avi"}),
    Format.WMV: frozenset({"wmv", "asf"}),
    Format.MKV: frozenset({"mkv", "webm"}),
    Format.ZIP: frozenset({"zip"}),
    Format.RAR: frozenset({"rar"}),
    Format.SEVEN_Z: frozenset({"7z"}),
    Format.HTML: frozenset({"html", "htm", "xhtml"}),
    Format.MHT: frozenset({"mht", "mhtml"}),
    Format.XML: frozenset({"xml"}),
    Format.TEXT: frozenset({"txt", "csv", "tsv", "text", "log", "md", "json", "ini"}),
}

_KNOWN_EXTENSIONS: frozenset[str] = frozenset().union(*_EXTENSIONS.values())

# How much of the start of a file the text and markup tests look at.
_HEAD = 64 * 1024


@dataclass(frozen=True)
class FileType:
    """The sniffed format of one file and what the operator should know about it."""

    format: Format
    encrypted: bool = False
    damaged: bool = False
    notes: tuple[Concern, ...] = ()

    @property
    def is_archive(self) -> bool:
        return self.format in ARCHIVES


def extension(filename: str) -> str:
    """The lower-case extension without the dot, '' when there is none."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    if "." not in base.strip("."):
        return ""
    return base.rsplit(".", 1)[1].strip().lower()


def sniff(data: bytes, filename: str) -> FileType:
    """Tell the format of `data` from its bytes; `filename` only breaks ties and names lies."""
    ext = extension(filename)
    found = _sniff(data, ext)
    notes = list(found.notes)
    # Only an extension that names another known format lies; "x.dat" holding text does not.
    honest = _EXTENSIONS.get(found.format, frozenset())
    if (
        ext in _KNOWN_EXTENSIONS
        and ext not in honest
        and found.format is not Format.EMPTY
        and not found.damaged  # a damaged file's format is a guess: no grounds to call a lie
    ):
        lie = f"「{filename}」的文件名是 .{ext}，实际内容是 {found.format.value} 文件"
        notes.insert(0, Concern(ProblemKind.OTHER, lie))
    if found.encrypted:
        locked = f"「{filename}」设置了打开密码，无法读取，请单位发送不加密的文件"
        notes.append(Concern(ProblemKind.UNREADABLE, locked))
    return FileType(found.format, found.encrypted, found.damaged, tuple(notes))


def _sniff(data: bytes, ext: str) -> FileType:
    if not data:
        return FileType(Format.EMPTY, notes=(Concern(ProblemKind.OTHER, "文件是空的（0 字节）"),))
    if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
        return _sniff_zip(data, ext)
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return _sniff_ole(data, ext)
    magic = _by_magic(data)
    if magic is not None:
        return FileType(magic)
    return FileType(_by_text(data[:_HEAD]))


def _by_magic(data: bytes) -> Format | None:
    head = data[:32]
    if head.startswith(b"Rar!\x1a\x07"):
        return Format.RAR
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return Format.SEVEN_Z
    # The PDF specification lets readers accept junk before the header within the first 1 KB.
    if b"%PDF-" in data[:1024]:
        return Format.PDF
    if head.startswith(b"\xff\xd8\xff"):
        return Format.JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Format.PNG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return Format.GIF
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return Format.TIFF
    if head.startswith(b"{\\rtf"):
        return Format.RTF
    if head[:4] == b"RIFF" and head[8:12] in (b"WEBP", b"AVI "):
        return Format.WEBP if head[8:12] == b"WEBP" else Format.AVI
    if head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
        return Format.WMV
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return Format.MKV
    # "BM" alone is too common a start for text; the DIB header's size pins it down.
    if (
        head.startswith(b"BM")
        and len(head) >= 18
        and struct.unpack_from("<I", head, 14)[0] in (12, 40, 52, 56, 64, 108, 124)
    ):
        return Format.BMP
    if head[4:8] == b"ftyp":
        return _by_ftyp(data[: struct.unpack_from(">I", head, 0)[0]])
    return None


_HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm"})
_MP4_BRANDS = frozenset(
    {b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"dash", b"M4V ",
     b"MSNV", b"3gp4", b"3gp5", b"3gp6", b"3g2a", b"mmp4", b"f4v "}
)


def _by_ftyp(box: bytes) -> Format | None:
    """ISO base media files (MP4, MOV, HEIC) name their family in the ftyp box's brands."""
    brands = {box[8:12]} | {box[i : i + 4] for i in range(16, len(box) - 3, 4)}
    if brands & _HEIC_BRANDS:
        return Format.HEIC
    if box[8:12] == b"qt  ":
        return Format.MOV
    if brands & _MP4_BRANDS:
        return Format.MP4
    return None


_ZIPPED = (Format.DOCX, Format.XLSX, Format.PPTX, Format.OFD, Format.ODT, Format.ODS)


def _sniff_zip(data: bytes, ext: str) -> FileType:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            mimetype = b""
            if "mimetype" in names:
                with archive.open("mimetype") as member:  # read a little: it could be a bomb
                    mimetype = member.read(100)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError):
        # A truncated upload loses the central directory; the extension is the best guess left.
        guess = next((f for f in _ZIPPED if ext in _EXTENSIONS[f]), Format.ZIP)
        damaged = Concern(ProblemKind.UNREADABLE, "文件已损坏（可能没有传完整），无法打开")
        return FileType(guess, damaged=True, notes=(damaged,))
    if "[Content_Types].xml" in names:
        for prefix, found in (("word/", Format.DOCX), ("xl/", Format.XLSX), ("ppt/", Format.PPTX)):
            if any(name.startswith(prefix) for name in names):
                return FileType(found)
    if "OFD.xml" in names:
        return FileType(Format.OFD)
    if mimetype.startswith(b"application/vnd.oasis.opendocument.text"):
        return FileType(Format.ODT)
    if mimetype.startswith(b"application/vnd.oasis.opendocument.spreadsheet"):
        return FileType(Format.ODS)
    return FileType(Format.ZIP)


def _sniff_ole(data: bytes, ext: str) -> FileType:
    try:
        ole: olefile.OleFileIO[str] = olefile.OleFileIO(io.BytesIO(data))
        with ole:
            streams = {"/".join(path) for path in ole.listdir(streams=True, storages=False)}
            if {"EncryptionInfo", "EncryptedPackage"} <= streams:
                # Office puts a password-protected .docx/.xlsx inside an OLE2 wrapper.
                found = next(
                    (f for f in (Format.DOCX, Format.XLSX, Format.PPTX) if ext in _EXTENSIONS[f]),
                    Format.OLE,
                )
                return FileType(found, encrypted=True)
            if "WordDocument" in streams:
                found = Format.WPS if ext == "wps" else Format.DOC
                return FileType(found, encrypted=_word_encrypted(ole))
            book = "Workbook" if "Workbook" in streams else "Book" if "Book" in streams else None
            if book is not None:
                found = Format.ET if ext == "et" else Format.XLS
                return FileType(found, encrypted=_biff_encrypted(ole, book))
            if "PowerPoint Document" in streams:
                return FileType(Format.PPT, encrypted="EncryptedSummary" in streams)
            return FileType(Format.OLE)
    except Exception:  # olefile raises a zoo of types (OSError, struct.error, IndexError...)
        return FileType(Format.OLE, damaged=True, notes=(Concern(ProblemKind.UNREADABLE, "文件已损坏，无法打开"),))


def _word_encrypted(ole: olefile.OleFileIO[str]) -> bool:
    # FIB base, offset 0x0A: flag word whose bit 8 is fEncrypted ([MS-DOC] 2.5.2).
    head = ole.openstream("WordDocument").read(12)
    return len(head) == 12 and bool(struct.unpack_from("<H", head, 10)[0] & 0x0100)


def _biff_encrypted(ole: olefile.OleFileIO[str], stream: str) -> bool:
    # A FILEPASS record (0x002F) follows the globals' BOF when the workbook is encrypted.
    data = ole.openstream(stream).read(4096)
    offset = 0
    for _ in range(32):
        if offset + 4 > len(data):
            break
        kind, length = struct.unpack_from("<HH", data, offset)
        if kind == 0x002F:
            return True
        offset += 4 + length
    return False


# Word's and IE's "single file web page" (.mht, often renamed .doc) is a MIME message.
_MIME_HEADER = re.compile(r"(mime-version|content-type|from|subject|date)\s*:", re.I)
_MARKUP = re.compile(r"(<\?xml[^>]*>\s*)?(<!--.*?-->\s*)*<(!doctype\s+html|html)", re.I | re.S)


def _by_text(head: bytes) -> Format:
    text = _decode_text(head)
    if text is None:
        return Format.OTHER
    stripped = text.lstrip("\ufeff \t\r\n")
    if _MIME_HEADER.match(stripped) and "multipart/related" in text.lower():
        return Format.MHT
    if _MARKUP.match(stripped):
        return Format.HTML
    if stripped.startswith("<?xml"):
        return Format.XML
    return Format.TEXT


def _decode_text(head: bytes) -> str | None:
    """The head as text if it reads as UTF-8, UTF-16 (with BOM) or GB18030 without binary junk."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates: tuple[str, ...] = ("utf-16",)
    elif b"\x00" in head:
        return None
    else:
        candidates = ("utf-8-sig", "gb18030")
    for encoding in candidates:
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            # final=False: the head may stop in the middle of a multibyte character.
            text: str = decoder.decode(head, final=False)
        except UnicodeDecodeError:
            continue
        control = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f\x1b")
        if control <= len(text) // 100:
            return text
    return None
