"""`baosong run`: catch-up after downtime on a simulated clock, and the real process's life."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from ingest.daemon import Daemon
from store.config import load_settings
from tests.baosong_cli import REGISTERED, baosong_command, environment, run, write_config
from tests.mailfactory import county_mail
from tests.servers import Account, SmtpSink

BEIJING = ZoneInfo("Asia/Shanghai")
YANHU = REGISTERED["盐湖区工科局"]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BEIJING)


def report(sent: datetime, subject: str = "第1周进展") -> bytes:
    return county_mail(
        sender=YANHU, sender_name="盐湖区", subject=subject, body="见附件", date=sent,
        files=[("附件2.docx", b"PK form", "application/octet-stream")], style="webmail_utf8",
    )


def outbox_files(folder: Path) -> list[str]:
    return sorted(p.name for p in (folder / "outbox").glob("*.eml")) if (folder / "outbox").exists() else []


def test_after_downtime_across_a_deadline_each_missed_reminder_goes_once(tmp_path: Path) -> None:
    config = write_config(tmp_path, mailbox={"eml_dir": str(tmp_path / "mail")})
    (tmp_path / "mail").mkdir()
    settings = load_settings(config)
    moment = at("2023-06-06T09:00")
    daemon = Daemon(settings, lambda: moment)

    daemon.due_job()  # before the eve stage of week-1 (06-06 10:00): nothing for week-1
    assert [n for n in outbox_files(tmp_path) if "week-1" in n] == []

    # Down from 09:00 on the 6th until 15:00 on the 7th: the eve and two-hour stages were
    # missed, and it is now after week-1's 12:00 deadline. Only the overdue reminder still
    # makes sense, once per registered unit that has nothing on file.
    moment = at("2023-06-07T15:00")
    daemon.due_job()
    daemon.due_job()
    week1 = [n for n in outbox_files(tmp_path) if n.startswith("remind_") and "week-1" in n]
    assert len(week1) == len(REGISTERED)
    assert all("overdue" in n for n in week1), week1
    # The digest was due at 14:00, two hours after the deadline: sent late, once.
    digests = [n for n in outbox_files(tmp_path) if n.startswith("digest_")]
    assert digests == ["digest_setup~leader@example.gov.cn.eml", "digest_week-1~leader@example.gov.cn.eml"]


def test_run_polls_acknowledges_and_stops_cleanly_on_sigterm(
    imap_account: Account, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    imap_account.append(report(at("2023-06-06T10:00")), at("2023-06-06T10:00"))
    config = write_config(tmp_path, imap_account, smtp_sink, notify__throttle_per_minute=6000)
    command = [*baosong_command(), "--config", str(config), "run", "--now", "2023-06-06T10:30"]
    env = environment(imap_account, smtp_sink)
    daemon = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        acks = smtp_sink.wait_for(1, timeout=30)
        assert acks[0].rcpt_tos == [YANHU]
        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
        assert second.returncode == 1 and "已在运行" in second.stderr
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, err
    log = (tmp_path / "data" / "operator.log").read_text(encoding="utf-8")
    assert "baosong 已启动" in log and log.rstrip().endswith("baosong 已停止")
    db = sqlite3.connect(tmp_path / "data" / "baosong.sqlite3")
    outcomes = db.execute("select outcome from messages").fetchall()
    db.close()
    assert outcomes == [("filed",)]


def test_sigterm_mid_poll_finishes_the_message_in_hand(imap_account: Account, tmp_path: Path) -> None:
    for n in range(30):
        sent = at(f"2023-06-05T10:{n:02d}")
        imap_account.append(report(sent, f"第1周进展（{n}）"), sent)
    config = write_config(tmp_path, imap_account, mailbox__batch_size=1)
    daemon = subprocess.Popen(
        [*baosong_command(), "--config", str(config), "run", "--now", "2023-06-06T10:30"],
        env=environment(imap_account), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    log = tmp_path / "data" / "operator.log"
    deadline = time.monotonic() + 30
    # The first message filed ("[信息] 收到 …"; a reminder's subject may say 尚未收到).
    while time.monotonic() < deadline and (not log.exists() or "] 收到 " not in log.read_text(encoding="utf-8")):
        time.sleep(0.01)
    daemon.send_signal(signal.SIGTERM)
    _, err = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, err
    data = tmp_path / "data"

    def recorded() -> list[tuple[str, str | None]]:
        db = sqlite3.connect(data / "baosong.sqlite3")
        try:
            return db.execute("select outcome, raw_path from messages").fetchall()
        finally:
            db.close()

    # Nothing half-done: each message is filed, or kept whole in the spool for the next start.
    rows = recorded()
    assert rows and {outcome for outcome, _ in rows} <= {"filed", "pending"}
    assert all((data / raw).is_file() for outcome, raw in rows if outcome == "pending" and raw)
    run(config, "poll", "--now", "2023-06-06T10:30", account=imap_account)
    assert [outcome for outcome, _ in recorded()] == ["filed"] * 30
