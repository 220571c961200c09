"""parsers/filetypes.py on real files: Office files made by LibreOffice and python-docx, photos
made by Pillow, archives made by zipfile and libarchive, and files whose names lie."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import docx
import libarchive  # type: ignore[import-untyped]
import openpyxl
import pillow_heif
import pytest
from PIL import Image

from parsers.filetypes import Format, sniff
from tests.formfactory import first_sheet

FILES = Path(__file__).parent / "cases" / "files"
pillow_heif.register_heif_opener()  # lets Pillow write the HEIC an iPhone would send


def _docx() -> bytes:
    document = docx.Document()
    document.add_paragraph("附件2 安全生产月活动进展情况统计表")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _xlsx() -> bytes:
    book = openpyxl.Workbook()
    first_sheet(book)["A1"] = "填报单位"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _image(kind: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(out, format=kind)
    return out.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def _seven_z() -> bytes:
    out = io.BytesIO()
    with libarchive.custom_writer(out.write, "7zip") as archive:
        archive.add_file_from_memory("照片.jpg", 3, b"abc")
    return out.getvalue()


def _ftyp(major: bytes, *compatible: bytes) -> bytes:
    box = major + b"\x00\x00\x02\x00" + b"".join(compatible)
    return struct.pack(">I", 8 + len(box)) + b"ftyp" + box + b"\x00\x00\x00\x08free"


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("附件2.doc", (FILES / "word97.doc").read_bytes(), Format.DOC),
        ("附件2.xls", (FILES / "excel97.xls").read_bytes(), Format.XLS),
        # WPS's own formats share Word's and Excel's binary layout: the extension tells.
        ("附件2.wps", (FILES / "word97.doc").read_bytes(), Format.WPS),
        ("附件2.et", (FILES / "excel97.xls").read_bytes(), Format.ET),
        ("附件2.docx", _docx(), Format.DOCX),
        ("附件2.xlsx", _xlsx(), Format.XLSX),
        ("照片.jpg", _image("JPEG"), Format.JPEG),
        ("截图.png", _image("PNG"), Format.PNG),
        ("动图.gif", _image("GIF"), Format.GIF),
        ("扫描件.bmp", _image("BMP"), Format.BMP),
        ("扫描件.tif", _image("TIFF"), Format.TIFF),
        ("照片.heic", _image("HEIF"), Format.HEIC),
        ("视频.mp4", _ftyp(b"isom", b"isom", b"iso2", b"avc1", b"mp41"), Format.MP4),
        ("视频.mov", _ftyp(b"qt  ", b"qt  "), Format.MOV),
        ("盖章扫描件.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", Format.PDF),
        ("材料.zip", _zip({"a.txt": b"a"}), Format.ZIP),
        ("材料.rar", b"Rar!\x1a\x07\x01\x00" + bytes(20), Format.RAR),
        ("材料.7z", _seven_z(), Format.SEVEN_Z),
        ("公文.ofd", _zip({"OFD.xml": b"<ofd:OFD/>", "Doc_0/Document.xml": b"<x/>"}), Format.OFD),
        ("说明.txt", "盐湖区工科局 第1周 3场 120人次\r\n".encode("gbk"), Format.TEXT),
        ("说明.txt", "盐湖区工科局\r\n".encode("utf-16"), Format.TEXT),
        ("方案.rtf", b"{\\rtf1\\ansi\\ansicpg936 ...}", Format.RTF),
        ("空.docx", b"", Format.EMPTY),
    ],
)
def test_sniff_tells_the_format_from_the_bytes(name: str, data: bytes, expected: Format) -> None:
    found = sniff(data, name)
    assert found.format is expected
    assert not found.encrypted
    assert not found.damaged
    assert not any("实际内容" in note for note in found.notes)


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("附件2.doc", _docx(), Format.DOCX),  # a .docx renamed .doc by hand
        ("附件2.xls", _xlsx(), Format.XLSX),
        ("附件2.docx", "（3）场，参与（120）人次".encode("gbk"), Format.TEXT),
        ("附件2.xls", b"<html><body><table><tr><td>3</td></tr></table></body></html>", Format.HTML),
        ("照片.jpg", _image("PNG"), Format.PNG),
        (
            "附件2.doc",
            b'MIME-Version: 1.0\r\nContent-Type: multipart/related; boundary="----=_NextPart"\r\n',
            Format.MHT,
        ),
        ("附件2.doc", (FILES / "excel97.xls").read_bytes(), Format.XLS),
        ("材料.zip", _image("JPEG"), Format.JPEG),
    ],
)
def test_a_lying_extension_is_noted(name: str, data: bytes, expected: Format) -> None:
    found = sniff(data, name)
    assert found.format is expected
    assert found.notes[0] == (
        f"「{name}」的文件名是 .{name.rsplit('.', 1)[1]}，实际内容是 {expected.value} 文件"
    )


def test_an_unknown_extension_on_text_is_no_lie() -> None:
    assert sniff(b"plain words\n", "readme").notes == ()
    assert sniff(b"plain words\n", "data.dat").notes == ()


def test_binary_junk_is_other() -> None:
    junk = bytes(range(256)) * 4
    assert sniff(junk, "x.bin").format is Format.OTHER


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("word97-encrypted.doc", Format.DOC),
        ("excel97-encrypted.xls", Format.XLS),
        ("word2007-encrypted.docx", Format.DOCX),
    ],
)
def test_password_protected_office_files_are_encrypted(fixture: str, expected: Format) -> None:
    found = sniff((FILES / fixture).read_bytes(), fixture)
    assert found.format is expected
    assert found.encrypted
    assert found.notes == (f"「{fixture}」设置了打开密码，无法读取，请单位发送不加密的文件",)


def test_a_truncated_docx_is_damaged() -> None:
    data = _docx()
    found = sniff(data[: len(data) // 2], "附件2.docx")
    assert found.format is Format.DOCX
    assert found.damaged
    assert found.notes == ("文件已损坏（可能没有传完整），无法打开",)


def test_a_truncated_doc_is_damaged() -> None:
    data = (FILES / "word97.doc").read_bytes()
    found = sniff(data[:1000], "附件2.doc")
    assert found.format is Format.OLE
    assert found.damaged
    assert found.notes == ("文件已损坏，无法打开",)


def test_a_50_mb_video_is_sniffed_from_its_head_only() -> None:
    video = _ftyp(b"mp42", b"mp42", b"isom") + bytes(50 * 1024 * 1024)
    found = sniff(video, "活动视频.MP4")
    assert found.format is Format.MP4
    assert found.notes == ()
