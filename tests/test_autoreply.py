"""The no-loop rules on mail as it arrives: raw bytes, decoded by the real parser."""

from __future__ import annotations

import pytest

from parsers import parse_envelope
from parsers.autoreply import answer_allowed
from tests.mailfactory import auto_reply, county_mail, dsn_bounce
from tests.notify_support import beijing

OWN = ("ycjjyxk@126.com",)
SENT = beijing("2023-06-07T10:30")


def raw(
    *extra: str,
    sender: str = "盐湖区工科局 <yanhu@county.test>",
    subject: str = "盐湖区第1周进展统计表",
    content_type: str = "text/plain; charset=utf-8",
) -> bytes:
    headers = [
        f"From: {sender}",
        "To: ycjjyxk@126.com",
        f"Subject: {subject}",
        "Message-ID: <r1@county.test>",
        "Date: Wed, 07 Jun 2023 10:30:00 +0800",
        *extra,
        "MIME-Version: 1.0",
        f"Content-Type: {content_type}",
    ]
    return ("\r\n".join(headers) + "\r\n\r\n附件是本周材料。\r\n").encode()


def verdict(data: bytes) -> tuple[bool, str]:
    envelope = parse_envelope(data)
    result = answer_allowed(envelope, envelope.header("content-type") or "", OWN)
    return result.allowed, result.reason


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(raw(), id="plain report"),
        pytest.param(raw("Auto-Submitted: no"), id="auto-submitted no"),
        pytest.param(
            raw("In-Reply-To: <remind.1@126.com>", subject="Re: 【逾期催报】第1周进展尚未收到"),
            id="reply to a reminder",
        ),
        pytest.param(
            county_mail(
                sender="yanhu@county.test",
                sender_name="盐湖区工科局",
                subject="盐湖区第一周统计表",
                body="请查收",
                date=SENT,
                style="foxmail_gbk",
            ),
            id="foxmail gbk report",
        ),
    ],
)
def test_reports_may_be_answered(data: bytes) -> None:
    assert verdict(data) == (True, "可以回复")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(
            auto_reply(
                sender="yanhu@county.test", sender_name="盐湖区工科局", date=SENT, original_subject="回执：第1周"
            ),
            "Auto-Submitted: auto-replied",
            id="126 out-of-office",
        ),
        pytest.param(
            dsn_bounce(
                original=raw(), failed_recipient="nobody@county.test", date=SENT, reporting_mta="mx.county.test"
            ),
            "mailer-daemon@mx.county.test",
            id="sendmail bounce",
        ),
        pytest.param(
            raw(
                sender="邮件系统 <notice@mail.county.test>",
                content_type="multipart/report; report-type=delivery-status",
            ),
            "multipart/report",
            id="delivery report from an ordinary address",
        ),
        pytest.param(raw("Auto-Submitted: auto-generated"), "Auto-Submitted: auto-generated", id="auto-generated"),
        pytest.param(
            raw("Auto-Submitted: Auto-Replied; owner=x"), "Auto-Submitted: auto-replied", id="case and params"
        ),
        pytest.param(raw("X-Autoreply: yes"), "X-Autoreply", id="x-autoreply"),
        pytest.param(raw("X-Autorespond: 1"), "X-Autorespond", id="x-autorespond"),
        pytest.param(raw("Precedence: bulk"), "Precedence: bulk", id="precedence bulk"),
        pytest.param(raw("Precedence: junk"), "Precedence: junk", id="precedence junk"),
        pytest.param(raw("Precedence: list"), "Precedence: list", id="precedence list"),
        pytest.param(raw("List-Id: <anquan.lists.county.test>"), "List-Id", id="mailing list"),
        pytest.param(raw("Return-Path: <>"), "Return-Path", id="null return path"),
        pytest.param(raw(subject="自动回复：盐湖区第1周进展"), "自动回复", id="126 auto-reply subject"),
        pytest.param(raw(subject="=?gb2312?B?19S2r7vYuLSjug==?= 第1周"), "自动回复", id="gb2312 encoded subject"),
        pytest.param(raw(subject="Automatic reply: 第1周进展"), "automaticreply", id="outlook subject"),
        pytest.param(raw(subject="系统退信"), "系统退信", id="netease bounce subject"),
        pytest.param(raw(sender="运城市工信局运行监测科 <YCJJYXK@126.com>"), "本系统自己的地址", id="own address"),
        pytest.param(raw(sender="postmaster@county.test"), "系统地址", id="postmaster"),
        pytest.param(raw(sender="MAILER-DAEMON@126.com"), "系统地址", id="mailer-daemon"),
        pytest.param(raw(sender="noreply@county.test"), "系统地址", id="noreply"),
        pytest.param(raw(sender="undisclosed-recipients:;"), "没有可回复的发件地址", id="no address"),
    ],
)
def test_automatic_mail_is_never_answered(data: bytes, reason: str) -> None:
    allowed, why = verdict(data)
    assert not allowed
    assert reason in why
