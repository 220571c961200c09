"""Acknowledgments: what they say, how they are built, and who gets one (through a real SMTP server)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parseaddr, parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest

from notify import AckFacts, CloudLink, Problem, ProblemKind, TemplateProblem, Templates, build_ack
from notify.mail import Letterhead
from parsers import Envelope, parse_envelope
from parsers.autoreply import Verdict, answer_allowed
from store.model import Deadline, Kind, State
from store.outbox import MailKind, MailState
from tests.mailfactory import auto_reply, county_mail, dsn_bounce
from tests.notify_support import BEIJING, Bureau, Clock, beijing, bureau
from tests.servers import SmtpSink

WEEK_1 = Deadline("week-1", "第1周进展", beijing("2023-06-07T12:00"), (Kind.WEEKLY,))
LETTERHEAD = Letterhead(
    sender="运城市工信局运行监测科 <ycjjyxk@126.com>",
    contact="联系人 郝大冰，电话 0359-6380232，邮箱 ycjjyxk@126.com",
    campaign='2023年"安全生产月"',
    zone=BEIJING,
)
ALLOWED = Verdict(True, "可以回复")
SENT = beijing("2023-06-07T10:30")


def report(sender: str = "yanhu@county.test", name: str = "盐湖区工科局", subject: str = "盐湖区第一周统计表") -> bytes:
    return county_mail(
        sender=sender,
        sender_name=name,
        subject=subject,
        body="附件是第一周进展材料，请查收。",
        date=SENT,
        received_at=SENT + timedelta(seconds=7),
        files=[("附件2：活动进展情况统计表.docx", b"PK\x03\x04docx", "application/octet-stream")],
        in_reply_to="<remind.eve@126.com>",
    )


def facts_of(envelope: Envelope, **changes: Any) -> AckFacts:
    """What the poll cycle would know after filing the report."""
    base = AckFacts(
        recipient=envelope.sender,
        recipient_name=envelope.sender_name,
        unit="盐湖区工科局",
        deadline=WEEK_1,
        received_at=SENT + timedelta(seconds=7),
        state=State.ON_TIME,
        subject=envelope.subject,
        message_id=envelope.message_id,
        references=envelope.references,
        files=("附件2：活动进展情况统计表.docx", "现场1.jpg", "现场2.JPG", "宣讲.mp4", "其他.zip"),
        cloud_links=(
            CloudLink(
                "安全知识竞赛.mp4",
                "https://mail.163.com/large-attachment-download/index.html?p=X&file=Y",
                "312.5M",
                beijing("2023-06-22T00:49"),
            ),
        ),
        figures={"1.1 组织开展宣讲活动（场）": 3, "1.2 参与（人次）": 120, "1.3 发表评论文章（篇）": None},
        problems=(
            Problem(ProblemKind.BLANK, "附件2 第1项 第3空 未填写"),
            Problem(ProblemKind.UNREADABLE, "文件「总结.wps」无法读取。"),
        ),
    )
    return replace(base, **changes)


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert isinstance(part, EmailMessage)
    return str(part.get_content())


def html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert isinstance(part, EmailMessage)
    return str(part.get_content())


# --- building -------------------------------------------------------------------------------


def test_an_ack_is_well_formed_and_threaded_to_the_report() -> None:
    envelope = parse_envelope(report())
    message = build_ack(facts_of(envelope), Templates(), LETTERHEAD, beijing("2023-06-07T10:31"))
    data = message.as_bytes(policy=policy.SMTP)
    assert data.isascii(), "7-bit: every header encoded, every body part base64"
    parsed = message_from_bytes(data, policy=policy.default)
    assert parseaddr(str(parsed["From"])) == ("运城市工信局运行监测科", "ycjjyxk@126.com")
    assert parseaddr(str(parsed["To"])) == ("盐湖区工科局", "yanhu@county.test")
    assert len(parsed.get_all("To") or []) == 1 and parsed["Cc"] is None and parsed["Bcc"] is None
    assert str(parsed["Subject"]) == "回执：盐湖区第一周统计表"
    assert parsedate_to_datetime(str(parsed["Date"])) == beijing("2023-06-07T10:31")
    assert str(parsed["Message-ID"]).endswith("@126.com>")
    assert str(parsed["Auto-Submitted"]) == "auto-replied"
    assert str(parsed["X-Auto-Response-Suppress"]) == "All"
    assert envelope.message_id is not None
    assert str(parsed["In-Reply-To"]) == envelope.message_id
    assert str(parsed["References"]).split() == ["<remind.eve@126.com>", envelope.message_id]
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]


def test_an_ack_says_what_was_received_and_what_to_fix() -> None:
    facts = facts_of(parse_envelope(report()), replaced_earlier=beijing("2023-06-07T09:12"))
    text = text_of(build_ack(facts, Templates(), LETTERHEAD, beijing("2023-06-07T10:31")))
    expected = [
        "盐湖区工科局：",
        "你单位 2023年6月7日 10:30 发来的「盐湖区第一周统计表」已收到，"
        "归入「第1周进展」（截止时间 2023年6月7日 12:00），记为按时。",
        "本次报送替换了 2023年6月7日 09:12 收到的上一份，汇总以本次为准。",
        "文档和表格（1 个）：附件2：活动进展情况统计表.docx",
        "照片（2 个）：现场1.jpg、现场2.JPG",
        "视频（1 个）：宣讲.mp4",
        "其他文件（1 个）：其他.zip",
        "  安全知识竞赛.mp4（312.5M），2023年6月22日 00:49 到期",
        "  1.1 组织开展宣讲活动（场）：3",
        "  1.2 参与（人次）：120",
        "  1.3 发表评论文章（篇）：（未填）",
        "1. 附件2 第1项 第3空 未填写。请补填后将整张表重新发送；确实没有开展的项目请填 0，不要留空。",
        "2. 文件「总结.wps」无法读取。文件无法打开，请用 Word 或 WPS 另存为 .docx 格式后重新发送。",
        "联系人 郝大冰，电话 0359-6380232，邮箱 ycjjyxk@126.com",
    ]
    lines = text.splitlines()
    for line in expected:
        assert line in lines, line


def test_a_late_report_with_nothing_wrong() -> None:
    facts = facts_of(
        parse_envelope(report()),
        state=State.LATE,
        received_at=beijing("2023-06-07T15:02"),
        files=(),
        cloud_links=(),
        figures={},
        problems=(),
    )
    message = build_ack(facts, Templates(), LETTERHEAD, beijing("2023-06-07T15:03"))
    text = text_of(message)
    assert "发来的「盐湖区第一周统计表」已收到，归入「第1周进展」（截止时间 2023年6月7日 12:00），记为逾期。" in text
    assert "邮件中没有附件。" in text
    assert "未发现需要处理的问题。" in text
    assert "替换" not in text and "附件2读取" not in text
    assert 'color:#c9302c;">逾期</strong>' in html_of(message)


def test_what_units_wrote_is_escaped_in_html() -> None:
    facts = facts_of(
        parse_envelope(report(subject="第一周<script>alert(1)</script>")),
        figures={"7.1 活动名称": '<img src=x onerror="y">'},
    )
    html = html_of(build_ack(facts, Templates(), LETTERHEAD, SENT))
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html and "&lt;img src=x onerror=&#34;y&#34;&gt;" in html


def test_a_report_without_subject_or_message_id() -> None:
    facts = facts_of(parse_envelope(report()), subject="", message_id=None, references=())
    message = build_ack(facts, Templates(), LETTERHEAD, SENT)
    assert str(message["Subject"]) == "回执：盐湖区工科局第1周进展"
    assert message["In-Reply-To"] is None and message["References"] is None


def test_templates_are_overridden_by_name(tmp_path: Path) -> None:
    (tmp_path / "ack.subject.j2").write_text("【已收到】{{ unit }}{{ deadline_label }}\n", encoding="utf-8")
    message = build_ack(facts_of(parse_envelope(report())), Templates(tmp_path), LETTERHEAD, SENT)
    assert str(message["Subject"]) == "【已收到】盐湖区工科局第1周进展"
    assert "记为按时" in text_of(message)  # the other templates stay built-in


def test_a_broken_override_fails_at_start_up(tmp_path: Path) -> None:
    (tmp_path / "ack.txt.j2").write_text("{% if unit %}没有结束", encoding="utf-8")
    with pytest.raises(TemplateProblem, match=r"ack\.txt\.j2"):
        Templates(tmp_path)
    with pytest.raises(TemplateProblem, match="不是文件夹"):
        Templates(tmp_path / "missing")


# --- who gets one ---------------------------------------------------------------------------


@pytest.fixture
def clock() -> Clock:
    return Clock(SENT + timedelta(minutes=1))


def acknowledge(office: Bureau, message: int, data: bytes, registered: bool = True) -> bool:
    """What the poll cycle does after filing `data` as message `message`."""
    envelope = parse_envelope(data)
    verdict = answer_allowed(envelope, envelope.header("content-type") or "", office.notifier.own_addresses)
    outcome = office.notifier.acknowledge(message, facts_of(envelope), loop_check=verdict, verified=registered)
    return outcome.queued


def test_one_ack_per_report_and_none_for_automatic_or_unverified_mail(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch, smtp_sink: SmtpSink
) -> None:
    office = bureau(tmp_path, clock, monkeypatch, smtp_sink)
    yanhu = report()
    cases = [
        (1, yanhu, True),
        (1, yanhu, True),  # the same report processed again (a rerun, a restart)
        (2, report("yongji@county.test", "永济市工科局", "永济市第1周进展"), True),
        (3, auto_reply(sender="hejin@county.test", sender_name="河津市工科局", date=SENT), True),
        (4, dsn_bounce(original=yanhu, failed_recipient="yanhu@county.test", date=SENT), True),
        (5, yanhu.replace(b"MIME-Version: 1.0", b"List-Id: <aq.county.test>\r\nMIME-Version: 1.0"), True),
        (6, yanhu.replace(b"MIME-Version: 1.0", b"Precedence: bulk\r\nMIME-Version: 1.0"), True),
        (7, report("bureau@city.test", "运城市工信局运行监测科", "盐湖区第1周进展"), True),
        (8, report("zhangsan@qq.test", "张三", "盐湖区第1周进展（代报）"), False),
    ]
    queued = [acknowledge(office, message, data, registered) for message, data, registered in cases]
    assert queued == [True, False, True, False, False, False, False, False, False]

    report_of_delivery = office.notifier.deliver()
    assert report_of_delivery.sent == 2
    captured = smtp_sink.wait_for(2)
    assert [c.rcpt_tos for c in captured] == [["yanhu@county.test"], ["yongji@county.test"]]
    assert office.notifier.deliver().sent == 0
    assert len(smtp_sink.messages) == 2

    log = office.log()
    assert "不发回执：盐湖区工科局「盐湖区第一周统计表」（#1，yanhu@county.test）：这份报送已经回执过" in log
    assert "（#3，hejin@county.test）：自动发出的邮件（Auto-Submitted: auto-replied）" in log
    assert "（#4，mailer-daemon@mail.yuncheng.gov.cn）：发件人 mailer-daemon@mail.yuncheng.gov.cn 是系统地址" in log
    assert "（#5，yanhu@county.test）：邮件列表邮件（带有 List-Id）" in log
    assert "（#6，yanhu@county.test）：群发或邮件列表邮件（Precedence: bulk）" in log
    assert "（#7，bureau@city.test）：发件人 bureau@city.test 是本系统自己的地址" in log
    warning = next(line for line in office.oplog.lines() if "#8" in line)
    assert "[警告]" in warning and "zhangsan@qq.test" in warning and "发件地址未登记" in warning


def test_acks_to_one_address_are_rate_limited(tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    office = bureau(tmp_path, clock, monkeypatch, notify={"per_address_per_hour": 2})
    assert [acknowledge(office, n, report(subject=f"第{n}次")) for n in (1, 2, 3)] == [True, True, False]
    assert "该地址一小时内已收到 2 封回执，达到上限 2 封" in office.log()
    clock.advance(timedelta(hours=1, seconds=1))
    assert acknowledge(office, 4, report(subject="第4次"))
    assert office.notifier.outbox.count_since(MailKind.ACK, "yanhu@county.test", SENT) == 3


def test_a_captured_ack_reads_right(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch, smtp_sink: SmtpSink
) -> None:
    office = bureau(tmp_path, clock, monkeypatch, smtp_sink)
    data = report()
    original = parse_envelope(data)
    assert acknowledge(office, 1, data)
    office.notifier.deliver()
    [captured] = smtp_sink.wait_for(1)
    assert captured.data.isascii()
    assert (captured.mail_from, captured.rcpt_tos) == ("bureau@city.test", ["yanhu@county.test"])
    ack = captured.message()
    assert parseaddr(str(ack["From"])) == ("运城市工信局运行监测科", "bureau@city.test")
    assert parseaddr(str(ack["To"])) == ("盐湖区工科局", "yanhu@county.test")
    assert str(ack["Subject"]) == "回执：盐湖区第一周统计表"
    assert parsedate_to_datetime(str(ack["Date"])) == clock.now
    assert str(ack["Message-ID"]).startswith("<") and str(ack["Message-ID"]).endswith("@city.test>")
    assert str(ack["Auto-Submitted"]) == "auto-replied"
    assert str(ack["X-Auto-Response-Suppress"]) == "All"
    assert str(ack["In-Reply-To"]) == original.message_id
    assert original.message_id in str(ack["References"]).split()
    text = text_of(ack)
    assert text.startswith("盐湖区工科局：\n\n你单位 2023年6月7日 10:30 发来的「盐湖区第一周统计表」已收到")
    assert "  1.2 参与（人次）：120" in text
    assert "运城市工信局运行监测科\n" in text
    assert "1.2 参与（人次）</td>" in html_of(ack)
    [item] = office.notifier.outbox.items()
    assert item.state is MailState.SENT
    # What went out is what was queued: a restart resends the same bytes, Message-ID included.
    assert captured.data.rstrip(b"\r\n") == item.data.rstrip(b"\r\n")
