"""Reading one e-mail: raw bytes in, a decoded envelope, body text and attachments out.

Pure: no file or network I/O. The stdlib parser (``policy.compat32``) only splits the message into
parts and undoes transfer encodings; every header and parameter is decoded here, because Chinese
mail breaks the policies' own decoders (MAILBOX-FACTS.md): gb2312 labels on GBK bytes, RFC 2231
pieces that split a character, RFC 2047 words inside quoted parameters, raw 8-bit GBK headers.
compat32 keeps those raw header bytes recoverable (as surrogate escapes) and never raises on them.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import io
import quopri
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from email.message import Message as _EmailMessage
from email.parser import BytesParser
from email.policy import compat32
from email.utils import getaddresses, parsedate_tz
from html.parser import HTMLParser
from typing import BinaryIO, TypeVar, overload
from urllib.parse import unquote_to_bytes

from parsers.errors import MalformedMessage

_T = TypeVar("_T")

__all__ = [
    "Attachment",
    "Envelope",
    "Message",
    "attachment_names",
    "parse_envelope",
    "parse_message",
    "parse_message_file",
]


@dataclass(frozen=True)
class Attachment:
    """One file of a message, as the sender's client named it."""

    filename: str  # decoded original name, "" if none; not made safe (that is the store's job)
    content_type: str  # lowercased, e.g. "application/pdf"
    data: bytes  # the decoded payload


@dataclass(frozen=True)
class Envelope:
    """What the header block says: enough to sort a message without its body."""

    message_id: str | None
    sender: str  # lowercased bare address, "" if unreadable
    sender_name: str
    recipients: tuple[str, ...]
    subject: str
    date: datetime | None
    in_reply_to: str | None
    references: tuple[str, ...]
    received_at: datetime | None  # from the topmost Received: header (the last hop's clock)
    headers: tuple[tuple[str, str], ...]  # every header in order, names lowercased, values decoded

    def header(self, name: str) -> str | None:
        """The first value of header `name` (any case), or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key == wanted), None)


@dataclass(frozen=True)
class Message:
    """A whole message, decoded."""

    envelope: Envelope
    text: str  # the plain-text body; a rendering of the HTML when there is no plain text
    html: str | None
    attachments: tuple[Attachment, ...]
    defects: tuple[str, ...]  # short English notes of what was odd


# --- charsets ----------------------------------------------------------------------------------

# A gb2312 label on GBK bytes is the norm; gb18030 is a superset of both.
# fmt: off
_GB_LABELS = frozenset({
    "gb2312", "gbk", "cp936", "x-gbk", "euc-cn", "x-euc-cn", "csgb2312", "csgbk", "chinese",
    "gb_2312-80", "iso-ir-58", "ms936", "windows-936", "x-cp936", "gb18030",
})
# fmt: on
# Tried in turn on bytes that came with no charset (raw 8-bit headers, unlabelled parts).
_HEADER_GUESSES = ("utf-8", "gb18030", "big5")
_BODY_GUESSES = ("utf-8", "gb18030")


def _codec(label: str | None) -> str | None:
    """Python's text codec for a MIME charset label, or None if there is none."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    if label in _GB_LABELS:
        return "gb18030"
    try:
        name = codecs.lookup(label).name
        b"".decode(name)  # rejects bytes-to-bytes codecs such as base64 or rot13
    except (LookupError, ValueError, TypeError):
        return None
    return "gb18030" if name in ("gb2312", "gbk") else name


def _decode_text(data: bytes, charset: str | None, guesses: Sequence[str]) -> tuple[str, str]:
    """`data` as text, and how: the declared charset, then each guess, all strictly.

    The second value is the codec that worked, or "" when characters had to be replaced.
    """
    declared = _codec(charset)
    for codec in dict.fromkeys([declared, *guesses]):
        if codec is None:
            continue
        try:
            return data.decode(codec), codec
        except (UnicodeError, LookupError, ValueError):
            continue
    try:
        return data.decode(declared or "gb18030", "replace"), ""
    except (UnicodeError, LookupError, ValueError):  # codecs such as idna allow no "replace"
        return data.decode("gb18030", "replace"), ""


# --- headers -----------------------------------------------------------------------------------

_ENCODED_WORD = re.compile(rb"=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=")
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")


def _unfold(value: bytes) -> bytes:
    return value.replace(b"\r", b"").replace(b"\n", b"")


def _word_bytes(encoding: bytes, text: bytes) -> bytes:
    if encoding in b"qQ":
        return quopri.decodestring(text, header=True)
    # Clients drop the padding or break lines inside a word: keep what base64 can carry.
    text = _NOT_BASE64.sub(b"", text)
    if len(text) % 4 == 1:
        text = text[:-1]
    try:
        return base64.b64decode(text + b"=" * (-len(text) % 4))
    except binascii.Error:
        return b""


def _decode_raw(value: bytes, notes: list[str] | None, what: str) -> str:
    """Text that came without any encoding: ASCII, or raw 8-bit bytes of an unknown charset."""
    if value.isascii():
        return value.decode("ascii")
    text, codec = _decode_text(value, None, _HEADER_GUESSES)
    if notes is not None:
        notes.append(f"raw 8-bit bytes in {what}, read as {codec or 'gb18030 with replacements'}")
    return text


def _decode_words(value: bytes, notes: list[str] | None = None, what: str = "a header") -> str:
    """An unfolded header value with its RFC 2047 words and raw 8-bit text decoded.

    Adjacent words in one charset are joined as bytes before decoding, since some clients split
    a character's bytes across two words.
    """
    out: list[str] = []
    pending = bytearray()
    pending_charset: str | None = None
    pos = 0

    def flush() -> None:
        nonlocal pending_charset
        if pending_charset is not None:
            text, codec = _decode_text(bytes(pending), pending_charset, _HEADER_GUESSES)
            if not codec and notes is not None:
                notes.append(f"undecodable bytes in {what} replaced")
            out.append(text)
        pending.clear()
        pending_charset = None

    for match in _ENCODED_WORD.finditer(value):
        between = value[pos : match.start()]
        if pending_charset is None or between.strip(b" \t"):
            flush()
            out.append(_decode_raw(between, notes, what))
        # The RFC 2231 language suffix ("utf-8*zh") is not part of the charset.
        label = match[1].split(b"*")[0].decode("ascii", "replace")
        charset = _codec(label) or label
        if charset != pending_charset:
            flush()
            pending_charset = charset
        pending += _word_bytes(match[2], match[3])
        pos = match.end()
    flush()
    out.append(_decode_raw(value[pos:], notes, what))
    return "".join(out)


def _split_header(value: bytes) -> tuple[str, list[tuple[str, bytes]]]:
    """The main value (lowercased) and the parameters of a Content-Type or Content-Disposition.

    Parameter values come back unquoted but undecoded. A backslash escapes only a quote or a
    backslash: in raw GBK names 0x5C is also the second byte of some characters.
    """
    value = _unfold(value)
    end = len(value)
    semi = value.find(b";")
    main_end = end if semi < 0 else semi
    main = value[:main_end].strip().decode("ascii", "replace").lower()
    params: list[tuple[str, bytes]] = []
    i = main_end + 1
    while i < end:
        while i < end and value[i] in b" \t;":
            i += 1
        j = i
        while j < end and value[j] not in b"=;":
            j += 1
        key = value[i:j].strip().decode("ascii", "replace").lower()
        if j >= end or value[j] != ord("="):
            i = j + 1
            continue
        j += 1
        while j < end and value[j] in b" \t":
            j += 1
        if j < end and value[j] == ord('"'):
            buf = bytearray()
            j += 1
            while j < end and value[j] != ord('"'):
                if value[j] == ord("\\") and j + 1 < end and value[j + 1] in b'"\\':
                    j += 1
                buf.append(value[j])
                j += 1
            text = bytes(buf)
            while j < end and value[j] != ord(";"):
                j += 1
        else:
            k = value.find(b";", j)
            k = end if k < 0 else k
            text = value[j:k].strip(b" \t")
            j = k
        if key:
            params.append((key, text))
        i = j + 1
    return main, params


def _param(params: Sequence[tuple[str, bytes]], name: str, notes: list[str] | None) -> str | None:
    """The decoded value of parameter `name`: its RFC 2231 form if any, else the plain one.

    RFC 2231 pieces are joined as bytes before decoding: mutt splits a character across pieces.
    A plain value may hold RFC 2047 words or raw 8-bit bytes.
    """
    plain: bytes | None = None
    pieces: dict[int, tuple[bool, bytes]] = {}
    for key, value in params:
        if key == name:
            plain = value if plain is None else plain
        elif key.startswith(name + "*"):
            suffix = key[len(name) + 1 :]  # "", "*", "0", "0*", "1*" ...
            number = suffix.rstrip("*") or "0"
            if number.isdigit():
                pieces.setdefault(int(number), (suffix.endswith("*") or not suffix, value))
    if pieces:
        charset: str | None = None
        data = bytearray()
        for index in sorted(pieces):
            extended, value = pieces[index]
            if extended:
                if index == min(pieces):
                    head = value.split(b"'", 2)
                    if len(head) == 3:
                        charset = head[0].decode("ascii", "replace")
                        value = head[2]
                data += unquote_to_bytes(value)
            else:
                data += value
        text, codec = _decode_text(bytes(data), charset, _HEADER_GUESSES)
        if not codec and notes is not None:
            notes.append(f"undecodable bytes in parameter {name} replaced")
        return text
    if plain is None:
        return None
    return _decode_words(plain, notes, f"parameter {name}")


def _file_name(
    disposition_params: Sequence[tuple[str, bytes]],
    type_params: Sequence[tuple[str, bytes]],
    notes: list[str] | None = None,
) -> str:
    """The attachment's name: Content-Disposition's filename, else Content-Type's name."""
    return _param(disposition_params, "filename", notes) or _param(type_params, "name", notes) or ""


_BODY_TYPES = frozenset({"text/plain", "text/html"})


def _is_attachment(content_type: str, disposition: str, filename: str) -> bool:
    return bool(filename) or disposition == "attachment" or content_type not in _BODY_TYPES


def _eml_name(subject: str) -> str:
    """The name of a forwarded message attached without one, as mail clients show it."""
    return (subject.strip() or "无主题") + ".eml"


# --- the envelope ------------------------------------------------------------------------------

_MESSAGE_ID = re.compile(r"<[^<>]*>")
_NUMERIC_ZONE = re.compile(r"[+-]\d{4}")
_CHINA_CST = re.compile(r"\bCST\b", re.IGNORECASE)
_NAMED_ZONE = re.compile(r"\b(?:UTC?|GMT|Z|[ECMP][SD]T)\b", re.IGNORECASE)
_BEIJING = timezone(timedelta(hours=8))
# Headers that only a mail has: without one of them the bytes are not a message.
# fmt: off
_MAIL_HEADERS = frozenset({
    "from", "to", "cc", "subject", "date", "message-id", "received", "return-path", "mime-version",
    "content-type", "sender", "reply-to", "delivered-to", "in-reply-to", "references", "x-mailer",
    "user-agent",
})
# fmt: on


def _raw_headers(part: _EmailMessage) -> list[tuple[str, bytes]]:
    """The part's headers as sent: names lowercased, values unfolded bytes."""
    # compat32 keeps the header bytes as ASCII with surrogate escapes: this gives them back.
    return [
        (name.lower(), _unfold(str(value).encode("utf-8", "surrogateescape")))
        for name, value in part.raw_items()
    ]


def _first(headers: Sequence[tuple[str, bytes]], name: str) -> bytes | None:
    return next((value for key, value in headers if key == name), None)


def _addresses(values: Iterable[bytes]) -> list[tuple[str, str]]:
    """(display name, lowercased bare address) of every address; groups and junk are skipped."""
    found = getaddresses([value.decode("ascii", "surrogateescape") for value in values])
    result = []
    for name, address in found:
        bare = _decode_raw(address.encode("ascii", "surrogateescape"), None, "")
        name_text = _decode_words(name.encode("ascii", "surrogateescape")).strip()
        result.append((name_text, bare.strip().lower()))
    return result


def _parse_date(value: str, what: str, notes: list[str]) -> datetime | None:
    """An aware datetime from an RFC 5322 date; None if it cannot be read."""
    try:
        fields = parsedate_tz(value)
    except (ValueError, TypeError, IndexError, OverflowError):
        fields = None
    if fields is None:
        if value.strip():
            notes.append(f"unreadable {what}: {value.strip()[:60]}")
        return None
    # parsedate_tz gives 0 for a missing or unknown zone, so look at the text itself.
    try:
        zone = timezone(timedelta(seconds=fields[9] or 0))
    except ValueError:
        zone = UTC
    if _NUMERIC_ZONE.search(value) is None:
        if _CHINA_CST.search(value):
            # In Chinese mail a bare "CST" is China Standard Time, not US Central.
            zone = _BEIJING
            notes.append(f"{what} in CST, read as Beijing time")
        elif _NAMED_ZONE.search(value) is None:
            # A zoneless date comes from a county clerk's PC clock, which runs on Beijing time.
            zone = _BEIJING
            notes.append(f"{what} has no time zone, read as Beijing time")
    try:
        return datetime(*fields[:6], tzinfo=zone)
    except (ValueError, OverflowError):
        notes.append(f"impossible {what}: {value.strip()[:60]}")
        return None


def _envelope(part: _EmailMessage, notes: list[str]) -> Envelope:
    raw = _raw_headers(part)
    headers = tuple((name, _decode_words(value, notes, name).strip()) for name, value in raw)

    def text(name: str) -> str | None:
        return next((value for key, value in headers if key == name), None)

    senders = _addresses(v for name in ("from", "sender") if (v := _first(raw, name)) is not None)
    sender_name, sender = next(((n, a) for n, a in senders if "@" in a), ("", ""))
    recipients = _addresses(value for name, value in raw if name in ("to", "cc", "bcc"))
    message_id = (text("message-id") or "").strip() or None
    reply_to = text("in-reply-to") or ""
    reply_ids = _MESSAGE_ID.findall(reply_to)
    references_text = text("references") or ""
    received = text("received")
    return Envelope(
        message_id=message_id,
        sender=sender,
        sender_name=sender_name,
        recipients=tuple(dict.fromkeys(a for _, a in recipients if "@" in a)),
        subject=text("subject") or "",
        date=_parse_date(text("date") or "", "Date", notes),
        in_reply_to=reply_ids[0] if reply_ids else (reply_to.strip() or None),
        references=tuple(_MESSAGE_ID.findall(references_text) or references_text.split()),
        received_at=(
            _parse_date(received.rpartition(";")[2], "Received date", notes)
            if received is not None
            else None
        ),
        headers=headers,
    )


class _Part(_EmailMessage):
    """A message part whose message/* content the parser leaves as one opaque leaf.

    compat32 would parse an attached mail into sub-parts, and generating it back would only give
    a re-serialised copy; as a leaf its payload stays the bytes that were sent. The parser asks
    this method what a part is; our own code reads the real type from the raw header.
    """

    def get_content_type(self) -> str:
        content_type = super().get_content_type()
        return "application/octet-stream" if content_type.startswith("message/") else content_type

    @overload
    def get_boundary(self, failobj: None = None) -> str | None: ...
    @overload
    def get_boundary(self, failobj: _T) -> str | _T: ...
    def get_boundary(self, failobj: object = None) -> object:
        try:
            return super().get_boundary(failobj)
        except ValueError:
            # compat32 raises on `boundary*=` with a NUL in its charset; the parser then reads
            # the part as a multipart without a boundary instead of giving up on the mail.
            return failobj


_PARSER = BytesParser(_Part, policy=compat32)


def _read_headers(data: bytes, *, headers_only: bool) -> _EmailMessage:
    part = _PARSER.parsebytes(data, headersonly=headers_only)
    if not any(name.lower() in _MAIL_HEADERS for name in part):
        raise MalformedMessage("邮件格式无法识别：没有可读的信头")
    return part


def _unexpected(exc: Exception) -> MalformedMessage:
    return MalformedMessage(f"邮件格式无法识别：解析时出错（{type(exc).__name__}），请查看原始邮件")


def parse_envelope(header_bytes: bytes) -> Envelope:
    """The envelope from a header block (IMAP BODY.PEEK[HEADER]) or a whole message.

    Raises MalformedMessage when the bytes have no readable mail header.
    """
    try:
        return _envelope(_read_headers(header_bytes, headers_only=True), [])
    except MalformedMessage:
        raise
    except Exception as exc:  # any input must end in a Message or MalformedMessage
        raise _unexpected(exc) from exc


# --- the body ----------------------------------------------------------------------------------


def _defect_note(defect: object) -> str:
    """'MissingHeaderBodySeparatorDefect' -> 'missing header body separator'."""
    name = type(defect).__name__.removesuffix("Defect")
    return re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower()


# --- long base64 bodies, kept out of the parser's way ----------------------------------------
#
# compat32 reads a body as one str object per line and joins them, and decoding base64 splits
# and joins the lines again: a 50 MB attachment cost some 400 MB that way. So before parsing,
# every long run of lines made only of base64 characters is replaced by one marker line, and the
# run's bytes are read again from the message (in pieces) when its part is decoded. Such a run
# cannot hold a boundary ("--"), a header (":") or a header continuation (leading blank), so the
# parser sees the same structure, the same defects and, marker for run, the same payloads.

# Possessive: a greedy group would keep a backtracking record per line (120 MB for 50 MB).
_RUN = re.compile(rb"(?m)^(?:[A-Za-z0-9+/=]+\r?\n)++")
_RUN_MIN = 8192  # shorter runs stay in place: the parser handles them quickly enough
_MARKER = b"\x00baosong-blob-"  # no colon, no blank, no dash: no header, no boundary
_MARKER_TEXT = re.compile("\x00baosong-blob-([0-9]+)\x00")
_PIECE = 1 << 22  # bytes read or decoded at a time
_BASE64_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="


class _Runs:
    """A message's bytes as the parser sees them (`skeleton`) and the runs taken out of them."""

    def __init__(self, read: Callable[[int, int], bytes]) -> None:
        self._read = read  # (offset, length) -> bytes of the message
        self.spans: list[tuple[int, int]] = []  # (offset, length) of each run, without its last EOL
        self._out: list[bytes] = []
        self._start = -1  # the run being collected: where it starts, how long it is so far
        self._length = 0
        self._short: list[bytes] | None = []  # its bytes while it may still stay in place
        self._tail = b""

    def block(self, offset: int, data: bytes) -> bool:
        """Take in `data`, whole lines found at `offset`; False if it holds a marker already."""
        if _MARKER in data:
            return False
        position = 0
        for match in _RUN.finditer(data):
            if match.start() > position:
                self._finish()
                self._out.append(data[position : match.start()])
            self._run(data, match.start(), match.end(), offset)
            position = match.end()
        if position < len(data):
            self._finish()
            self._out.append(data[position:])
        return True

    def _run(self, data: bytes, begin: int, end: int, offset: int) -> None:
        """Lines data[begin:end] are a run (or the rest of the one before)."""
        if self._start < 0 or self._start + self._length != offset + begin:
            self._finish()
            self._start, self._length, self._short = offset + begin, 0, []
        self._length += end - begin
        self._tail = data[end - 2 : end] if end - begin > 1 else self._tail[-1:] + data[begin:end]
        if self._short is not None:
            if self._length < _RUN_MIN:
                self._short.append(data[begin:end])
            else:
                self._short = None

    def _finish(self) -> None:
        if self._start < 0:
            return
        if self._short is not None:
            self._out.append(b"".join(self._short))
        else:
            eol = b"\r\n" if self._tail == b"\r\n" else b"\n"
            self.spans.append((self._start, self._length - len(eol)))
            self._out.append(_MARKER + str(len(self.spans) - 1).encode() + b"\x00" + eol)
        self._start, self._length, self._short, self._tail = -1, 0, [], b""

    def skeleton(self) -> bytes:
        self._finish()
        out, self._out = b"".join(self._out), []
        return out

    def pieces(self, index: int) -> Iterator[bytes]:
        start, length = self.spans[index]
        for at in range(start, start + length, _PIECE):
            yield self._read(at, min(_PIECE, start + length - at))

    def restore(self, payload: str) -> str:
        """A payload with its runs put back."""
        parts = _MARKER_TEXT.split(payload)
        for i in range(1, len(parts), 2):
            parts[i] = b"".join(self.pieces(int(parts[i]))).decode("ascii")
        return "".join(parts)

    def segments(self, payload: str) -> Iterator[bytes]:
        """A payload's bytes in pieces, the runs read from the message."""
        for i, part in enumerate(_MARKER_TEXT.split(payload)):
            if i % 2:
                yield from self.pieces(int(part))
            elif part:
                yield part.encode("ascii", "surrogateescape")


def _from_bytes(raw: bytes) -> tuple[bytes, _Runs]:
    view = memoryview(raw)
    runs = _Runs(lambda at, length: bytes(view[at : at + length]))
    if not runs.block(0, raw):
        return raw, _Runs(runs._read)
    return runs.skeleton(), runs


def _from_file(file: BinaryIO) -> tuple[bytes, _Runs]:
    def read(at: int, length: int) -> bytes:
        file.seek(at)
        return file.read(length)

    runs = _Runs(read)
    file.seek(0)
    offset, carry = 0, b""
    while piece := file.read(_PIECE):
        data = carry + piece
        cut = data.rfind(b"\n") + 1
        data, carry = data[:cut], data[cut:]
        if not runs.block(offset, data):
            file.seek(0)
            return file.read(), _Runs(read)
        offset += len(data)
    if carry and not runs.block(offset, carry):
        file.seek(0)
        return file.read(), _Runs(read)
    return runs.skeleton(), runs


def _clean_base64(pieces: Iterable[bytes]) -> bytes | None:
    """What compat32 decodes from base64 without a defect, decoded a piece at a time; None when
    the data is anything but clean base64 (the standard library then decides, defects and all).

    Clean: only base64 characters once the line ends are gone, '=' only at the very end, a
    multiple of four in all. Whole quanta decode on their own, so piece by piece gives what
    decoding all at once gives.
    """
    out = io.BytesIO()
    carry = b""
    ended = False
    for piece in pieces:
        data = piece.translate(None, b"\r\n")
        if not data:
            continue
        if ended or data.translate(None, _BASE64_CHARS):
            return None
        data = carry + data
        ended = b"=" in data
        if ended and len(data) % 4:
            return None  # compat32 pads it and notes a defect
        cut = len(data) if ended else len(data) - len(data) % 4
        try:
            out.write(base64.b64decode(data[:cut], validate=True))
        except binascii.Error:
            return None
        carry = data[cut:]
    return None if carry else out.getvalue()


def _payload(part: _EmailMessage, runs: _Runs | None = None) -> bytes:
    raw: object = part._payload  # type: ignore[attr-defined]  # the parser's own text of the body
    if runs is not None and runs.spans and isinstance(raw, str) and "\x00baosong-blob-" in raw:
        if str(part.get("content-transfer-encoding", "")).lower() == "base64":
            clean = _clean_base64(runs.segments(raw))
            if clean is not None:
                return clean
        part.set_payload(runs.restore(raw))  # anything else: as if the runs had never left
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def parse_message(raw: bytes) -> Message:
    """Decode a whole message.

    Raises MalformedMessage when the bytes are not a mail at all; a mail with odd parts parses,
    with notes in `defects`.
    """
    try:
        return _parse_message(*_from_bytes(raw))
    except MalformedMessage:
        raise
    except Exception as exc:  # any input must end in a Message or MalformedMessage
        raise _unexpected(exc) from exc


def parse_message_file(file: BinaryIO) -> Message:
    """`parse_message` for a message in a seekable binary file, such as the spool's copy.

    The file is read in pieces: a large attachment is in memory once, decoded, and the whole
    message never is. OSError from reading the file is raised as it is.
    """
    try:
        return _parse_message(*_from_file(file))
    except (MalformedMessage, OSError):
        raise
    except Exception as exc:  # any input must end in a Message or MalformedMessage
        raise _unexpected(exc) from exc


def _parse_message(raw: bytes, runs: _Runs) -> Message:
    root = _read_headers(raw, headers_only=False)
    notes: list[str] = []
    envelope = _envelope(root, notes)
    plain: list[str] = []
    html: list[str] = []
    attachments: list[Attachment] = []
    for part in root.walk():
        if part.is_multipart():
            notes.extend(_defect_note(d) for d in part.defects)
            continue
        headers = _raw_headers(part)
        content_type, type_params = _split_header(_first(headers, "content-type") or b"")
        if content_type.count("/") != 1:
            # RFC 2045: no or an invalid type means the default (text/plain, or message/rfc822
            # inside a digest).
            content_type = part.get_default_type()
        disposition, disposition_params = _split_header(
            _first(headers, "content-disposition") or b""
        )
        filename = _file_name(disposition_params, type_params, notes)
        data = _payload(part, runs)
        part.set_payload("")  # the decoded bytes are all that is needed from now on
        notes.extend(_defect_note(d) for d in part.defects)
        if _is_attachment(content_type, disposition, filename):
            if not filename and content_type == "message/rfc822":
                filename = _eml_name(_attached_subject(data))
            attachments.append(Attachment(filename, content_type, data))
            continue
        text, codec = _decode_text(data, _param(type_params, "charset", None), _BODY_GUESSES)
        if not codec:
            notes.append(f"undecodable bytes in the {content_type} body replaced")
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        (plain if content_type == "text/plain" else html).append(text)
    body = "\n".join(plain)
    html_text = "\n".join(html) if html else None
    if not body.strip() and html_text is not None:
        body = _html_to_text(html_text)
    return Message(
        envelope=envelope,
        text=body,
        html=html_text,
        attachments=tuple(attachments),
        defects=tuple(dict.fromkeys(notes)),
    )


def _attached_subject(data: bytes) -> str:
    try:
        return _envelope(_read_headers(data, headers_only=True), []).subject
    except MalformedMessage:
        return ""


# --- HTML to text ------------------------------------------------------------------------------

# fmt: off
_BLOCK_TAGS = frozenset({
    "p", "div", "br", "li", "ul", "ol", "table", "tr", "h1", "h2", "h3", "h4", "h5", "h6",
    "blockquote", "pre", "hr", "dd", "dt", "dl", "section", "article", "header", "footer",
    "center", "form",
})
# fmt: on
_HIDDEN_TAGS = frozenset({"head", "script", "style", "title"})
_SPACES = re.compile(r"[ \t\r\n\f\v\xa0]+")


class _TextRenderer(HTMLParser):
    """Collects readable text: blocks on their own lines, table rows as tab-separated cells."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._hidden = 0
        self._pre = 0
        self._in_cell = False
        self._cells = 0

    def _newline(self) -> None:
        self.out.append("\n")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self._hidden = 0  # a missing </head> must not hide the whole mail
        elif tag in _HIDDEN_TAGS:
            self._hidden += 1
        elif tag == "tr":
            self._newline()
            self._in_cell, self._cells = False, 0
        elif tag in ("td", "th"):
            if self._cells:
                self.out.append("\t")
            self._in_cell, self._cells = True, self._cells + 1
        elif tag in _BLOCK_TAGS:
            # Word puts a <p> in every cell: inside a cell a block is only a space.
            self.out.append(" " if self._in_cell else "\n")
            if tag == "pre":
                self._pre += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden = max(0, self._hidden - 1)
        elif tag in ("td", "th"):
            self._in_cell = False
        elif tag in ("tr", "table"):
            self._newline()
            self._in_cell, self._cells = False, 0
        elif tag in _BLOCK_TAGS:
            self.out.append(" " if self._in_cell else "\n")
            if tag == "pre":
                self._pre = max(0, self._pre - 1)

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.out.append(data if self._pre else _SPACES.sub(" ", data))


def _html_to_text(html: str) -> str:
    """A readable plain-text rendering of an HTML body."""
    renderer = _TextRenderer()
    try:
        renderer.feed(html)
        renderer.close()
        text = "".join(renderer.out)
    except AssertionError:  # html.parser's answer to some malformed <! declarations
        text = re.sub(r"<[^>]*>", " ", html)
    lines = []
    for line in text.split("\n"):
        cells = [cell.strip(" ") for cell in line.split("\t")]
        lines.append("\t".join(cells).rstrip())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


# --- IMAP BODYSTRUCTURE ------------------------------------------------------------------------


def _atom(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, int):
        return str(value).encode("ascii")
    return b""


def _structure_params(value: object) -> list[tuple[str, bytes]]:
    """IMAP's flat ("key" "value" ...) list as (lowercased key, value) pairs."""
    if not isinstance(value, (tuple, list)):
        return []
    items = list(value)
    return [
        (_atom(key).decode("ascii", "replace").lower(), _atom(item))
        for key, item in zip(items[::2], items[1::2], strict=False)
    ]


def _structure_names(node: object, names: list[str], depth: int) -> None:
    if not isinstance(node, (tuple, list)) or not node or depth > 64:
        return
    if isinstance(node[0], (tuple, list)):
        # Multipart. imapclient's BodyData nests the parts into a list at [0]; a raw parsed
        # response has them inline before the subtype.
        if isinstance(node[0], list):
            parts: Sequence[object] = node[0]
        else:
            parts = [item for item in node if isinstance(item, (tuple, list))]
        for part in parts:
            _structure_names(part, names, depth + 1)
        return
    content_type = (
        (_atom(node[0]) + b"/" + _atom(node[1] if len(node) > 1 else b""))
        .decode("ascii", "replace")
        .lower()
    )
    type_params = _structure_params(node[2] if len(node) > 2 else None)
    # Single-part fields: type subtype params id description encoding size, then lines for
    # text/*, envelope body lines for message/rfc822, then md5 and the disposition.
    if content_type.startswith("text/"):
        at = 9
    elif content_type == "message/rfc822":
        at = 11
    else:
        at = 8
    disposition_field = node[at] if len(node) > at else None
    disposition, disposition_params = "", []
    if isinstance(disposition_field, (tuple, list)) and disposition_field:
        disposition = _atom(disposition_field[0]).decode("ascii", "replace").lower()
        if len(disposition_field) > 1:
            disposition_params = _structure_params(disposition_field[1])
    filename = _file_name(disposition_params, type_params)
    if not _is_attachment(content_type, disposition, filename):
        return
    if not filename and content_type == "message/rfc822" and len(node) > 7:
        envelope = node[7]
        subject = envelope[1] if isinstance(envelope, (tuple, list)) and len(envelope) > 1 else b""
        filename = _eml_name(_decode_words(_unfold(_atom(subject))))
    if filename:
        names.append(filename)


def attachment_names(bodystructure: object) -> tuple[str, ...]:
    """The decoded attachment names in an IMAP BODYSTRUCTURE, as imapclient returns it.

    The same parts count as attachments, under the same names, as in `parse_message`; unnamed
    ones are left out. Parts of an unexpected shape are skipped, never raised on.
    """
    names: list[str] = []
    _structure_names(bodystructure, names, 0)
    return tuple(names)
