"""parse_message and parse_message_file with long base64 runs taken out of the parser's way.

The oracle is the plain compat32 parse: the same code with no run ever taken out (`_RUN_MIN`
beyond any message). Taking runs out, of any length and in pieces of any size, must give the
same Message, defects included, and must keep a large attachment in memory once.
"""

from __future__ import annotations

import base64
import io
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import parsers.message as pm
from parsers import MalformedMessage, Message, parse_message
from parsers.message import parse_message_file
from tests import mailfactory as mf
from tests.test_message import FILES, _other_kinds, county

NEVER = 10**12
# (shortest run taken out, bytes read at a time): every run, tiny pieces, the defaults...
SETTINGS = [(1, 7), (64, 100), (300, 1000), (1, 1 << 22), (pm._RUN_MIN, pm._PIECE)]


def outcome(parse: object) -> Message | str:
    try:
        return parse()  # type: ignore[operator, no-any-return]
    except MalformedMessage as exc:
        return f"MalformedMessage: {exc}"


def oracle(raw: bytes, monkeypatch: pytest.MonkeyPatch) -> Message | str:
    with monkeypatch.context() as patch:
        patch.setattr(pm, "_RUN_MIN", NEVER)
        return outcome(lambda: parse_message(raw))


def assert_same_as_plain(raw: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = oracle(raw, monkeypatch)
    for run_min, piece in SETTINGS:
        with monkeypatch.context() as patch:
            patch.setattr(pm, "_RUN_MIN", run_min)
            patch.setattr(pm, "_PIECE", piece)
            assert outcome(lambda: parse_message(raw)) == expected, (run_min, piece, "bytes")
            got = outcome(lambda: parse_message_file(io.BytesIO(raw)))
            assert got == expected, (run_min, piece, "file")


B64 = base64.encodebytes(bytes(range(256)) * 60)


def mail(
    body: bytes,
    cte: bytes = b"base64",
    eol: bytes = b"\r\n",
    closed: bool = True,
    content_type: bytes = b"application/octet-stream",
) -> bytes:
    return (
        b'From: a@b.cn\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary="BB"\r\n\r\n'
        b"preamble\r\n--BB\r\nContent-Type: text/plain\r\n\r\nhi\r\n--BB\r\nContent-Type: "
        + content_type
        + b"; name=a.bin\r\nContent-Transfer-Encoding: "
        + cte
        + b"\r\n\r\n"
        + body.replace(b"\n", eol)
        + (b"--BB--\r\nepilogue\r\n" if closed else b"")
    )


def _cases() -> Iterator[tuple[str, bytes]]:
    for style in mf.STYLES:
        yield style, county(style)
        yield f"{style}-large", county(style, files=[(n, d * 40, t) for n, d, t in FILES])
    for n, raw in enumerate(_other_kinds()):
        yield f"kind-{n}", raw
    yield "crlf", mail(B64)
    yield "lf", mail(B64, eol=b"\n")
    yield "cr", mail(B64, eol=b"\r")
    yield "padding-dropped", mail(B64.rstrip(b"=\n") + b"\n")
    yield "bad-character", mail(B64[:5000] + b"*" + B64[5000:])
    yield "padding-inside", mail(B64[:4000] + b"==\n" + B64[4000:])
    yield "one-too-many", mail(B64.rstrip(b"\n") + b"A\n")
    yield "extra-padding", mail(B64.rstrip(b"\n") + b"=\n")
    yield "no-closing-boundary", mail(B64, closed=False)
    yield "no-final-newline", mail(B64, closed=False).rstrip(b"\r\n")
    yield "blank-line-inside", mail(B64[:3000] + b"\n" + B64[3000:])
    yield "trailing-blanks", mail(B64.replace(b"\n", b" \n"))
    yield "one-long-line", mail(B64.replace(b"\n", b"") + b"\n")
    yield "quoted-printable", mail(B64, cte=b"quoted-printable")
    yield "7bit", mail(B64, cte=b"7bit")
    yield "no-encoding", mail(B64, cte=b"")
    yield "uuencode", mail(B64, cte=b"x-uuencode")
    yield "forwarded", mail(b"Subject: inner\r\n\r\n" + B64, cte=b"7bit", content_type=b"message/rfc822")
    yield "8bit-text-before", mail("说明".encode("gbk") + b"\n" + B64, cte=b"8bit")
    yield "marker-in-mail", mail(B64) + b"\x00baosong-blob-0\x00\r\n"
    crlf = B64.replace(b"\n", b"\r\n")
    yield "single-part", (
        b"From: a@b.cn\r\nSubject: x\r\nContent-Transfer-Encoding: base64\r\n"
        b"Content-Type: image/jpeg\r\n\r\n" + crlf
    )
    yield "part-without-headers", (
        b"From: a@b.cn\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\n" + crlf + b"--BB--\r\n"
    )
    yield "run-in-the-header-block", b"From: a@b.cn\r\nSubject: x\r\n" + crlf
    yield "nested-text", (
        b"From: a@b.cn\r\nContent-Type: multipart/mixed; boundary=A\r\n\r\n--A\r\n"
        b"Content-Type: multipart/alternative; boundary=B\r\n\r\n--B\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes("正文".encode() * 3000).replace(b"\n", b"\r\n")
        + b"--B--\r\n--A--\r\n"
    )


CASES = list(_cases())


@pytest.mark.parametrize("raw", [raw for _, raw in CASES], ids=[name for name, _ in CASES])
def test_taking_runs_out_changes_nothing(raw: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    assert_same_as_plain(raw, monkeypatch)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.binary(max_size=6000),
    edits=st.lists(
        st.tuples(
            st.floats(0, 1),
            st.sampled_from([b"=", b"==", b"*", b"\n", b"\r", b" ", b"A", b"\r\n\r\n", b"--BB\r\n", b"-"]),
        ),
        max_size=3,
    ),
    eol=st.sampled_from([b"\r\n", b"\n"]),
    closed=st.booleans(),
    strip=st.booleans(),
)
def test_damaged_base64_reads_as_compat32_reads_it(
    data: bytes,
    edits: list[tuple[float, bytes]],
    eol: bytes,
    closed: bool,
    strip: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = bytearray(base64.encodebytes(data))
    for where, text in edits:
        at = int(where * len(body))
        body[at:at] = text
    encoded = bytes(body).rstrip(b"\n") if strip else bytes(body)
    assert_same_as_plain(mail(encoded, eol=eol, closed=closed), monkeypatch)


def test_a_large_attachment_is_held_once() -> None:
    size = 12_000_000
    raw = mf.county_mail(
        sender="a@126.com",
        sender_name="",
        subject="视频",
        body="见附件",
        date=datetime(2023, 6, 7, tzinfo=UTC),
        files=[("现场.mp4", b"\x01" * size, "video/mp4")],
        style=mf.STYLES[0],
    )
    spooled = io.BytesIO(raw)
    del raw
    tracemalloc.start()
    try:
        message = parse_message_file(spooled)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [len(a.data) for a in message.attachments] == [size]
    # The attachment once, plus pieces of a few MB; compat32 alone needed ten times the mail.
    assert peak < size + 4 * pm._PIECE


def test_a_file_that_cannot_be_read_is_an_oserror_not_a_malformed_mail() -> None:
    class Broken(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        parse_message_file(Broken(b"From: a@b.cn\r\n\r\nx"))
