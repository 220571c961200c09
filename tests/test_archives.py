"""parsers/archives.py on real archives: zips written the way Chinese Windows writes them, nested
zips, bombs, encrypted and truncated archives, 7z through libarchive and rar built to the RAR 4
format, and the XML-bomb guard for .docx/.xlsx."""

from __future__ import annotations

import io
import os
import random
import struct
import time
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import docx
import libarchive  # type: ignore[import-untyped]
import pytest

from parsers.archives import ArchiveLimits, Expansion, Problem, check_ooxml, expand
from parsers.filetypes import Format

FILES = Path(__file__).parent / "cases" / "files"
MiB = 1024 * 1024


def zip_raw_names(members: list[tuple[bytes, bytes]], extra: bytes = b"") -> bytes:
    """A zip whose names are the given raw bytes with the UTF-8 flag off, as Chinese Windows
    writes GBK names. zipfile only writes ASCII or flagged UTF-8, so each member is written
    under an ASCII stand-in of the same length, then the stand-in's bytes are replaced."""
    out = io.BytesIO()
    stand_ins = []
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for number, (raw, data) in enumerate(members):
            stand_in = f"{number:0{len(raw)}d}"[-len(raw) :].encode()
            stand_in = (b"#" * len(raw) + stand_in)[-len(raw) :]
            info = zipfile.ZipInfo(stand_in.decode())
            info.extra = extra
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
            stand_ins.append((stand_in, raw))
    data = out.getvalue()
    for stand_in, raw in stand_ins:
        assert data.count(stand_in) == 2  # the local header and the central directory
        data = data.replace(stand_in, raw)
    return data


def make_zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def make_7z(members: dict[str, bytes], options: str = "") -> bytes:
    out = io.BytesIO()
    with libarchive.custom_writer(out.write, "7zip", options=options) as archive:
        for name, data in members.items():
            archive.add_file_from_memory(name, len(data), data)
    return out.getvalue()


def _rar_block(kind: int, flags: int, body: bytes, data: bytes = b"") -> bytes:
    head = struct.pack("<BHH", kind, flags, 7 + len(body)) + body
    return struct.pack("<H", zlib.crc32(head) & 0xFFFF) + head + data


def make_rar4(
    members: list[tuple[bytes, bytes]], *, file_flags: int = 0, main_flags: int = 0
) -> bytes:
    """A RAR 4 archive with stored (uncompressed) members, laid out as RARLAB's technote for
    RAR 2.9-4.x describes it. No free tool here can write rar; names are raw bytes, as WinRAR
    writes a GBK name that fits the OEM code page (without the Unicode flag)."""
    out = b"Rar!\x1a\x07\x00" + _rar_block(0x73, main_flags, bytes(6))
    for name, data in members:
        body = struct.pack(
            "<IIBIIBBHI",
            len(data),  # packed size
            len(data),  # unpacked size
            2,  # host OS: Windows
            zlib.crc32(data),
            0x56C10000,  # DOS time 2023-06-01 00:00
            20,  # version needed: 2.0
            0x30,  # method: store
            len(name),
            0x20,  # attributes: archive
        )
        out += _rar_block(0x74, 0x8000 | file_flags, body + name, data)
    return out + _rar_block(0x7B, 0x4000, b"")


def names(expansion: Expansion) -> list[str]:
    return [leaf.name for leaf in expansion.leaves]


def problems(expansion: Expansion) -> list[Problem]:
    return [issue.problem for issue in expansion.issues]


def test_gbk_names_without_the_utf8_flag_are_decoded() -> None:
    data = zip_raw_names(
        [
            ("附件2：活动进展情况统计表.xlsx".encode("gbk"), b"xlsx"),
            ("照片/开展消防演练.jpg".encode("gbk"), b"jpeg"),
        ]
    )
    assert all(not info.flag_bits & 0x800 for info in zipfile.ZipFile(io.BytesIO(data)).infolist())
    result = expand("盐湖区第1周.zip", data)
    assert names(result) == ["附件2：活动进展情况统计表.xlsx", "照片/开展消防演练.jpg"]
    assert [leaf.data for leaf in result.leaves] == [b"xlsx", b"jpeg"]
    assert result.leaves[0].archive_path == ("盐湖区第1周.zip",)
    assert result.complete
    assert result.issues == ()


def test_a_zip_made_by_info_zip_in_a_gbk_locale() -> None:
    result = expand("材料.zip", (FILES / "gbk-infozip.zip").read_bytes())
    assert sorted(names(result)) == ["照片说明.txt", "附件/附件2：活动进展情况统计表.txt"]
    assert result.complete


def test_utf8_names_without_the_flag_stay_utf8() -> None:
    # Info-ZIP on Linux and macOS's Archive Utility write UTF-8 names without the flag.
    data = zip_raw_names([("活动总结.docx".encode(), b"docx")])
    assert names(expand("总结.zip", data)) == ["活动总结.docx"]


def test_the_unicode_path_extra_field_wins_when_current() -> None:
    raw = b"????.xlsx"  # what a tool writes when the name does not fit the code page
    current = struct.pack("<BI", 1, zlib.crc32(raw)) + "统计表.xlsx".encode()
    stale = struct.pack("<BI", 1, zlib.crc32(b"old.xlsx")) + "统计表.xlsx".encode()
    for field, expected in ((current, "统计表.xlsx"), (stale, "????.xlsx")):
        extra = struct.pack("<HH", 0x7075, len(field)) + field
        assert names(expand("a.zip", zip_raw_names([(raw, b"x")], extra))) == [expected]


def test_nested_archives_are_expanded_with_their_path() -> None:
    inner = make_zip({"照片1.jpg": b"photo", "附件2.txt": "统计".encode()})
    middle = make_7z({"内层.zip": inner, "说明.txt": b"readme"})
    outer = make_zip({"第1周/中层.7z": middle, "方案.pdf": b"%PDF-1.4 plan"})
    result = expand("外层.zip", outer)
    paths = {(leaf.archive_path, leaf.name) for leaf in result.leaves}
    assert paths == {
        (("外层.zip",), "方案.pdf"),
        (("外层.zip", "第1周/中层.7z"), "说明.txt"),
        (("外层.zip", "第1周/中层.7z", "内层.zip"), "照片1.jpg"),
        (("外层.zip", "第1周/中层.7z", "内层.zip"), "附件2.txt"),
    }
    assert result.complete


def test_an_office_file_inside_a_zip_stays_a_file() -> None:
    document = docx.Document()
    out = io.BytesIO()
    document.save(out)
    result = expand("a.zip", make_zip({"附件2.docx": out.getvalue()}))
    assert names(result) == ["附件2.docx"]
    assert result.leaves[0].filetype.format is Format.DOCX


def test_a_file_that_is_no_archive_is_its_own_leaf() -> None:
    result = expand("照片.jpg", b"\xff\xd8\xff\xe0 not much of a jpeg")
    assert [(leaf.name, leaf.archive_path) for leaf in result.leaves] == [("照片.jpg", ())]
    assert result.complete


def test_archives_deeper_than_the_limit_are_kept_whole() -> None:
    data = make_zip({"最里层.txt": b"deep"})
    for level in (3, 2, 1):
        data = make_zip({f"第{level}层.zip": data})
    result = expand("外层.zip", data, ArchiveLimits(max_depth=3))
    assert names(result) == ["第3层.zip"]
    assert result.leaves[0].archive_path == ("外层.zip", "第1层.zip", "第2层.zip")
    assert problems(result) == [Problem.DEPTH]
    assert "超过 3 层" in result.warnings[0]
    assert not result.complete


def _zeros_zip(size: int) -> bytes:
    """A zip of `size` zero bytes, compressed as it is written: never `size` bytes in memory."""
    out = io.BytesIO()
    zero = bytes(MiB)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:  # noqa: SIM117
        with archive.open("zeros.bin", "w", force_zip64=True) as member:
            for _ in range(size // MiB):
                member.write(zero)
    return out.getvalue()


def _measured(call: Callable[[], Expansion]) -> tuple[Expansion, int, float]:
    """The result, the peak of Python memory allocated meanwhile, and the seconds taken."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        result = call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak, time.perf_counter() - started


def test_a_zip_bomb_is_refused_before_decompressing() -> None:
    bomb = _zeros_zip(1024 * MiB)  # 1 GiB of zeros in about 1 MB
    result, peak, _ = _measured(lambda: expand("材料.zip", bomb))
    assert problems(result) == [Problem.RATIO]
    assert result.leaves == ()
    assert result.warnings == (
        "压缩包「材料.zip」解压后超过压缩前的 100 倍，疑似“压缩炸弹”，已停止解压，请单位直接发送其中的文件",
    )
    assert peak < 4 * MiB


def test_a_zip_bomb_within_the_ratio_stops_at_the_total() -> None:
    bomb = _zeros_zip(1024 * MiB)
    limits = ArchiveLimits(max_ratio=10_000, max_total_bytes=64 * MiB)
    result, peak, _ = _measured(lambda: expand("材料.zip", bomb, limits))
    assert problems(result) == [Problem.TOTAL_SIZE]
    assert "超过 64 MB" in result.warnings[0]
    assert peak < 4 * MiB


def test_a_7z_bomb_stops_while_streaming_with_bounded_memory() -> None:
    # 7z's sizes are not trusted the way zipfile's are: the bytes are counted as they come.
    stream = io.BytesIO()
    zero = bytes(MiB)
    with libarchive.custom_writer(stream.write, "7zip", options="compression=deflate") as out:
        out.add_file_from_memory("zeros.bin", 256 * MiB, (zero for _ in range(256)))
    bomb = stream.getvalue()
    assert len(bomb) < MiB
    result, peak, _ = _measured(lambda: expand("材料.7z", bomb))
    # What the limit lets through, an eighth more that BytesIO reserves as it grows, and a
    # few chunks in flight.
    assert problems(result) == [Problem.RATIO]
    assert peak < 1.125 * 100 * len(bomb) + 4 * MiB
    limits = ArchiveLimits(max_ratio=10_000, max_total_bytes=16 * MiB)
    result, peak, _ = _measured(lambda: expand("材料.7z", bomb, limits))
    assert problems(result) == [Problem.TOTAL_SIZE]
    assert peak < 1.125 * 16 * MiB + 4 * MiB


def test_a_nested_bomb_stops_only_its_own_archive() -> None:
    bomb = make_7z({"zeros.bin": bytes(64 * MiB)}, "compression=deflate")
    outer = make_zip({"炸弹.7z": bomb, "附件2.txt": b"fine"}, zipfile.ZIP_STORED)
    result = expand("外层.zip", outer, ArchiveLimits(ratio_grace_bytes=MiB))
    assert problems(result) == [Problem.RATIO]
    assert result.issues[0].where == "外层.zip › 炸弹.7z"
    assert names(result) == ["附件2.txt"]


def test_the_member_count_is_limited() -> None:
    data = make_zip({f"照片{number}.jpg": b"x" for number in range(20)})
    result = expand("照片.zip", data, ArchiveLimits(max_members=5))
    assert names(result) == [f"照片{number}.jpg" for number in range(5)]
    assert problems(result) == [Problem.MEMBER_COUNT]
    assert "超过 5 个" in result.warnings[0]


def test_an_encrypted_zip_is_reported() -> None:
    result = expand("材料.zip", (FILES / "encrypted-infozip.zip").read_bytes())
    assert result.leaves == ()
    assert result.warnings == ("压缩包「材料.zip」有密码，无法打开，请单位发送不加密的文件",)
    assert problems(result) == [Problem.ENCRYPTED]
    assert not result.complete


def test_an_encrypted_member_does_not_stop_the_others() -> None:
    data = bytearray(make_zip({"a.txt": b"open", "b.txt": b"secret"}, zipfile.ZIP_STORED))
    # Set the "encrypted" flag of b.txt in its local header and its central directory entry.
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        header = data.rfind(signature)
        data[header + flag_offset] |= 0x01
    result = expand("材料.zip", bytes(data))
    assert names(result) == ["a.txt"]
    assert result.warnings == (
        "压缩包「材料.zip」中有 1 个文件有密码，无法打开，请单位发送不加密的文件",
    )


@pytest.mark.parametrize("fixture", ["encrypted.7z", "encrypted-headers.7z"])
def test_an_encrypted_7z_is_reported(fixture: str) -> None:
    result = expand("材料.7z", (FILES / fixture).read_bytes())
    assert result.leaves == ()
    assert result.warnings == ("压缩包「材料.7z」有密码，无法打开，请单位发送不加密的文件",)


def test_a_truncated_zip_gives_up_what_arrived_whole() -> None:
    rng = random.Random(7)
    members = {f"照片{number}.jpg": rng.randbytes(40_000) for number in range(5)}
    data = make_zip(members)
    result = expand("照片.zip", data[: int(len(data) * 0.7)])
    assert names(result) == ["照片0.jpg", "照片1.jpg", "照片2.jpg"]
    assert [leaf.data for leaf in result.leaves] == [members[name] for name in names(result)]
    assert problems(result) == [Problem.CORRUPT]
    assert result.warnings == (
        "压缩包「照片.zip」已损坏（可能没有传完整），只取出了 3 个文件，请单位重新发送",
    )


def test_a_zip_cut_in_its_first_member_cannot_be_opened() -> None:
    data = make_zip({"附件2.xlsx": os.urandom(50_000)})
    result = expand("附件.zip", data[:1000])
    assert result.leaves == ()
    assert result.warnings == ("压缩包「附件.zip」已损坏（可能没有传完整），无法打开，请单位重新发送",)


def test_a_member_with_a_bad_crc_is_corrupt_and_the_rest_are_taken() -> None:
    data = bytearray(make_zip({"a.txt": b"A" * 100, "b.txt": b"B" * 100}, zipfile.ZIP_STORED))
    data[data.find(b"A" * 100) + 50] = ord("X")
    result = expand("材料.zip", bytes(data))
    assert names(result) == ["b.txt"]
    assert problems(result) == [Problem.CORRUPT]
    assert result.issues[0].where == "材料.zip › a.txt"


def test_garbage_named_zip_is_kept_as_a_file_with_a_note() -> None:
    result = expand("材料.zip", bytes(range(256)) * 10)
    assert names(result) == ["材料.zip"]
    assert result.leaves[0].filetype.format is Format.OTHER
    assert result.leaves[0].filetype.notes == ("「材料.zip」的文件名是 .zip，实际内容是 other 文件",)


@pytest.mark.parametrize(
    "name",
    ["../../etc/passwd", "/etc/cron.d/x", "C:\\Windows\\system.ini", "照片\\..\\..\\a.jpg"],
)
def test_path_traversal_names_are_kept_and_flagged(name: str) -> None:
    data = make_zip({name: b"x", "正常.txt": b"y"})
    result = expand("材料.zip", data)
    assert name in names(result)
    assert problems(result) == [Problem.UNSAFE_NAME]
    assert "含有上级目录或绝对路径" in result.warnings[0]
    assert result.complete


def test_a_7z_with_chinese_names() -> None:
    result = expand("第2周.7z", make_7z({"照片/消防演练.jpg": b"j", "附件2.xlsx": b"x"}))
    assert names(result) == ["照片/消防演练.jpg", "附件2.xlsx"]
    assert result.complete


def test_a_rar_with_gbk_names() -> None:
    data = make_rar4(
        [("附件2：统计表.xls".encode("gbk"), b"xls"), ("照片/演练.jpg".encode("gbk"), b"jpg")]
    )
    result = expand("盐湖区.rar", data)
    assert names(result) == ["附件2：统计表.xls", "照片/演练.jpg"]
    assert [leaf.data for leaf in result.leaves] == [b"xls", b"jpg"]
    assert result.complete


@pytest.mark.parametrize(("file_flags", "main_flags"), [(0x04, 0), (0, 0x80)])
def test_an_encrypted_rar_is_reported(file_flags: int, main_flags: int) -> None:
    # 0x04: the member's data has a password; 0x80: the headers (names) are encrypted too.
    data = make_rar4([(b"a.txt", b"hello")], file_flags=file_flags, main_flags=main_flags)
    result = expand("材料.rar", data)
    assert result.leaves == ()
    assert result.warnings == ("压缩包「材料.rar」有密码，无法打开，请单位发送不加密的文件",)


def test_a_truncated_rar_gives_up_what_arrived_whole() -> None:
    data = make_rar4([(b"a.txt", b"a" * 5000), (b"b.txt", b"b" * 5000)])
    result = expand("材料.rar", data[:-3000])
    assert names(result) == ["a.txt"]
    assert problems(result) == [Problem.CORRUPT]


def test_a_50_mb_video_in_a_zip_comes_out_whole() -> None:
    video = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + os.urandom(50 * MiB)
    data = make_zip({"活动视频.mp4": video}, zipfile.ZIP_STORED)
    result, peak, _ = _measured(lambda: expand("视频.zip", data))
    assert names(result) == ["活动视频.mp4"]
    assert result.leaves[0].filetype.format is Format.MP4
    assert result.leaves[0].data == video
    assert peak < 60 * MiB  # the video itself, once, plus a chunk


# -- check_ooxml ------------------------------------------------------------------------------


def _docx() -> bytes:
    document = docx.Document()
    document.add_paragraph("附件2")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _replace_part(data: bytes, part: str, content: bytes) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, content if info.filename == part else source.read(info))
    return out.getvalue()


BILLION_LAUGHS = b"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<!DOCTYPE w:document [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">
<w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>"""


def test_a_real_docx_passes() -> None:
    assert check_ooxml(_docx()) is None


def test_a_billion_laughs_docx_is_caught_without_parsing() -> None:
    bomb = _replace_part(_docx(), "word/document.xml", BILLION_LAUGHS)
    started = time.perf_counter()
    warning = check_ooxml(bomb)
    assert time.perf_counter() - started < 1
    assert warning == (
        "文件中的「word/document.xml」含有 DOCTYPE/实体声明（正常的 Office 文件没有），"
        "疑似“XML 炸弹”，未读取"
    )


def test_a_doctype_after_a_long_comment_is_still_caught() -> None:
    sneaky = b'<?xml version="1.0"?><!-- <w:document> -->' + BILLION_LAUGHS.split(b"?>", 1)[1]
    bomb = _replace_part(_docx(), "word/document.xml", sneaky)
    assert check_ooxml(bomb) is not None
    assert "DOCTYPE" in (check_ooxml(bomb) or "")


def test_a_hugely_compressed_part_is_caught_from_its_declared_size() -> None:
    huge = b'<?xml version="1.0"?><w:document>' + b" " * (300 * MiB) + b"</w:document>"
    bomb = _replace_part(_docx(), "word/document.xml", huge)
    del huge
    result = check_ooxml(bomb, ArchiveLimits(max_total_bytes=1024 * MiB))
    assert result is not None
    assert result.startswith("文件中的「word/document.xml」解压后是压缩前的 ")
    assert check_ooxml(bomb) == "文件解压后有 300 MB，超过 200 MB，疑似“XML 炸弹”，未读取"


def test_a_truncated_docx_is_reported_as_damaged() -> None:
    data = _docx()
    assert check_ooxml(data[: len(data) // 2]) == (
        "文件已损坏（可能没有传完整），不是有效的 Office 文档，请单位重新发送"
    )
