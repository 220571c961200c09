"""Archives opened in memory, recursively, within limits; and a bomb check for OOXML files.

Units zip or rar their forms, scans and photos, sometimes an archive inside an archive, with
GBK names from Chinese Windows. `expand` turns one attachment into the plain files inside it.
Every byte that comes out is counted while it streams, so a bomb stops at a limit instead of
filling memory; each thing that could not be done is an `Issue` with a Chinese message a clerk
can pass on to the unit. Nothing is written anywhere: names are returned as stored (made safe by
the store), and a name that climbs out of its folder is only flagged.

zip goes through the standard library (it keeps the raw name bytes and the UTF-8 flag); rar and
7z, and zips too damaged for it, through libarchive.
"""

from __future__ import annotations

import ctypes
import enum
import functools
import io
import re
import struct
import xml.parsers.expat
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any

from parsers.concerns import Concern
from parsers.filetypes import FileType, Format, sniff
from store.model import ProblemKind

MiB = 1024 * 1024


@dataclass(frozen=True)
class ArchiveLimits:
    """How far `expand` and `check_ooxml` go before they stop and say why."""

    # Bytes that come out of archives, at every level together.
    max_total_bytes: int = 200 * MiB
    # Bytes out per byte in, for one archive; legitimate office files and photos stay far below.
    max_ratio: float = 100.0
    # The ratio is not judged before this much came out: a small text file may compress 1000:1.
    ratio_grace_bytes: int = 4 * MiB
    # Files taken out, at every level together.
    max_members: int = 1000
    # Archives inside archives; the attachment itself is level 1.
    max_depth: int = 3
    # How much is decompressed at a time.
    chunk_bytes: int = 1 * MiB


class Problem(enum.StrEnum):
    """Why something in an attachment was not (fully) taken out."""

    ENCRYPTED = "encrypted"
    CORRUPT = "corrupt"
    UNSUPPORTED = "unsupported"  # a compression method nobody here can read
    TOTAL_SIZE = "total_size"
    RATIO = "ratio"
    MEMBER_COUNT = "member_count"
    DEPTH = "depth"
    UNSAFE_NAME = "unsafe_name"  # taken out all the same; the store makes the name safe


@dataclass(frozen=True)
class Issue:
    problem: Problem
    where: str  # the archive (and member) concerned, outermost first, joined by " › "
    message: str  # Chinese, for the operator log and the unit


@dataclass(frozen=True)
class Leaf:
    """One plain file: the attachment itself, or a file found inside it."""

    name: str  # as stored in its archive, decoded; may hold folders, even "../"
    data: bytes
    archive_path: tuple[str, ...]  # the archives it came out of, outermost first
    filetype: FileType


@dataclass(frozen=True)
class Expansion:
    leaves: tuple[Leaf, ...]
    issues: tuple[Issue, ...]

    @property
    def complete(self) -> bool:
        """True when every file inside was taken out (a flagged name does not count against)."""
        return all(issue.problem is Problem.UNSAFE_NAME for issue in self.issues)

    @property
    def warnings(self) -> tuple[Concern, ...]:
        # Each message says what to send instead; the advice for an unreadable document
        # (save it again from Word) does not fit an archive.
        return tuple(Concern(ProblemKind.OTHER, issue.message) for issue in self.issues)


def expand(filename: str, data: bytes, limits: ArchiveLimits | None = None) -> Expansion:
    """The plain files in an attachment; a file that is no archive comes back as its own leaf."""
    run = _Run(limits or ArchiveLimits())
    run.visit(filename, data, ())
    return Expansion(tuple(run.leaves), tuple(run.issues))


@dataclass
class _Archive:
    """One archive being read: what went in, what came out, whether to stop reading it."""

    path: tuple[str, ...]
    size: int
    out: int = 0
    halted: bool = False
    taken: int = 0  # members taken out
    locked: int = 0  # members (or, for encrypted headers, the whole) behind a password

    @property
    def where(self) -> str:
        return " › ".join(self.path)


class _Run:
    """One call of `expand`: the limits, what came out so far and what went wrong."""

    def __init__(self, limits: ArchiveLimits) -> None:
        self.limits = limits
        self.leaves: list[Leaf] = []
        self.issues: list[Issue] = []
        self.total = 0
        self.members = 0
        self.halted = False  # a limit on the whole run was reached: read nothing more

    def say(self, problem: Problem, where: str, message: str) -> None:
        self.issues.append(Issue(problem, where, message))

    def visit(self, name: str, data: bytes, path: tuple[str, ...]) -> None:
        filetype = sniff(data, name)
        if not filetype.is_archive:
            self.leaves.append(Leaf(name, data, path, filetype))
            return
        if len(path) >= self.limits.max_depth:
            self.leaves.append(Leaf(name, data, path, filetype))
            self.say(
                Problem.DEPTH,
                " › ".join((*path, name)),
                f"压缩包「{' › '.join(path)}」里套了超过 {self.limits.max_depth} 层压缩包，"
                f"最里层的「{name}」没有解开，请单位直接发送其中的文件",
            )
            return
        archive = _Archive((*path, name), len(data))
        if filetype.format is Format.ZIP:
            self.read_zip(data, archive)
        else:
            self.read_libarchive(data, archive, salvage=False)
        if archive.locked:
            self.say(
                Problem.ENCRYPTED,
                archive.where,
                f"压缩包「{archive.where}」"
                + (f"中有 {archive.locked} 个文件" if archive.taken else "")
                + "有密码，无法打开，请单位发送不加密的文件",
            )

    def admit(self, name: str, archive: _Archive) -> bool:
        """Count one more member; False when the run must stop before reading it."""
        if self.halted or archive.halted:
            return False
        if self.members >= self.limits.max_members:
            self.halted = True
            self.say(
                Problem.MEMBER_COUNT,
                archive.where,
                f"压缩包「{archive.where}」里的文件超过 {self.limits.max_members} 个，"
                f"只取出了前 {self.limits.max_members} 个，请单位分开发送",
            )
            return False
        self.members += 1
        if _unsafe(name):
            self.say(
                Problem.UNSAFE_NAME,
                f"{archive.where} › {name}",
                f"压缩包「{archive.where}」中的文件名「{name}」含有上级目录或绝对路径，"
                "已按普通文件收下",
            )
        return True

    def too_big(self, archive: _Archive) -> None:
        self.halted = True
        self.say(
            Problem.TOTAL_SIZE,
            archive.where,
            f"压缩包「{archive.where}」解压后超过 {self.limits.max_total_bytes // MiB} MB，"
            "已停止解压，请单位分开发送或直接发送文件",
        )

    def bomb(self, archive: _Archive) -> None:
        archive.halted = True
        self.say(
            Problem.RATIO,
            archive.where,
            f"压缩包「{archive.where}」解压后超过压缩前的 {self.limits.max_ratio:g} 倍，"
            "疑似“压缩炸弹”，已停止解压，请单位直接发送其中的文件",
        )

    def take(self, chunks: Iterable[bytes], archive: _Archive) -> bytes | None:
        """A member's bytes, or None when a limit stopped it; the partial bytes are dropped."""
        limits = self.limits
        buffer = io.BytesIO()
        for chunk in chunks:
            self.total += len(chunk)
            archive.out += len(chunk)
            if self.total > limits.max_total_bytes:
                self.too_big(archive)
                return None
            if _too_compressed(archive.out, archive.size, limits):
                self.bomb(archive)
                return None
            buffer.write(chunk)
        archive.taken += 1
        return buffer.getvalue()

    def read_zip(self, data: bytes, archive: _Archive) -> None:
        try:
            zipped = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, OSError, EOFError, ValueError):
            # The central directory is at the end; a truncated upload loses it. libarchive reads
            # the local headers from the start and saves the files that arrived whole.
            self.read_libarchive(data, archive, salvage=True)
            return
        with zipped:
            for info in zipped.infolist():
                name = _zip_name(info)
                if info.is_dir() or name.startswith("__MACOSX/"):
                    continue
                if info.flag_bits & 0x1 or info.compress_type == _WINZIP_AES:
                    archive.locked += 1
                    continue
                if not self.admit(name, archive):
                    return
                # zipfile never yields more than a member's declared size: a bomb that tells
                # the truth is refused before any decompression, one that lies is cut short.
                if _too_compressed(info.file_size, info.compress_size, self.limits):
                    self.bomb(archive)
                    return
                if self.total + info.file_size > self.limits.max_total_bytes:
                    self.too_big(archive)
                    return
                content = self.take_zip_member(zipped, info, name, archive)
                if content is not None:
                    self.visit(name, content, archive.path)

    def take_zip_member(
        self, zipped: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, archive: _Archive
    ) -> bytes | None:
        where = f"{archive.where} › {name}"
        try:
            with zipped.open(info) as member:
                return self.take(_chunks(member, self.limits.chunk_bytes), archive)
        except NotImplementedError:
            self.say(
                Problem.UNSUPPORTED,
                where,
                f"压缩包「{archive.where}」中的「{name}」用了无法识别的压缩方式，"
                "请单位改用普通 zip 重新打包",
            )
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError):
            self.say(
                Problem.CORRUPT,
                where,
                f"压缩包「{archive.where}」中的「{name}」已损坏，无法取出，请单位重新发送",
            )
        return None

    def read_libarchive(self, data: bytes, archive: _Archive, *, salvage: bool) -> None:
        libarchive, is_encrypted = _libarchive()
        try:
            with libarchive.memory_reader(data) as reader:
                for entry in reader:
                    if not entry.isfile:
                        continue
                    name = _decode_name(entry.pathname)
                    if is_encrypted(entry._entry_p):
                        archive.locked += 1
                        continue
                    if not self.admit(name, archive):
                        return
                    content = self.take(entry.get_blocks(self.limits.chunk_bytes), archive)
                    if content is not None:
                        self.visit(name, content, archive.path)
        except libarchive.ArchiveError as error:
            reason = str(error.msg).lower()
            if "encrypt" in reason or "passphrase" in reason or "password" in reason:
                archive.locked += 1
                return
            salvage = True
        if salvage:
            self.say(
                Problem.CORRUPT,
                archive.where,
                f"压缩包「{archive.where}」已损坏（可能没有传完整），"
                + (f"只取出了 {archive.taken} 个文件，" if archive.taken else "无法打开，")
                + "请单位重新发送",
            )


def _too_compressed(out: int, into: int, limits: ArchiveLimits) -> bool:
    return out > limits.ratio_grace_bytes and out > limits.max_ratio * max(into, 1)


_WINZIP_AES = 99  # compression method of WinZip's AES encryption, used by 7-Zip and 360压缩


@functools.cache
def _libarchive() -> tuple[Any, Any]:
    """libarchive-c, imported when an archive needs it (most mail has none), and the call it
    does not wrap: libarchive knows whether an entry is encrypted."""
    import libarchive  # type: ignore[import-untyped]

    is_encrypted = libarchive.ffi.libarchive.archive_entry_is_encrypted
    is_encrypted.argtypes = [ctypes.c_void_p]
    is_encrypted.restype = ctypes.c_int
    return libarchive, is_encrypted


def _chunks(stream: IO[bytes], size: int) -> Iterable[bytes]:
    while chunk := stream.read(size):
        yield chunk


def _zip_name(info: zipfile.ZipInfo) -> str:
    """The member's real name: zipfile reads every name without the UTF-8 flag as cp437."""
    if info.flag_bits & 0x800:
        return info.filename
    raw = info.orig_filename.encode("cp437")
    return _unicode_path(info.extra, raw) or _decode_name(raw)


def _unicode_path(extra: bytes, raw: bytes) -> str | None:
    """The UTF-8 name of an Info-ZIP Unicode Path field (0x7075), if it is there and current."""
    offset = 0
    while offset + 4 <= len(extra):
        kind, size = struct.unpack_from("<HH", extra, offset)
        body = extra[offset + 4 : offset + 4 + size]
        offset += 4 + size
        # The CRC is of the plain name: a tool that renamed the member left a stale field.
        if kind == 0x7075 and len(body) > 5 and body[0] == 1:
            if struct.unpack_from("<I", body, 1)[0] != zlib.crc32(raw):
                return None
            try:
                return body[5:].decode("utf-8")
            except UnicodeDecodeError:
                return None
    return None


def _decode_name(name: str | bytes) -> str:
    """A stored name as text: UTF-8 (Mac, Linux, phones) when it reads as such, else GBK."""
    if isinstance(name, str):
        return name
    for encoding in ("utf-8", "gb18030"):
        try:
            return name.decode(encoding)
        except UnicodeDecodeError:
            continue
    return name.decode("gb18030", "replace")


_DRIVE = re.compile(r"^[A-Za-z]:")


def _unsafe(name: str) -> bool:
    """Would this name, used as a path, leave the folder it is unpacked into?"""
    path = name.replace("\\", "/")
    return (
        path.startswith("/")
        or bool(_DRIVE.match(path))
        or ".." in path.split("/")
        or any(ord(ch) < 32 for ch in path)
    )


_XML_PARTS = (".xml", ".rels", ".vml")
# Office writes the root element within the first few hundred bytes of every part.
_PROLOG_LIMIT = 64 * 1024


def check_ooxml(data: bytes, limits: ArchiveLimits | None = None) -> Concern | None:
    """A warning when a .docx/.xlsx is an XML or zip bomb; None when it is safe to parse.

    python-docx and openpyxl read the parts through zipfile, which never yields more than a
    member's declared size: the declared sizes bound what they would decompress. Entities are
    looked for in each XML part's prolog only, with expat stopped at the root element, so the
    check reads a few KB however large the part is.
    """
    limits = limits or ArchiveLimits()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zipped:
            infos = zipped.infolist()
            if len(infos) > limits.max_members:
                return Concern(
                    ProblemKind.OTHER,
                    f"文件内部有 {len(infos)} 个部件，超过 {limits.max_members} 个，"
                    "疑似恶意文件，未读取",
                )
            declared = sum(info.file_size for info in infos)
            if declared > limits.max_total_bytes:
                return Concern(
                    ProblemKind.OTHER,
                    f"文件解压后有 {declared // MiB} MB，超过 {limits.max_total_bytes // MiB} MB，"
                    "疑似“XML 炸弹”，未读取",
                )
            for info in infos:
                if _too_compressed(info.file_size, info.compress_size, limits):
                    return Concern(
                        ProblemKind.OTHER,
                        f"文件中的「{info.filename}」解压后是压缩前的 "
                        f"{info.file_size // max(info.compress_size, 1)} 倍，疑似“XML 炸弹”，未读取",
                    )
            for info in infos:
                if info.filename.lower().endswith(_XML_PARTS):
                    warning = _check_prolog(zipped, info)
                    if warning is not None:
                        return Concern(ProblemKind.OTHER, warning)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, zlib.error):
        return Concern(
            ProblemKind.UNREADABLE, "文件已损坏（可能没有传完整），不是有效的 Office 文档，请单位重新发送"
        )
    return None


class _Doctype(Exception):
    """Raised from expat's handler: the part declares a DOCTYPE."""


class _RootReached(Exception):
    """Raised from expat's handler: the prolog is over and held no DOCTYPE."""


def _check_prolog(zipped: zipfile.ZipFile, info: zipfile.ZipInfo) -> str | None:
    parser = xml.parsers.expat.ParserCreate()

    def on_doctype(*_: object) -> None:
        raise _Doctype

    def on_root(*_: object) -> None:
        raise _RootReached

    parser.StartDoctypeDeclHandler = on_doctype
    parser.StartElementHandler = on_root
    read = 0
    try:
        with zipped.open(info) as part:
            while chunk := part.read(4096):
                parser.Parse(chunk, False)
                read += len(chunk)
                if read > _PROLOG_LIMIT:
                    return (
                        f"文件中的「{info.filename}」开头 {_PROLOG_LIMIT // 1024} KB 内没有正文，"
                        "疑似恶意文件，未读取"
                    )
    except _Doctype:
        return (
            f"文件中的「{info.filename}」含有 DOCTYPE/实体声明（正常的 Office 文件没有），"
            "疑似“XML 炸弹”，未读取"
        )
    except (_RootReached, xml.parsers.expat.ExpatError):
        # Not well-formed XML is for the form reader to report; it is no bomb.
        return None
    return None
