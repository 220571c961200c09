"""Builders of the mails county offices really send, as raw bytes, for tests and the sample mailbox.

Each builder writes the bytes by hand, the way one mail client does (CRLF line ends, its
boundaries, its way of encoding names), because that is what the parser must survive; the stdlib
generator would only ever produce its own, tidy encoding. Output is deterministic: the Message-ID
comes from the parameters and the boundaries are fixed.
"""

from __future__ import annotations

import base64
import hashlib
import quopri
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from typing import Literal, get_args

Style = Literal["foxmail_gbk", "mutt_rfc2231", "raw_gbk", "webmail_utf8", "outlook_utf8"]
STYLES: tuple[Style, ...] = get_args(Style)

File = tuple[str, bytes, str]  # (file name, bytes, content type)

BUREAU = "ycjjyxk@126.com"
CRLF = b"\r\n"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# RFC 2231 attribute-chars: what may stay unescaped in an extended parameter value.
_ATTRIBUTE_CHARS = frozenset(c for c in range(0x21, 0x7F) if chr(c) not in "*'%()<>@,;:\\\"/[]?=")


# --- encodings, one per thing a client does ----------------------------------------------------


def _base64_body(data: bytes) -> bytes:
    text = base64.b64encode(data)
    return CRLF.join(text[i : i + 76] for i in range(0, len(text), 76))


def _qp_body(data: bytes) -> bytes:
    return quopri.encodestring(data).replace(b"\r\n", b"\n").replace(b"\n", CRLF)


def _b_words(text: str, label: str, codec: str, limit: int = 42) -> list[bytes]:
    """RFC 2047 B-words, each holding at most `limit` bytes of whole characters."""
    words: list[bytes] = []
    chunk = b""
    for ch in text:
        encoded = ch.encode(codec)
        if chunk and len(chunk) + len(encoded) > limit:
            words.append(_b_word(chunk, label))
            chunk = b""
        chunk += encoded
    if chunk or not words:
        words.append(_b_word(chunk, label))
    return words


def _b_word(data: bytes, label: str) -> bytes:
    return b"=?" + label.encode() + b"?B?" + base64.b64encode(data) + b"?="


def _percent(data: bytes) -> bytes:
    return b"".join(bytes([c]) if c in _ATTRIBUTE_CHARS else b"%%%02X" % c for c in data)


def _split_inside_characters(text: str, codec: str, size: int) -> list[bytes]:
    """The encoded text in pieces of about `size` bytes, each cut inside a two-byte character.

    mutt cuts RFC 2231 continuations by length, so a character's bytes land on two lines;
    cutting only there makes every piece boundary that case.
    """
    pieces = [b""]
    for ch in text:
        encoded = ch.encode(codec)
        if len(pieces[-1]) >= size and len(encoded) > 1:
            pieces[-1] += encoded[:1]
            pieces.append(encoded[1:])
        else:
            pieces[-1] += encoded
    return pieces


def _header(name: str, value: bytes | str) -> bytes:
    return name.encode() + b": " + (value.encode() if isinstance(value, str) else value)


def _quoted_words(words: Sequence[bytes]) -> bytes:
    """Words inside one quoted parameter value, folded between words as Foxmail does."""
    return b'"' + b"\r\n\t".join(words) + b'"'


def _part(headers: Sequence[bytes], body: bytes) -> bytes:
    return CRLF.join(headers) + CRLF + CRLF + body


def _multipart(boundary: str, parts: Sequence[bytes], preamble: bytes = b"") -> bytes:
    """A multipart body. A part's last CRLF belongs to the boundary, so parts end without one."""
    mark = b"--" + boundary.encode()
    out = preamble + CRLF if preamble else b""
    for part in parts:
        out += mark + CRLF + part + CRLF
    return out + mark + b"--" + CRLF


def _message_id(*fields: object, domain: str) -> str:
    digest = hashlib.sha1("\x00".join(str(f) for f in fields).encode()).hexdigest()
    return f"<{digest[:20]}@{domain}>"


def _domain(address: str) -> str:
    return address.rpartition("@")[2] or "localhost"


def _received(
    sender: str, date: datetime, received_at: datetime | None, mx: str = "mx42.126.com"
) -> list[bytes]:
    """The two Received: headers the bureau's mailbox shows, topmost (126's MX) first."""
    arrival = received_at or date + timedelta(seconds=7)
    submitted = date + timedelta(seconds=1)
    return [
        _header(
            "Received",
            f"from smtp.{_domain(sender)} (unknown [61.135.{len(sender)}.21])\r\n"
            f"\tby {mx} (Coremail) with SMTP id _____wB3cl2T;\r\n"
            f"\t{format_datetime(arrival)} (CST)",
        ),
        _header(
            "Received",
            "from PC-20230601 (unknown [10.12.3.45])\r\n"
            f"\tby smtp.{_domain(sender)} with ESMTPA;\r\n"
            f"\t{format_datetime(submitted)}",
        ),
    ]


def _html_of(text: str) -> str:
    lines = "".join(f"<div>{escape(line) or '<br>'}</div>" for line in text.split("\n"))
    return f'<html><head><meta charset="utf-8"></head><body>{lines}</body></html>'


# --- per-client header and part writers --------------------------------------------------------

# (label written, codec really used): Chinese clients label GBK bytes gb2312.
_CHARSETS: dict[Style, tuple[str, str]] = {
    "foxmail_gbk": ("gb2312", "gb18030"),
    "mutt_rfc2231": ("gb2312", "gb18030"),
    "raw_gbk": ("gb2312", "gb18030"),
    "webmail_utf8": ("UTF-8", "utf-8"),
    "outlook_utf8": ("utf-8", "utf-8"),
}

_MAILERS: dict[Style, bytes] = {
    "foxmail_gbk": b"X-Mailer: Foxmail 7.2.25.228[cn]",
    "mutt_rfc2231": b"User-Agent: Mutt/2.2.9 (2022-11-12)",
    "raw_gbk": b"X-Mailer: Foxmail 6, 15, 201, 23 [cn]",
    "webmail_utf8": b"X-Mailer: Coremail Webmail Server Version XT5.0.14 build 20230109(dcb5de15)",
    "outlook_utf8": b"X-Mailer: Microsoft Outlook 16.0",
}

_BOUNDARIES: dict[Style, tuple[str, str]] = {  # (mixed, alternative)
    "foxmail_gbk": ("----=_001_NextPart245177415830_=----", "----=_002_NextPart818521136461_=----"),
    "mutt_rfc2231": ("gKMricLos+KVdGMg", ""),
    "raw_gbk": ("=====001_Dragon237244850520_=====", ""),
    "webmail_utf8": (
        "----=_Part_231944_1309672830.1686105128913",
        "----=_Part_231946_1870316622.1686105128913",
    ),
    "outlook_utf8": (
        "_004_TYZPR03MB5837C0E2A8F0B9D1E5C2A3B4TYZPR03MB5837apcp_",
        "_000_TYZPR03MB5837C0E2A8F0B9D1E5C2A3B4TYZPR03MB5837apcp_",
    ),
}


def _encoded(style: Style, text: str) -> bytes:
    """A header text (subject, display name) as `style`'s client writes it."""
    label, codec = _CHARSETS[style]
    if style == "raw_gbk":
        return text.encode(codec)
    if text.isascii():
        return text.encode()
    return b"\r\n\t".join(_b_words(text, label, codec))


def _from(style: Style, name: str, address: str) -> bytes:
    if not name:
        return _header("From", address)
    if style == "raw_gbk":
        return _header("From", b'"' + name.encode("gb18030") + b'" <' + address.encode() + b">")
    if style == "foxmail_gbk":  # Foxmail quotes the encoded word, which RFC 2047 forbids
        return _header("From", b'"' + _encoded(style, name) + b'" <' + address.encode() + b">")
    return _header("From", _encoded(style, name) + b" <" + address.encode() + b">")


def _attachment_headers(style: Style, name: str, content_type: str, data: bytes) -> list[bytes]:
    label, codec = _CHARSETS[style]
    if style == "foxmail_gbk":
        words = _quoted_words(_b_words(name, label, codec))
        return [
            b"Content-Type: application/octet-stream;\r\n\tname=" + words,
            b"Content-Transfer-Encoding: base64",
            b"Content-Disposition: attachment;\r\n\tfilename=" + words,
        ]
    if style == "mutt_rfc2231":
        pieces = _split_inside_characters(name, codec, 24)
        lines = [
            f"filename*{i}*=".encode() + (label.encode() + b"''" if i == 0 else b"") + _percent(p)
            for i, p in enumerate(pieces)
        ]
        return [
            _header("Content-Type", content_type),
            b"Content-Disposition: attachment;\r\n\t" + b";\r\n\t".join(lines),
            b"Content-Transfer-Encoding: base64",
        ]
    if style == "raw_gbk":
        raw = b'"' + name.encode(codec) + b'"'
        return [
            b"Content-Type: application/octet-stream; name=" + raw,
            b"Content-Transfer-Encoding: base64",
            b"Content-Disposition: attachment; filename=" + raw,
        ]
    if style == "webmail_utf8":
        words = _quoted_words(_b_words(name, label, codec))
        return [
            _header("Content-Type", content_type) + b"; \r\n\tname=" + words,
            b"Content-Transfer-Encoding: base64",
            b"Content-Disposition: attachment; \r\n\tfilename=" + words,
        ]
    # outlook_utf8: RFC 2047 in name=, one long RFC 2231 filename*= in the disposition.
    stamp = "Wed, 07 Jun 2023 02:30:00 GMT"
    return [
        _header("Content-Type", content_type)
        + b";\r\n\tname="
        + _quoted_words(_b_words(name, label, codec)),
        b"Content-Description: " + b"\r\n\t".join(_b_words(name, label, codec)),
        b"Content-Disposition: attachment;\r\n\tfilename*=utf-8''"
        + _percent(name.encode(codec))
        + f';\r\n\tsize={len(data)}; creation-date="{stamp}";\r\n'
        f'\tmodification-date="{stamp}"'.encode(),
        b"Content-Transfer-Encoding: base64",
    ]


def _text_parts(style: Style, body: str) -> list[bytes]:
    """The body as `style`'s client sends it: plain only, or plain and HTML alternatives."""
    label, codec = _CHARSETS[style]
    text = body.replace("\n", "\r\n").encode(codec)
    if style in ("mutt_rfc2231", "raw_gbk"):
        return [
            _part(
                [
                    f"Content-Type: text/plain; charset={label}".encode(),
                    b"Content-Transfer-Encoding: 8bit",
                ],
                text,
            )
        ]
    html = _html_of(body).replace('charset="utf-8"', f'charset="{label}"').encode(codec)
    html_part = (
        _part(
            [
                f'Content-Type: text/html;\r\n\tcharset="{label}"'.encode(),
                b"Content-Transfer-Encoding: quoted-printable",
            ],
            _qp_body(html),
        )
        if style == "foxmail_gbk"
        else _part(
            [
                f"Content-Type: text/html; charset={label}".encode(),
                b"Content-Transfer-Encoding: base64",
            ],
            _base64_body(html),
        )
    )
    plain_part = _part(
        [
            f'Content-Type: text/plain;\r\n\tcharset="{label}"'.encode(),
            b"Content-Transfer-Encoding: base64",
        ],
        _base64_body(text),
    )
    alternative = _BOUNDARIES[style][1]
    return [
        _part(
            [f'Content-Type: multipart/alternative;\r\n\tboundary="{alternative}"'.encode()],
            _multipart(alternative, [plain_part, html_part]),
        )
    ]


# --- the builders ------------------------------------------------------------------------------


def county_mail(
    *,
    sender: str,
    sender_name: str,
    subject: str,
    body: str,
    date: datetime,
    files: Sequence[File] = (),
    style: Style = "foxmail_gbk",
    to: str = BUREAU,
    received_at: datetime | None = None,
    in_reply_to: str | None = None,
) -> bytes:
    """A report mail from a county office as its client (`style`) writes it.

    `received_at` is when 126's MX took it (the topmost Received:); by default 7 s after `date`.
    """
    dated = date.astimezone(UTC) if style == "outlook_utf8" else date
    headers = [
        *_received(sender, date, received_at),
        _header("Date", format_datetime(dated)),
        _from(style, sender_name, sender),
        _header("To", to),
        _header("Subject", _encoded(style, subject)),
        _header("Message-ID", _message_id(sender, subject, date, style, domain=_domain(sender))),
    ]
    if in_reply_to:
        headers += [_header("In-Reply-To", in_reply_to), _header("References", in_reply_to)]
    headers += [_MAILERS[style], b"MIME-Version: 1.0"]
    parts = _text_parts(style, body)
    parts += [
        _part(_attachment_headers(style, name, ctype, data), _base64_body(data))
        for name, data, ctype in files
    ]
    mixed = _BOUNDARIES[style][0]
    headers.append(f'Content-Type: multipart/mixed;\r\n\tboundary="{mixed}"'.encode())
    preamble = b"" if style == "mutt_rfc2231" else b"This is a multi-part message in MIME format."
    return _part(headers, _multipart(mixed, parts, preamble))


def auto_reply(
    *,
    sender: str,
    sender_name: str,
    date: datetime,
    original_subject: str = "",
    in_reply_to: str | None = None,
    to: str = BUREAU,
    text: str = "您好，您的来信已收到，我现在不在办公室，回来后会尽快处理。",
) -> bytes:
    """An out-of-office answer as 126/QQ mail send it (Auto-Submitted: auto-replied)."""
    subject = "自动回复：" + original_subject if original_subject else "自动回复"
    headers = [
        *_received(sender, date, None),
        _header("Date", format_datetime(date)),
        _from("webmail_utf8", sender_name, sender),
        _header("To", to),
        _header("Subject", _encoded("webmail_utf8", subject)),
        _header("Message-ID", _message_id("auto", sender, subject, date, domain=_domain(sender))),
    ]
    if in_reply_to:
        headers += [_header("In-Reply-To", in_reply_to), _header("References", in_reply_to)]
    headers += [
        b"Auto-Submitted: auto-replied",
        b"X-Autoreply: yes",
        b"MIME-Version: 1.0",
        b"Content-Type: text/plain; charset=UTF-8",
        b"Content-Transfer-Encoding: base64",
    ]
    return _part(headers, _base64_body(text.encode())) + CRLF


def dsn_bounce(
    *,
    original: bytes,
    failed_recipient: str,
    date: datetime,
    reporting_mta: str = "mail.yuncheng.gov.cn",
) -> bytes:
    """A sendmail-style bounce: multipart/report from MAILER-DAEMON with an unlisted To:.

    It carries the returned message's header block as text/rfc822-headers.
    """
    original_headers = original.split(CRLF + CRLF, 1)[0]
    stamp = format_datetime(date)
    boundary = f"{reporting_mta}.1686105128.bounce"
    notification = _part(
        [b"Content-Type: text/plain; charset=us-ascii", b"Content-Description: Notification"],
        (
            "The original message was received at " + stamp + "\r\n"
            "from localhost [127.0.0.1]\r\n\r\n"
            "   ----- The following addresses had permanent fatal errors -----\r\n"
            f"<{failed_recipient}>\r\n"
            "    (reason: 550 5.1.1 User unknown)"
        ).encode(),
    )
    status = _part(
        [b"Content-Type: message/delivery-status", b"Content-Description: Delivery report"],
        (
            f"Reporting-MTA: dns; {reporting_mta}\r\n"
            f"Arrival-Date: {stamp}\r\n\r\n"
            f"Final-Recipient: RFC822; {failed_recipient}\r\n"
            "Action: failed\r\n"
            "Status: 5.1.1\r\n"
            "Diagnostic-Code: SMTP; 550 5.1.1 User unknown"
        ).encode(),
    )
    returned = _part(
        [b"Content-Type: text/rfc822-headers", b"Content-Description: Undelivered Message Headers"],
        original_headers,
    )
    headers = [
        *_received(f"MAILER-DAEMON@{reporting_mta}", date, None),
        _header("Date", stamp),
        _header("From", f"Mail Delivery Subsystem <MAILER-DAEMON@{reporting_mta}>"),
        _header("To", "unlisted-recipients:; (no To-header on input)"),
        _header("Subject", "Returned mail: see transcript for details"),
        _header("Message-Id", _message_id("dsn", failed_recipient, date, domain=reporting_mta)),
        b"Auto-Submitted: auto-generated (failure)",
        b"MIME-Version: 1.0",
        f"Content-Type: multipart/report; report-type=delivery-status;\r\n"
        f'\tboundary="{boundary}"'.encode(),
    ]
    return _part(
        headers,
        _multipart(
            boundary,
            [notification, status, returned],
            b"This is a MIME-encapsulated message",
        ),
    )


def forwarded(
    *,
    sender: str,
    sender_name: str,
    subject: str,
    note: str,
    original: bytes,
    date: datetime,
    attachment_name: str | None = None,
    to: str = BUREAU,
) -> bytes:
    """A mail forwarding `original` as an attachment (message/rfc822), as webmail does.

    `original` must end with CRLF; its bytes appear in the part exactly as given.
    """
    boundary = "----=_Part_forward_0001.1686105128913"
    name_params = b""
    if attachment_name is not None:
        words = _quoted_words(_b_words(attachment_name, "UTF-8", "utf-8"))
        name_params = b";\r\n\tname=" + words
    disposition = b"Content-Disposition: attachment"
    if attachment_name is not None:
        disposition += b";\r\n\tfilename=" + _quoted_words(
            _b_words(attachment_name, "UTF-8", "utf-8")
        )
    parts = [
        _part(
            [b"Content-Type: text/plain; charset=UTF-8", b"Content-Transfer-Encoding: base64"],
            _base64_body(note.encode()),
        ),
        _part([b"Content-Type: message/rfc822" + name_params, disposition], original),
    ]
    headers = [
        *_received(sender, date, None),
        _header("Date", format_datetime(date)),
        _from("webmail_utf8", sender_name, sender),
        _header("To", to),
        _header("Subject", _encoded("webmail_utf8", subject)),
        _header("Message-ID", _message_id("fwd", sender, subject, date, domain=_domain(sender))),
        _MAILERS["webmail_utf8"],
        b"MIME-Version: 1.0",
        f'Content-Type: multipart/mixed;\r\n\tboundary="{boundary}"'.encode(),
    ]
    # The CRLF that ends `original` is followed by the one that belongs to the boundary.
    return _part(headers, _multipart(boundary, parts))


def html_only(
    *,
    sender: str,
    sender_name: str,
    subject: str,
    html: str,
    date: datetime,
    to: str = BUREAU,
) -> bytes:
    """A mail whose only body is HTML in GBK labelled gb2312, as some phone clients send."""
    headers = [
        *_received(sender, date, None),
        _header("Date", format_datetime(date)),
        _from("foxmail_gbk", sender_name, sender),
        _header("To", to),
        _header("Subject", _encoded("foxmail_gbk", subject)),
        _header("Message-ID", _message_id("html", sender, subject, date, domain=_domain(sender))),
        b"MIME-Version: 1.0",
        b'Content-Type: text/html; charset="gb2312"',
        b"Content-Transfer-Encoding: base64",
    ]
    return _part(headers, _base64_body(html.encode("gb18030"))) + CRLF


def table_html(rows: Sequence[Sequence[str]], before: str = "", after: str = "") -> str:
    """An HTML body with a table as Word/WPS paste it: every cell's text inside a <p>."""
    body_rows = "".join(
        "<tr>" + "".join(f"<td><p>{escape(cell)}</p></td>" for cell in row) + "</tr>\r\n"
        for row in rows
    )
    return (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=gb2312">'
        "<style>td {border: 1px solid}</style></head>\r\n<body>"
        f"<p>{escape(before)}</p>\r\n<table border=1 cellspacing=0>\r\n{body_rows}</table>\r\n"
        f"<p>{escape(after)}</p></body></html>"
    )
