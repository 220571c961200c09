"""parsers/message.py on the bytes county offices' mail clients really send (tests/mailfactory.py).

The BODYSTRUCTURE cases are responses captured from Dovecot 2.3.19 (Debian bookworm) serving the
factory mails of `_captured_mail`, parsed by imapclient's own response parser.
"""

from __future__ import annotations

import base64
import contextlib
import re
import sysconfig
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from imapclient.response_parser import parse_fetch_response

from parsers import (
    Attachment,
    MalformedMessage,
    Message,
    ParseError,
    attachment_names,
    parse_envelope,
    parse_message,
)
from store.model import BaosongError
from tests import mailfactory as mf

BEIJING = timezone(timedelta(hours=8))
SENT = datetime(2023, 6, 7, 10, 32, 8, tzinfo=BEIJING)
ARRIVED = datetime(2023, 6, 7, 10, 32, 15, tzinfo=BEIJING)
FORM = "附件2：“安全生产月”活动进展情况统计表（盐湖区）.docx"
PHOTO = "现场照片1.jpg"
SUBJECT = "盐湖区第1周“安全生产月”活动进展情况报送"
BODY = "郝科长：\n您好！附件是本周活动进展情况，请查收。\n盐湖区工科局 朱镕基"
FILES: list[mf.File] = [
    (FORM, b"PK\x03\x04" + bytes(range(256)) * 40, mf.DOCX),
    (PHOTO, b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(reversed(range(256))) * 30, "image/jpeg"),
    ("../../etc/passwd", b"root:x:0:0\n", "text/plain"),
]


def county(style: mf.Style, **overrides: object) -> bytes:
    params: dict[str, object] = {
        "sender": "YanHu-GKJ@126.com",
        "sender_name": "盐湖区工科局 朱镕基",
        "subject": SUBJECT,
        "body": BODY,
        "date": SENT,
        "files": FILES,
        "style": style,
        "received_at": ARRIVED,
    }
    params.update(overrides)
    return mf.county_mail(**params)  # type: ignore[arg-type]


def header_block(raw: bytes) -> bytes:
    """What IMAP BODY.PEEK[HEADER] returns: the header lines and the blank line."""
    return raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"


# --- every client style ------------------------------------------------------------------------


@pytest.mark.parametrize("style", mf.STYLES)
def test_style_subject_names_and_bytes(style: mf.Style) -> None:
    message = parse_message(county(style))

    assert message.envelope.subject == SUBJECT
    assert [(a.filename, a.data) for a in message.attachments] == [(n, d) for n, d, _ in FILES]
    assert message.text.rstrip("\n") == BODY  # the body is GBK or UTF-8 and has 镕
    assert message.envelope.sender == "yanhu-gkj@126.com"
    assert message.envelope.sender_name == "盐湖区工科局 朱镕基"
    assert message.envelope.recipients == ("ycjjyxk@126.com",)


@pytest.mark.parametrize("style", mf.STYLES)
def test_style_dates(style: mf.Style) -> None:
    envelope = parse_message(county(style)).envelope

    assert envelope.date == SENT  # Outlook writes it in UTC: the same moment
    assert envelope.date is not None and envelope.date.utcoffset() is not None
    # The topmost Received: (126's MX), not the sender's own server one below it.
    assert envelope.received_at == ARRIVED


@pytest.mark.parametrize("style", mf.STYLES)
def test_parse_envelope_on_the_header_block_equals_the_full_parse(style: mf.Style) -> None:
    raw = county(style, in_reply_to="<reminder-week-1@yuncheng.example>")

    envelope = parse_envelope(header_block(raw))

    assert envelope == parse_message(raw).envelope
    assert envelope.in_reply_to == "<reminder-week-1@yuncheng.example>"
    assert envelope.references == ("<reminder-week-1@yuncheng.example>",)
    assert envelope.message_id is not None and re.fullmatch(r"<[^<>]+>", envelope.message_id)


def _other_kinds() -> list[bytes]:
    original = county("foxmail_gbk")
    return [
        mf.dsn_bounce(original=original, failed_recipient="nobody@126.com", date=SENT),
        mf.auto_reply(sender="yh@126.com", sender_name="盐湖区", date=SENT),
        mf.forwarded(
            sender="x@qq.com",
            sender_name="同事",
            subject="转发",
            note="",
            original=original,
            date=SENT,
        ),
        mf.html_only(
            sender="yh@126.com", sender_name="", subject="周报", html="<p>3</p>", date=SENT
        ),
    ]


@pytest.mark.parametrize("raw", _other_kinds(), ids=["dsn", "auto-reply", "forwarded", "html"])
def test_parse_envelope_equals_the_full_parse_for_other_kinds(raw: bytes) -> None:
    assert parse_envelope(header_block(raw)) == parse_message(raw).envelope


def test_sender_without_an_address_is_empty() -> None:
    raw = b"From: " + "盐湖区工科局".encode("gbk") + b"\r\nSubject: x\r\n\r\n"

    envelope = parse_envelope(raw)

    assert (envelope.sender, envelope.sender_name) == ("", "")
    assert envelope.header("from") == "盐湖区工科局"


def test_headers_keep_order_lowercase_names_and_decoded_values() -> None:
    envelope = parse_envelope(county("foxmail_gbk"))

    names = [name for name, _ in envelope.headers]
    assert names[:3] == ["received", "received", "date"]
    assert envelope.header("SUBJECT") == SUBJECT
    assert envelope.header("x-mailer") == "Foxmail 7.2.25.228[cn]"
    assert envelope.header("x-no-such-header") is None


def test_factory_is_deterministic() -> None:
    for style in mf.STYLES:
        assert county(style) == county(style)


# --- the encodings one by one ------------------------------------------------------------------


def test_mutt_rfc2231_pieces_split_a_character() -> None:
    raw = county("mutt_rfc2231")
    pieces = re.findall(rb"filename\*\d\*=(?:gb2312'')?([^;\r\n]+)", raw)
    first = re.sub(rb"%([0-9A-F]{2})", lambda m: bytes([int(m[1], 16)]), pieces[0])
    # The proof that the case is real: the first piece alone is not whole GBK text.
    with pytest.raises(UnicodeDecodeError):
        first.decode("gb18030")

    names = [a.filename for a in parse_message(raw).attachments]

    assert names[0] == FORM


def test_raw_gbk_bytes_in_subject_and_filename() -> None:
    raw = county("raw_gbk")
    assert SUBJECT.encode("gbk") in raw and FORM.encode("gbk") in raw

    message = parse_message(raw)

    assert message.envelope.subject == SUBJECT
    assert message.attachments[0].filename == FORM
    assert any("raw 8-bit" in note for note in message.defects)


def test_raw_utf8_subject_is_read_as_utf8() -> None:
    raw = b"From: a@126.com\r\nSubject: " + SUBJECT.encode() + b"\r\n\r\nbody\r\n"

    assert parse_message(raw).envelope.subject == SUBJECT


def test_rfc2047_inside_name_parameter_without_disposition() -> None:
    # QQ Mail and Foxmail pictures: the only name is Content-Type's, as RFC 2047 in quotes.
    raw = (
        b"From: a@qq.com\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain; charset=gb2312\r\n\r\nhi\r\n"
        b'--b\r\nContent-Type: image/jpeg;\r\n\tname="=?gb2312?B?' + _b64(PHOTO, "gbk") + b'?="\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n/9j/4AAQ\r\n--b--\r\n"
    )

    (attachment,) = parse_message(raw).attachments

    assert attachment == Attachment(PHOTO, "image/jpeg", b"\xff\xd8\xff\xe0\x00\x10")


def test_rfc2047_words_splitting_a_character_are_joined() -> None:
    data = SUBJECT.encode("gbk")
    # Cut inside the first two-byte character: neither word is whole GBK on its own.
    subject = b"=?gbk?B?" + _b64b(data[:3]) + b"?=\r\n =?GB2312?B?" + _b64b(data[3:]) + b"?="
    raw = b"From: a@126.com\r\nSubject: " + subject + b"\r\n\r\n"

    assert parse_envelope(raw).subject == SUBJECT


def test_gbk_body_labelled_gb2312_with_a_character_outside_gb2312() -> None:
    raw = county("mutt_rfc2231")  # 8bit GBK body, charset=gb2312
    with pytest.raises(UnicodeEncodeError):
        "镕".encode("gb2312")

    assert "朱镕基" in parse_message(raw).text


def test_gbk_name_labelled_gb2312_is_not_mangled() -> None:
    # mail-parser turned this into "F.doc" (MAILBOX-FACTS.md).
    raw = (
        b"From: a@126.com\r\nSubject: x\r\nContent-Type: application/msword;\r\n"
        b'\tname="=?gb2312?B?' + _b64("朱镕基.doc", "gbk") + b'?="\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\nAAAA\r\n"
    )

    assert parse_message(raw).attachments[0].filename == "朱镕基.doc"


def test_unknown_body_charset_falls_back_to_gb18030() -> None:
    raw = (
        b"From: a@126.com\r\nSubject: x\r\nContent-Type: text/plain; charset=x-unknown\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n" + "盐湖区（3）场".encode("gbk") + b"\r\n"
    )

    assert parse_message(raw).text.strip() == "盐湖区（3）场"


def test_path_traversal_name_is_returned_as_sent() -> None:
    names = [a.filename for a in parse_message(county("webmail_utf8")).attachments]

    assert "../../etc/passwd" in names


def test_date_in_bare_cst_is_china_time() -> None:
    raw = b"From: a@126.com\r\nDate: Wed, 7 Jun 2023 10:32:08 CST\r\n\r\n"

    assert parse_envelope(raw).date == SENT


def test_date_without_zone_is_read_as_beijing_time_and_noted() -> None:
    raw = b"From: a@126.com\r\nDate: Wed, 7 Jun 2023 10:32:08\r\n\r\nx\r\n"

    message = parse_message(raw)

    assert message.envelope.date == SENT
    assert any("no time zone" in note for note in message.defects)


def test_unreadable_date_is_none() -> None:
    raw = b"From: a@126.com\r\nDate: 2023\xc4\xea6\xd4\xc27\xc8\xd5\r\n\r\nx\r\n"

    message = parse_message(raw)

    assert message.envelope.date is None
    assert message.envelope.header("date") == "2023年6月7日"


def test_odd_charsets_do_not_lose_the_mail() -> None:
    raw = (
        b"From: a@126.com\r\nSubject: =?idna?B?" + _b64("盐湖区", "gbk") + b"?=\r\n"
        b"Content-Type: multipart/mixed; boundary*=a\x00b''x\r\n\r\n--x\r\n"
        b"Content-Type: text/plain; charset=idna\r\n\r\n" + "镕".encode("gbk") + b"\r\n--x--\r\n"
    )

    message = parse_message(raw)

    assert message.envelope.subject == "盐湖区"  # guessed as GBK after idna refused it
    assert "no boundary in multipart" in message.defects


# --- other kinds of mail -----------------------------------------------------------------------


def test_html_only_body_gives_readable_text_with_table_rows() -> None:
    html = mf.table_html(
        [["活动项目", "活动进展情况"], ["1. 安全宣传咨询日", "（3）场，参与（120）人次"]],
        before="郝科长：您好！",
        after="盐湖区工科局 朱镕基",
    )
    raw = mf.html_only(
        sender="yh@126.com", sender_name="盐湖区", subject="周报", html=html, date=SENT
    )

    message = parse_message(raw)

    assert message.html is not None and "<table" in message.html
    lines = message.text.split("\n")
    assert "1. 安全宣传咨询日\t（3）场，参与（120）人次" in lines
    assert "活动项目\t活动进展情况" in lines
    assert lines[0] == "郝科长：您好！" and lines[-1] == "盐湖区工科局 朱镕基"
    assert "<" not in message.text and "border" not in message.text


def test_dsn_with_unlisted_recipients_parses() -> None:
    original = county("foxmail_gbk")
    raw = mf.dsn_bounce(original=original, failed_recipient="nobody@126.com", date=SENT)
    assert b"To: unlisted-recipients:; (no To-header on input)" in raw

    message = parse_message(raw)

    assert message.envelope.recipients == ()
    assert message.envelope.sender == "mailer-daemon@mail.yuncheng.gov.cn"
    assert message.envelope.header("to") == "unlisted-recipients:; (no To-header on input)"
    assert "550 5.1.1 User unknown" in message.text
    assert [a.content_type for a in message.attachments] == [
        "message/delivery-status",
        "text/rfc822-headers",
    ]
    assert message.attachments[1].data == header_block(original).rstrip(b"\r\n")


def test_auto_reply_headers() -> None:
    raw = mf.auto_reply(
        sender="yh@126.com",
        sender_name="盐湖区",
        date=SENT,
        original_subject="关于报送第1周进展的提醒",
        in_reply_to="<remind-1@yuncheng.example>",
    )

    envelope = parse_message(raw).envelope

    assert envelope.subject.startswith("自动回复")
    assert envelope.header("auto-submitted") == "auto-replied"
    assert envelope.in_reply_to == "<remind-1@yuncheng.example>"


@pytest.mark.parametrize("name", [None, "盐湖区周报（原件）.eml"])
def test_forwarded_message_is_one_attachment_with_its_bytes(name: str | None) -> None:
    original = county("foxmail_gbk")
    raw = mf.forwarded(
        sender="colleague@qq.com",
        sender_name="同事",
        subject="转发：" + SUBJECT,
        note="请查收转发的周报。",
        original=original,
        date=SENT,
        attachment_name=name,
    )

    message = parse_message(raw)

    (attachment,) = message.attachments
    assert attachment.content_type == "message/rfc822"
    assert attachment.data == original  # as sent, not re-serialised
    assert attachment.filename == (name or SUBJECT + ".eml")
    assert message.text.strip() == "请查收转发的周报。"


# --- what is not a mail ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\r\n\r\n",
        bytes(range(256)) * 8,
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10" + b"\x00" * 64,
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n",
        b"PK\x03\x04\x14\x00\x00\x00\x08\x00",
        "盐湖区第1周进展：3场，120人次".encode("gbk"),
    ],
    ids=["empty", "blank-lines", "bytes", "png", "pdf", "zip", "gbk-text"],
)
def test_not_a_mail_is_malformed(raw: bytes) -> None:
    with pytest.raises(MalformedMessage, match="邮件格式无法识别"):
        parse_message(raw)
    with pytest.raises(MalformedMessage):
        parse_envelope(raw)


def test_malformed_is_in_our_error_tree() -> None:
    assert issubclass(MalformedMessage, ParseError)
    assert issubclass(ParseError, BaosongError)


def test_message_is_frozen() -> None:
    message = parse_message(county("webmail_utf8"))

    with pytest.raises(AttributeError):
        message.text = ""  # type: ignore[misc]
    assert isinstance(message, Message)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_any_bytes_give_a_message_or_malformed(raw: bytes) -> None:
    _message_or_malformed(raw)


_STYLE_MAILS = [county(style) for style in mf.STYLES]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(_STYLE_MAILS),
    st.lists(st.tuples(st.integers(0, 10_000), st.binary(min_size=0, max_size=8)), max_size=6),
    st.integers(0, 10_000),
)
def test_damaged_real_mail_gives_a_message_or_malformed(
    raw: bytes, edits: list[tuple[int, bytes]], cut: int
) -> None:
    data = bytearray(raw)
    for at, chunk in edits:
        at %= len(data) + 1
        data[at : at + len(chunk)] = chunk
    damaged = bytes(data[: len(data) - cut % len(data)])
    _message_or_malformed(damaged)


def _message_or_malformed(raw: bytes) -> None:
    with contextlib.suppress(MalformedMessage):
        assert isinstance(parse_message(raw), Message)
    with contextlib.suppress(MalformedMessage):
        parse_envelope(raw)


def _cpython_email_corpus() -> list[Path]:
    """CPython's own test mails; empty when the stdlib tests are not installed."""
    data = Path(sysconfig.get_path("stdlib")) / "test" / "test_email" / "data"
    return sorted(data.glob("msg_*.txt"))


def test_cpython_email_corpus_gives_messages_or_malformed() -> None:
    files = _cpython_email_corpus()
    if not files:
        pytest.skip("the CPython test suite (test/test_email/data) is not installed")
    parsed = 0
    for path in files:
        try:
            parse_message(path.read_bytes())
            parsed += 1
        except MalformedMessage:
            pass
    assert parsed >= len(files) - 1  # msg_19.txt is a digest's body with no header at all


# --- IMAP BODYSTRUCTURE ------------------------------------------------------------------------


def _captured_mail(number: int) -> bytes:
    """The factory mails whose BODYSTRUCTURE Dovecot returned in DOVECOT_RESPONSES."""
    files: list[mf.File] = [
        (FORM, b"PK\x03\x04docx", mf.DOCX),
        (PHOTO, b"\xff\xd8\xff\xe0jpeg", "image/jpeg"),
    ]

    def mail(style: mf.Style, attached: list[mf.File]) -> bytes:
        return mf.county_mail(
            sender="yh@126.com",
            sender_name="盐湖区工科局",
            subject="盐湖区周报",
            body="镕",
            date=SENT,
            files=attached,
            style=style,
        )

    if number <= 5:
        return mail(mf.STYLES[number - 1], files)
    return mf.forwarded(
        sender="x@qq.com",
        sender_name="转发人",
        subject="转发：盐湖区周报",
        note="请查收",
        original=mail("foxmail_gbk", files[:1]),
        date=datetime(2023, 6, 7, 11, 0, tzinfo=BEIJING),
    )


def _raw_gbk_literal(name: str) -> bytes:
    data = name.encode("gbk")
    return b"{%d}\r\n" % len(data) + data


# `UID FETCH n (BODYSTRUCTURE)` answers, without the "* " and "FETCH " imaplib strips.
DOVECOT_RESPONSES: dict[int, bytes] = {
    1: (
        b'1 (BODYSTRUCTURE ((("text" "plain" ("charset" "gb2312") NIL NIL "base64" 4 0 NIL NIL'
        b' NIL NIL)("text" "html" ("charset" "gb2312") NIL NIL "quoted-printable" 82 1 NIL'
        b' NIL NIL NIL) "alternative" ("boundary" "----=_002_NextPart818521136461_=----") NIL'
        b' NIL NIL)("application" "octet-stream" ("name"'
        b' "=?gb2312?B?uL28/jKjuqGwsLLIq8n6svrUwqGxu+62r7341bnH6b/2zbO8xrHto6g=?=\t=?gb2312?B?0'
        b'c66/sf4o6kuZG9jeA==?=") NIL NIL "base64" 12 NIL ("attachment" ("filename"'
        b' "=?gb2312?B?uL28/jKjuqGwsLLIq8n6svrUwqGxu+62r7341bnH6b/2zbO8xrHto6g=?=\t=?gb2312?B?0'
        b'c66/sf4o6kuZG9jeA==?=")) NIL NIL)("application" "octet-stream" ("name"'
        b' "=?gb2312?B?z9azodXVxqwxLmpwZw==?=") NIL NIL "base64" 12 NIL ("attachment"'
        b' ("filename" "=?gb2312?B?z9azodXVxqwxLmpwZw==?=")) NIL NIL) "mixed" ("boundary"'
        b' "----=_001_NextPart245177415830_=----") NIL NIL NIL))'
    ),
    2: (
        b'2 (BODYSTRUCTURE (("text" "plain" ("charset" "gb2312") NIL NIL "8bit" 2 0 NIL NIL NIL'
        b' NIL)("application" "vnd.openxmlformats-officedocument.wordprocessingml.document"'
        b' NIL NIL NIL "base64" 12 NIL ("attachment" ("filename*"'
        b" \"gb2312''%B8%BD%BC%FE2%A3%BA%A1%B0%B0%B2%C8%AB%C9%FA%B2%FA%D4%C2%A1%B1%BB%EE%B6%AF%"
        b'BD%F8%D5%B9%C7%E9%BF%F6%CD%B3%BC%C6%B1%ED%A3%A8%D1%CE%BA%FE%C7%F8%A3%A9.docx")) NIL'
        b' NIL)("image" "jpeg" NIL NIL NIL "base64" 12 NIL ("attachment" ("filename*"'
        b' "gb2312\'\'%CF%D6%B3%A1%D5%D5%C6%AC1.jpg")) NIL NIL) "mixed" ("boundary"'
        b' "gKMricLos+KVdGMg") NIL NIL NIL))'
    ),
    3: (
        b'3 (BODYSTRUCTURE (("text" "plain" ("charset" "gb2312") NIL NIL "8bit" 2 0 NIL NIL NIL'
        b' NIL)("application" "octet-stream" ("name" ' + _raw_gbk_literal(FORM) + b") NIL NIL"
        b' "base64" 12 NIL ("attachment" ("filename" ' + _raw_gbk_literal(FORM) + b")) NIL"
        b' NIL)("application" "octet-stream" ("name" ' + _raw_gbk_literal(PHOTO) + b") NIL"
        b' NIL "base64" 12 NIL ("attachment" ("filename" ' + _raw_gbk_literal(PHOTO) + b"))"
        b' NIL NIL) "mixed" ("boundary" "=====001_Dragon237244850520_=====") NIL NIL NIL))'
    ),
    4: (
        b'4 (BODYSTRUCTURE ((("text" "plain" ("charset" "UTF-8") NIL NIL "base64" 4 0 NIL NIL'
        b' NIL NIL)("text" "html" ("charset" "UTF-8") NIL NIL "base64" 102 1 NIL NIL NIL NIL)'
        b' "alternative" ("boundary" "----=_Part_231946_1870316622.1686105128913") NIL NIL'
        b' NIL)("application" "vnd.openxmlformats-officedocument.wordprocessingml.document"'
        b' ("name" "=?UTF-8?B?6ZmE5Lu2Mu+8muKAnOWuieWFqOeUn+S6p+aciOKAnea0u+WKqOi/mw==?=\t=?UTF'
        b'-8?B?5bGV5oOF5Ya157uf6K6h6KGo77yI55uQ5rmW5Yy677yJLmRvY3g=?=") NIL NIL "base64" 12'
        b' NIL ("attachment" ("filename"'
        b' "=?UTF-8?B?6ZmE5Lu2Mu+8muKAnOWuieWFqOeUn+S6p+aciOKAnea0u+WKqOi/mw==?=\t=?UTF-8?B?5bG'
        b'V5oOF5Ya157uf6K6h6KGo77yI55uQ5rmW5Yy677yJLmRvY3g=?=")) NIL NIL)("image" "jpeg"'
        b' ("name" "=?UTF-8?B?546w5Zy654Wn54mHMS5qcGc=?=") NIL NIL "base64" 12 NIL'
        b' ("attachment" ("filename" "=?UTF-8?B?546w5Zy654Wn54mHMS5qcGc=?=")) NIL NIL)'
        b' "mixed" ("boundary" "----=_Part_231944_1309672830.1686105128913") NIL NIL NIL))'
    ),
    5: (
        b'5 (BODYSTRUCTURE ((("text" "plain" ("charset" "utf-8") NIL NIL "base64" 4 0 NIL NIL'
        b' NIL NIL)("text" "html" ("charset" "utf-8") NIL NIL "base64" 102 1 NIL NIL NIL NIL)'
        b' "alternative" ("boundary"'
        b' "_000_TYZPR03MB5837C0E2A8F0B9D1E5C2A3B4TYZPR03MB5837apcp_") NIL NIL'
        b' NIL)("application" "vnd.openxmlformats-officedocument.wordprocessingml.document"'
        b' ("name" "=?utf-8?B?6ZmE5Lu2Mu+8muKAnOWuieWFqOeUn+S6p+aciOKAnea0u+WKqOi/mw==?=\t=?utf'
        b'-8?B?5bGV5oOF5Ya157uf6K6h6KGo77yI55uQ5rmW5Yy677yJLmRvY3g=?=") NIL'
        b' "=?utf-8?B?6ZmE5Lu2Mu+8muKAnOWuieWFqOeUn+S6p+aciOKAnea0u+WKqOi/mw==?=\t=?utf-8?B?5bG'
        b'V5oOF5Ya157uf6K6h6KGo77yI55uQ5rmW5Yy677yJLmRvY3g=?=" "base64" 12 NIL ("attachment"'
        b' ("size" "8" "creation-date" "Wed, 07 Jun 2023 02:30:00 GMT" "modification-date"'
        b' "Wed, 07 Jun 2023 02:30:00 GMT" "filename*"'
        b" \"utf-8''%E9%99%84%E4%BB%B62%EF%BC%9A%E2%80%9C%E5%AE%89%E5%85%A8%E7%94%9F%E4%BA%A7%E"
        b"6%9C%88%E2%80%9D%E6%B4%BB%E5%8A%A8%E8%BF%9B%E5%B1%95%E6%83%85%E5%86%B5%E7%BB%9F%E8%A"
        b'E%A1%E8%A1%A8%EF%BC%88%E7%9B%90%E6%B9%96%E5%8C%BA%EF%BC%89.docx")) NIL NIL)("image"'
        b' "jpeg" ("name" "=?utf-8?B?546w5Zy654Wn54mHMS5qcGc=?=") NIL'
        b' "=?utf-8?B?546w5Zy654Wn54mHMS5qcGc=?=" "base64" 12 NIL ("attachment" ("size" "8"'
        b' "creation-date" "Wed, 07 Jun 2023 02:30:00 GMT" "modification-date" "Wed, 07 Jun'
        b' 2023 02:30:00 GMT" "filename*"'
        b' "utf-8\'\'%E7%8E%B0%E5%9C%BA%E7%85%A7%E7%89%871.jpg")) NIL NIL) "mixed" ("boundary"'
        b' "_004_TYZPR03MB5837C0E2A8F0B9D1E5C2A3B4TYZPR03MB5837apcp_") NIL NIL NIL))'
    ),
    6: (
        b'6 (BODYSTRUCTURE (("text" "plain" ("charset" "UTF-8") NIL NIL "base64" 12 0 NIL NIL'
        b' NIL NIL)("message" "rfc822" NIL NIL NIL "7bit" 1606 ("Wed, 07 Jun 2023 10:32:08'
        b' +0800" "=?gb2312?B?0c66/sf41tyxqA==?=" (("=?gb2312?B?0c66/sf4uaS/xr7W?=" NIL "yh"'
        b' "126.com")) (("=?gb2312?B?0c66/sf4uaS/xr7W?=" NIL "yh" "126.com"))'
        b' (("=?gb2312?B?0c66/sf4uaS/xr7W?=" NIL "yh" "126.com")) ((NIL NIL "ycjjyxk"'
        b' "126.com")) NIL NIL NIL "<d8b3b171d8d126fdd63c@126.com>") ((("text" "plain"'
        b' ("charset" "gb2312") NIL NIL "base64" 4 0 NIL NIL NIL NIL)("text" "html"'
        b' ("charset" "gb2312") NIL NIL "quoted-printable" 82 1 NIL NIL NIL NIL)'
        b' "alternative" ("boundary" "----=_002_NextPart818521136461_=----") NIL NIL'
        b' NIL)("application" "octet-stream" ("name"'
        b' "=?gb2312?B?uL28/jKjuqGwsLLIq8n6svrUwqGxu+62r7341bnH6b/2zbO8xrHto6g=?=\t=?gb2312?B?0'
        b'c66/sf4o6kuZG9jeA==?=") NIL NIL "base64" 12 NIL ("attachment" ("filename"'
        b' "=?gb2312?B?uL28/jKjuqGwsLLIq8n6svrUwqGxu+62r7341bnH6b/2zbO8xrHto6g=?=\t=?gb2312?B?0'
        b'c66/sf4o6kuZG9jeA==?=")) NIL NIL) "mixed" ("boundary"'
        b' "----=_001_NextPart245177415830_=----") NIL NIL NIL) 47 NIL ("attachment" NIL) NIL'
        b' NIL) "mixed" ("boundary" "----=_Part_forward_0001.1686105128913") NIL NIL NIL))'
    ),
}


def _imaplib_lines(response: bytes) -> list[bytes | tuple[bytes, bytes]]:
    """The list imaplib hands imapclient: a literal makes a (line up to {n}, literal) pair."""
    lines: list[bytes | tuple[bytes, bytes]] = []
    pos = 0
    for match in re.finditer(rb"\{(\d+)\}\r\n", response):
        if match.start() < pos:
            continue
        size = int(match[1])
        line = response[pos : match.start()] + match[0][:-2]
        lines.append((line, response[match.end() : match.end() + size]))
        pos = match.end() + size
    lines.append(response[pos:])
    return lines


def _bodystructure(number: int) -> object:
    parsed = parse_fetch_response(_imaplib_lines(DOVECOT_RESPONSES[number]))
    return parsed[number][b"BODYSTRUCTURE"]


@pytest.mark.parametrize(
    ("number", "how"),
    [
        (1, "RFC 2047 gb2312 in quoted name/filename, folded between words"),
        (2, "RFC 2231 continuations that Dovecot merged into filename*"),
        (3, "raw 8-bit GBK, sent by Dovecot as IMAP literals"),
        (4, "RFC 2047 UTF-8, webmail"),
        (5, "RFC 2231 utf-8'' among Outlook's size and date parameters"),
    ],
)
def test_attachment_names_from_dovecot_bodystructure(number: int, how: str) -> None:
    structure = _bodystructure(number)

    names = attachment_names(structure)

    assert names == (FORM, PHOTO), how
    assert names == tuple(a.filename for a in parse_message(_captured_mail(number)).attachments)


def test_attachment_names_of_a_forwarded_message_come_from_its_subject() -> None:
    structure = _bodystructure(6)

    assert attachment_names(structure) == ("盐湖区周报.eml",)
    assert [a.filename for a in parse_message(_captured_mail(6)).attachments] == ["盐湖区周报.eml"]


def test_attachment_names_of_a_single_part_mail() -> None:
    response = (
        b'7 (BODYSTRUCTURE ("application" "pdf" ("name" "=?UTF-8?B?'
        + _b64("盐湖区总结.pdf", "utf-8")
        + b'?=") NIL NIL "base64" 4 NIL ("attachment" NIL) NIL NIL))'
    )
    structure = parse_fetch_response([response])[7][b"BODYSTRUCTURE"]
    plain = parse_fetch_response(
        [
            b'8 (BODYSTRUCTURE ("text" "plain" ("charset" "utf-8")'
            b' NIL NIL "7bit" 2 1 NIL NIL NIL NIL))'
        ]
    )[8][b"BODYSTRUCTURE"]

    assert attachment_names(structure) == ("盐湖区总结.pdf",)
    assert attachment_names(plain) == ()


@pytest.mark.parametrize("junk", [None, b"", 3, (), ((),), (b"text",), [[None]]])
def test_attachment_names_of_junk_is_empty(junk: object) -> None:
    assert attachment_names(junk) == ()


def _b64(text: str, codec: str) -> bytes:
    return _b64b(text.encode(codec))


def _b64b(data: bytes) -> bytes:
    return base64.b64encode(data)
