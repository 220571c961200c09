"""Acknowledgments and reminders end to end: Dovecot in, `baosong` in between, aiosmtpd out."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.baosong_cli import REGISTERED, run, status, write_config
from tests.mailfactory import auto_reply, county_mail, dsn_bounce
from tests.servers import Account, SmtpSink

BEIJING = ZoneInfo("Asia/Shanghai")
YANHU, YONGJI, HEJIN = (REGISTERED[u] for u in ("盐湖区工科局", "永济市工科局", "河津市工科局"))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BEIJING)


def weekly(sender: str, subject: str, sent: datetime) -> bytes:
    return county_mail(
        sender=sender,
        sender_name="联络员",
        subject=subject,
        body="附件是本周统计表，请查收。",
        date=sent,
        files=[("附件2：活动进展情况统计表.docx", b"PK\x03\x04 form", "application/octet-stream")],
        style="webmail_utf8",
    )


def config_for(tmp_path: Path, account: Account, sink: SmtpSink) -> Path:
    return write_config(tmp_path, account, sink, notify__throttle_per_minute=6000)


def texts(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def test_one_ack_per_report_and_none_where_an_answer_would_loop(
    imap_account: Account, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    sent = at("2023-06-06T10:30")
    report = weekly(YANHU, "盐湖区第一周统计表", sent)
    imap_account.append(report, sent)
    imap_account.append(
        auto_reply(sender=YONGJI, sender_name="永济", date=sent, original_subject="第1周进展提醒"), sent
    )
    imap_account.append(dsn_bounce(original=report, failed_recipient="nobody@county.test", date=sent), sent)
    imap_account.append(weekly("stranger@qq.test", "河津市第一周统计表", sent), sent)
    config = config_for(tmp_path, imap_account, smtp_sink)

    run(config, "poll", "--now", "2023-06-06T11:00", account=imap_account, smtp=smtp_sink)
    run(config, "poll", "--now", "2023-06-06T11:05", account=imap_account, smtp=smtp_sink)

    [ack] = smtp_sink.wait_for(1)
    assert ack.rcpt_tos == [YANHU]
    mail = ack.message()
    assert mail["Subject"] == "回执：盐湖区第一周统计表"
    assert mail["Auto-Submitted"] == "auto-replied"
    assert mail["X-Auto-Response-Suppress"] == "All"
    assert mail["In-Reply-To"] and mail["In-Reply-To"] in mail["References"]
    body = texts(mail)
    assert "盐湖区工科局" in body and "第1周进展" in body and "按时" in body
    assert "附件2：活动进展情况统计表.docx" in body
    assert "郝大冰" in body
    log = (tmp_path / "data" / "operator.log").read_text(encoding="utf-8")
    assert "stranger@qq.test" in log and "未登记" in log
    # The out-of-office answer of a registered unit is no report of that unit.
    assert "自动回复" in log and "不是报送材料" in log
    week1 = next(d for d in status(config, "2023-06-06T11:05")["deadlines"] if d["id"] == "week-1")
    assert next(u for u in week1["units"] if u["unit"] == "永济市工科局")["state"] == "not_due"
    assert len(smtp_sink.messages) == 1


def test_acks_wait_in_the_outbox_while_smtp_is_down_and_go_out_once(
    imap_account: Account, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    sent = at("2023-06-06T09:00")
    imap_account.append(weekly(YANHU, "第1周进展", sent), sent)
    config = config_for(tmp_path, imap_account, smtp_sink)
    smtp_sink.stop()
    run(config, "poll", "--now", "2023-06-06T09:05", account=imap_account, smtp=smtp_sink)
    queued = status(config, "2023-06-06T09:06")["outbox"]
    assert queued["queued"] == 1 and queued["sent"] == 0

    smtp_sink.start()
    # The first retry is due a minute after the failure.
    for now in ("2023-06-06T09:07", "2023-06-06T09:10"):
        run(config, "poll", "--now", now, account=imap_account, smtp=smtp_sink)
    assert [m.rcpt_tos for m in smtp_sink.messages] == [[YANHU]]
    assert status(config, "2023-06-06T09:11")["outbox"]["sent"] == 1


def test_reminders_go_to_exactly_the_missing_units_each_stage_once(
    imap_account: Account, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    config = config_for(tmp_path, imap_account, smtp_sink)
    # A setup submission from everyone registered, so that only week-1 is owed.
    for address in (YANHU, YONGJI, HEJIN):
        sent = at("2023-05-30T10:00")
        imap_account.append(
            county_mail(sender=address, sender_name="联络员", subject="联络员表及活动方案", body="见附件",
                        date=sent, files=[("方案.docx", address.encode(), "application/octet-stream")],
                        style="foxmail_gbk"),
            sent,
        )
    run(config, "poll", "--now", "2023-05-31T09:00", account=imap_account, smtp=smtp_sink)
    acks = len(smtp_sink.wait_for(3))

    def reminders_since(count: int) -> list[str]:
        return sorted(r for m in smtp_sink.messages[count:] for r in m.rcpt_tos)

    dry = run(config, "remind", "--dry-run", "--now", "2023-06-06T10:00", smtp=smtp_sink).stdout
    assert "永济市工科局" in dry and "试运行" in dry
    assert len(smtp_sink.messages) == acks

    run(config, "remind", "--now", "2023-06-06T10:00", smtp=smtp_sink)  # the day before
    assert reminders_since(acks) == sorted([YANHU, YONGJI, HEJIN])
    before = len(smtp_sink.messages)
    run(config, "remind", "--now", "2023-06-06T10:30", smtp=smtp_sink)  # same stage: nothing
    assert len(smtp_sink.messages) == before

    sent = at("2023-06-06T15:00")
    imap_account.append(weekly(YANHU, "第1周进展", sent), sent)
    run(config, "poll", "--now", "2023-06-06T15:05", account=imap_account, smtp=smtp_sink)
    after_ack = len(smtp_sink.messages)
    run(config, "remind", "--now", "2023-06-07T10:01", smtp=smtp_sink)  # two hours before
    assert reminders_since(after_ack) == sorted([YONGJI, HEJIN])

    overdue_from = len(smtp_sink.messages)
    sent = at("2023-06-07T12:05")
    imap_account.append(weekly(YONGJI, "第1周进展", sent), sent)
    run(config, "poll", "--now", "2023-06-07T12:06", account=imap_account, smtp=smtp_sink)
    run(config, "remind", "--now", "2023-06-07T12:11", smtp=smtp_sink)  # ten minutes after
    overdue = [m for m in smtp_sink.messages[overdue_from:] if m.message()["Auto-Submitted"] == "auto-generated"]
    assert [m.rcpt_tos for m in overdue] == [[HEJIN]]
    mail = overdue[0].message()
    assert "逾期" in str(mail["Subject"]) or "逾期" in texts(mail)
