"""`baosong poll` against a real Dovecot over TLS: the walking skeleton's promises.

Each test appends mail with chosen INTERNALDATEs to a fresh mailbox, runs the installed
`baosong` command as production would, and checks the database, the archive, the operator
log and the mailbox itself.
"""

from __future__ import annotations

import io
import signal
import sqlite3
import subprocess
import time
import zipfile
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.baosong_cli import (
    REGISTERED,
    baosong_command,
    environment,
    run,
    status,
    write_config,
)
from tests.servers import Account

BEIJING = ZoneInfo("Asia/Shanghai")


def beijing(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BEIJING)


def report_mail(
    sender: str,
    subject: str,
    files: dict[str, bytes],
    sent: datetime,
    message_id: str,
) -> bytes:
    """A report as 126 webmail sends it: UTF-8, RFC 2231/2047 names, base64 attachments."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = "ycjjyxk@126.com"
    mail["Subject"] = subject
    mail["Date"] = format_datetime(sent)
    mail["Message-ID"] = message_id
    mail.set_content("您好，附件是本周材料，请查收。")
    for name, data in files.items():
        mail.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return mail.as_bytes()


def rows(config: Path) -> list[sqlite3.Row]:
    db = sqlite3.connect(config.parent / "data" / "baosong.sqlite3")
    db.row_factory = sqlite3.Row
    try:
        return db.execute("select * from messages order by id").fetchall()
    finally:
        db.close()


def poll_killed_when(config: Path, account: Account, moment: Callable[[], bool]) -> None:
    """Start `baosong poll`, SIGKILL it as soon as `moment()` holds, then poll twice to recover."""
    process = subprocess.Popen(
        [*baosong_command(), "--config", str(config), "poll", "--now", NOW],
        env=environment(account),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if moment():
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.001)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the poll ended before it could be killed"
    run(config, "poll", "--now", NOW, account=account)
    run(config, "poll", "--now", NOW, account=account)


def oplog(config: Path) -> str:
    return (config.parent / "data" / "operator.log").read_text(encoding="utf-8")


def archived(config: Path) -> list[Path]:
    archive = config.parent / "data" / "archive"
    return sorted(p for p in archive.rglob("*") if p.is_file())


NOW = "2023-06-07T13:00"


def test_each_message_gets_one_outcome_and_a_second_poll_does_nothing(
    imap_account: Account, tmp_path: Path
) -> None:
    t = beijing("2023-06-05T09:00")
    yh, yj = REGISTERED["盐湖区工科局"], REGISTERED["永济市工科局"]
    mails = {
        "filed": report_mail(yh, "盐湖区第1周进展", {"附件2统计表.docx": b"PK-docx-1"}, t, "<a@x>"),
        "filed2": report_mail(yj, "永济市 周报", {"统计表.xlsx": b"PK-xlsx"}, t, "<b@x>"),
        "unverified": report_mail(
            "someone@qq.test", "临猗县第一周统计表", {"临猗.docx": b"doc"}, t, "<c@x>"
        ),
        "unsorted": report_mail("who@qq.test", "安全生产月材料", {"材料.docx": b"m"}, t, "<d@x>"),
        "not_report": report_mail("shop@shop.test", "双十一优惠", {}, t, "<e@x>"),
    }
    for raw in mails.values():
        imap_account.append(raw, t)
    config = write_config(tmp_path, imap_account)

    first = run(config, "poll", "--now", NOW, account=imap_account)
    assert "归档 3" in first.stdout
    outcomes = sorted(r["outcome"] for r in rows(config))
    assert outcomes == ["filed", "filed", "filed", "not_report", "unsorted"]
    assert all(r["reason"] for r in rows(config))
    unverified = next(r for r in rows(config) if r["message_id"] == "<c@x>")
    assert (unverified["unit"], unverified["unit_verified"]) == ("临猗县工科局", 0)
    # The everyday mail was judged on its headers alone: its body was never kept.
    not_report = next(r for r in rows(config) if r["outcome"] == "not_report")
    assert not_report["raw_path"] is None

    second = run(config, "poll", "--now", NOW, account=imap_account)
    assert "新邮件 0" in second.stdout
    assert len(rows(config)) == 5
    log = oplog(config)
    assert "盐湖区工科局，第1周进展，按时" in log
    assert "临猗县工科局（发件地址未登记，待核实）" in log
    assert "请人工分拣" in log


def test_the_mailbox_is_not_disturbed_and_id_is_sent(
    imap_account: Account, tmp_path: Path
) -> None:
    t = beijing("2023-06-06T09:00")
    yh = REGISTERED["盐湖区工科局"]
    imap_account.append(report_mail(yh, "第1周进展", {"a.docx": b"1"}, t, "<f1@x>"), t)
    imap_account.append(
        report_mail(yh, "补充照片", {"b.docx": b"2"}, t, "<f2@x>"), t, flags=[b"\\Seen"]
    )
    imap_account.append(
        report_mail(yh, "第1周统计表", {"c.xls": b"3"}, t, "<f3@x>"),
        t,
        flags=[b"\\Flagged", b"\\Answered"],
    )
    before = imap_account.flags()
    config = write_config(tmp_path, imap_account)
    run(config, "poll", "--now", NOW, account=imap_account)
    run(config, "poll", "--now", NOW, account=imap_account)
    assert imap_account.flags() == before
    assert [r["outcome"] for r in rows(config)] == ["filed"] * 3
    ids = imap_account.server.id_commands(imap_account.username)
    assert ids and all("name=baosong" in line for line in ids)


def test_a_uidvalidity_change_refiles_nothing(imap_account: Account, tmp_path: Path) -> None:
    t = beijing("2023-06-06T10:00")
    for n, unit in enumerate(REGISTERED.values()):
        imap_account.append(
            report_mail(unit, "第1周进展", {f"表{n}.docx": bytes([n]) * 50}, t, f"<u{n}@x>"), t
        )
    config = write_config(tmp_path, imap_account)
    run(config, "poll", "--now", NOW, account=imap_account)
    files_before = archived(config)
    old_validity = imap_account.uidvalidity()

    imap_account.recreate_mailbox()
    assert imap_account.uidvalidity() != old_validity
    run(config, "poll", "--now", NOW, account=imap_account)

    assert archived(config) == files_before
    filed = [r for r in rows(config) if r["outcome"] == "filed"]
    assert len(filed) == 3
    duplicates = [r for r in rows(config) if r["outcome"] == "duplicate"]
    assert len(duplicates) == 3 and all(r["duplicate_of"] for r in duplicates)
    assert "UIDVALIDITY 已变化" in oplog(config)


def test_bad_input_is_set_aside_and_the_mail_after_it_is_filed(
    imap_account: Account, tmp_path: Path
) -> None:
    t = beijing("2023-06-06T11:00")
    yh = REGISTERED["盐湖区工科局"]
    imap_account.append(bytes(range(1, 256)) * 40, t)  # not a mail at all
    imap_account.append(
        report_mail(yh, "第1周 视频", {"现场.mp4": b"\0" * 300_000}, t, "<big@x>"), t
    )
    imap_account.append(
        report_mail(yh, "第1周进展", {"../../../etc/cron.d/统计表.docx": b"evil"}, t, "<p@x>"), t
    )
    imap_account.append(report_mail(yh, "第1周 补充", {"照片.docx": b"ok"}, t, "<ok@x>"), t)
    config = write_config(tmp_path, imap_account, mailbox__max_message_mb=0.2)
    run(config, "poll", "--now", NOW, account=imap_account)

    by_order = rows(config)
    assert [r["outcome"] for r in by_order] == ["quarantined", "quarantined", "filed", "filed"]
    garbage, oversize = by_order[0], by_order[1]
    assert "邮件格式无法识别" in garbage["reason"]
    assert (config.parent / "data" / "archive" / "_quarantine").is_dir()
    assert "超过上限" in oversize["reason"] and oversize["raw_path"] is None
    data = config.parent / "data"
    for path in archived(config):
        assert path.resolve().is_relative_to(data.resolve())
    assert (data / "archive" / "盐湖区工科局" / "week-1" / "统计表.docx").read_bytes() == b"evil"
    log = oplog(config)
    assert "无法解析" in log and "超过上限" in log


def test_status_judges_on_time_late_and_missing_by_internaldate_in_beijing_time(
    imap_account: Account, tmp_path: Path
) -> None:
    yh, yj, hj = (REGISTERED[u] for u in ("盐湖区工科局", "永济市工科局", "河津市工科局"))
    setup = beijing("2023-05-30T16:00")
    imap_account.append(report_mail(yh, "联络员表及活动方案", {"方案.docx": b"p"}, setup, "<s@x>"), setup)
    on_time = datetime.fromisoformat("2023-06-07T03:59:00+00:00")  # 11:59 in Beijing
    late = datetime.fromisoformat("2023-06-07T04:01:00+00:00")  # 12:01 in Beijing
    imap_account.append(report_mail(yh, "第1周进展", {"1.docx": b"1"}, on_time, "<w1@x>"), on_time)
    imap_account.append(report_mail(yj, "第1周进展", {"2.docx": b"2"}, late, "<w2@x>"), late)
    config = write_config(tmp_path, imap_account)
    run(config, "poll", "--now", "2023-06-07T13:00", account=imap_account)

    report = status(config, "2023-06-07T13:00")
    states = {
        d["id"]: {u["unit"]: u["state"] for u in d["units"]} for d in report["deadlines"]
    }
    assert states["setup"]["盐湖区工科局"] == "on_time"
    assert states["setup"]["永济市工科局"] == "missing"
    assert states["week-1"]["盐湖区工科局"] == "on_time"
    assert states["week-1"]["永济市工科局"] == "late"
    assert states["week-1"][next(u for u, a in REGISTERED.items() if a == hj)] == "missing"
    assert states["week-2"]["盐湖区工科局"] == "not_due"
    week1 = next(d for d in report["deadlines"] if d["id"] == "week-1")
    yanhu = next(u for u in week1["units"] if u["unit"] == "盐湖区工科局")
    assert yanhu["received_at"] == "2023-06-07T11:59:00+08:00"
    assert yanhu["files"] == ["archive/盐湖区工科局/week-1/1.docx"]
    assert week1["passed"] is True and week1["due"] == "2023-06-07T12:00:00+08:00"

    table = run(config, "status", "--now", "2023-06-07T13:00").stdout
    assert "逾期 06-07 12:01" in table and "未报" in table and "未到期" in table


@pytest.mark.parametrize("kill_after_lines", [2, 7, 15])
def test_sigkill_mid_batch_loses_nothing_and_files_nothing_twice(
    imap_account: Account, tmp_path: Path, kill_after_lines: int
) -> None:
    units = list(REGISTERED.values())
    total = 24
    for n in range(total):
        t = beijing(f"2023-06-0{1 + n % 6}T09:{n:02d}")
        files = {f"统计表{n}.docx": bytes([n]) * 20_000, "照片.jpg": b"same photo" * 100}
        imap_account.append(report_mail(units[n % 3], "周进展", files, t, f"<k{n}@x>"), t)
    config = write_config(tmp_path, imap_account, mailbox__batch_size=5)
    log_path = config.parent / "data" / "operator.log"

    def filed_enough() -> bool:
        return log_path.exists() and log_path.read_text(encoding="utf-8").count("] 收到 ") >= kill_after_lines

    poll_killed_when(config, imap_account, filed_enough)

    recorded = rows(config)
    assert sorted(int(r["uid"]) for r in recorded) == list(range(1, total + 1))
    assert [r["outcome"] for r in recorded] == ["filed"] * total
    db = sqlite3.connect(config.parent / "data" / "baosong.sqlite3")
    stored = db.execute("select message, stored_path from files").fetchall()
    db.close()
    assert len(stored) == 2 * total
    # The identical photo is stored once per unit and week folder, however often it came.
    assert len({path for _, path in stored}) == len(archived(config))
    assert not [p for p in (config.parent / "data").rglob(".tmp-*")]


def test_check_config_logs_in_and_says_what_is_wrong(
    imap_account: Account, tmp_path: Path
) -> None:
    config = write_config(tmp_path, imap_account)
    good = run(config, "check-config", account=imap_account)
    assert "已发送 ID" in good.stdout
    bad = subprocess.run(
        [*baosong_command(), "--config", str(config), "check-config"],
        capture_output=True,
        text=True,
        env={**environment(imap_account), "BAOSONG_TEST_IMAP_PASSWORD": "wrong"},
    )
    assert bad.returncode == 1
    assert "授权码" in bad.stderr
    missing = subprocess.run(
        [*baosong_command(), "--config", str(config), "check-config"],
        capture_output=True,
        text=True,
        env={k: v for k, v in environment().items() if k != "BAOSONG_TEST_IMAP_PASSWORD"},
    )
    assert missing.returncode == 2 and "BAOSONG_TEST_IMAP_PASSWORD" in missing.stderr


def test_mail_judged_not_a_report_is_listed_and_can_be_fetched_on_request(
    imap_account: Account, tmp_path: Path
) -> None:
    t = beijing("2023-06-05T15:00")
    # A county liaison writing from a personal mailbox, with photos only and a vague subject.
    imap_account.append(
        report_mail("liaison@qq.test", "照片", {"IMG_0001.jpg": b"\xff\xd8photo"}, t, "<n@x>"), t
    )
    config = write_config(tmp_path, imap_account)
    run(config, "poll", "--now", NOW, account=imap_account)
    listed = run(config, "status", "--list", "not_report", "--now", NOW).stdout
    assert "liaison@qq.test" in listed and "「照片」" in listed
    number = rows(config)[0]["id"]

    asked = run(config, "refetch", str(number), "--now", NOW)
    assert f"#{number}" in asked.stdout
    run(config, "poll", "--now", NOW, account=imap_account)
    row = rows(config)[0]
    assert row["outcome"] == "unsorted" and row["raw_path"]
    assert (config.parent / "data" / "archive" / "_unsorted" / f"{number:06d}" / "IMG_0001.jpg").exists()
    assert run(config, "refetch", str(number), check=False).returncode == 1


def _zip_bomb() -> bytes:
    """40 MB of zeros in a zip of about 40 KB: a ratio no real attachment has."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive, archive.open("统计表.xlsx", "w") as member:
        for _ in range(40):
            member.write(bytes(1 << 20))
    return buffer.getvalue()


BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(b'<!ENTITY lol%d "%s">' % (n, (b"&lol%d;" % (n - 1) if n > 1 else b"&lol;") * 10) for n in range(1, 10))
    + b']><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">&lol9;</w:document>'
)


def _xml_bomb_docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        archive.writestr("word/document.xml", BILLION_LAUGHS)
    return buffer.getvalue()


def test_hostile_and_broken_attachments_are_filed_with_a_warning_and_the_loop_goes_on(
    imap_account: Account, tmp_path: Path
) -> None:
    t = beijing("2023-06-06T11:30")
    yh = REGISTERED["盐湖区工科局"]
    encrypted = (Path(__file__).parent / "cases" / "files" / "word2007-encrypted.docx").read_bytes()
    attachments = {
        "<bomb@x>": {"材料.zip": _zip_bomb()},
        "<xml@x>": {"附件2统计表.docx": _xml_bomb_docx()},
        "<pw@x>": {"附件2统计表.docx": encrypted},
        "<cut@x>": {"附件2统计表.docx": _xml_bomb_docx()[:200]},
        "<fine@x>": {"附件2统计表.xlsx": b"PK not really"},
    }
    for message_id, files in attachments.items():
        imap_account.append(report_mail(yh, "第1周进展", files, t, message_id), t)
    config = write_config(tmp_path, imap_account)
    run(config, "poll", "--now", NOW, account=imap_account)

    db = sqlite3.connect(config.parent / "data" / "baosong.sqlite3")
    found = {
        message_id: [w for (w,) in db.execute(
            "select text from warnings join messages on messages.id = warnings.message where message_id = ?",
            (message_id,),
        )]
        for message_id in attachments
    }
    outcomes = {m: o for m, o in db.execute("select message_id, outcome from messages")}
    db.close()
    assert set(outcomes.values()) == {"filed"}
    assert any("压缩" in w for w in found["<bomb@x>"]), found["<bomb@x>"]
    assert found["<xml@x>"] and found["<pw@x>"] and found["<cut@x>"] and found["<fine@x>"]
    assert any("密码" in w for w in found["<pw@x>"]), found["<pw@x>"]
