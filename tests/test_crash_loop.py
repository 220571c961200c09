"""A message on which the program keeps dying is set aside, not tried for ever."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from ingest.context import Context
from ingest.cycle import poll
from ingest.progress import Silent
from ingest.sources import open_source
from store.config import load_settings
from store.db import Kept, Seen
from tests.baosong_cli import REGISTERED, write_config
from tests.mailfactory import county_mail

BEIJING = ZoneInfo("Asia/Shanghai")
NOW = datetime(2023, 6, 6, 11, 0, tzinfo=BEIJING)


def weekly(unit: str, n: int) -> bytes:
    return county_mail(
        sender=REGISTERED[unit],
        sender_name="联络员",
        subject=f"{unit}第1周进展{n}",
        body="附件是本周统计表，请查收。",
        date=NOW.replace(hour=9),
        files=[(f"附件2统计表{n}.docx", f"PK form {n}".encode(), "application/octet-stream")],
    )


def test_a_message_whose_every_attempt_was_cut_short_is_set_aside_and_the_rest_filed(tmp_path: Path) -> None:
    (tmp_path / "mail").mkdir()
    config = write_config(tmp_path, mailbox={"eml_dir": str(tmp_path / "mail")})
    context = Context.build(load_settings(config), lambda: NOW)
    try:
        source = open_source(context.settings.mailbox).key
        kept = []
        for n, unit in enumerate(("盐湖区工科局", "永济市工科局")):
            raw = weekly(unit, n)
            seen = Seen(source, 0, f"{n}.eml", len(raw), NOW.replace(hour=9))
            kept.append(context.store.keep_raw(seen, raw))
        crashing = kept[0]
        assert isinstance(crashing, Kept)
        # Three polls began it and died with it (a decoder crash in this process, or a kill):
        # each counted its attempt, none could record a failure.
        for _ in range(context.settings.mailbox.max_attempts):
            context.store.begin_attempt(crashing.id)
        report = poll(context, Silent())
    finally:
        context.close()

    assert (report.quarantined, report.filed) == (1, 1)
    db = sqlite3.connect(tmp_path / "data" / "baosong.sqlite3")
    try:
        outcomes = db.execute("select id, outcome, reason from messages order by id").fetchall()
    finally:
        db.close()
    assert outcomes[0][:2] == (crashing.id, "quarantined") and "中断" in outcomes[0][2]
    assert outcomes[1][1] == "filed"
    assert (tmp_path / "data" / "archive" / "_quarantine" / f"{crashing.id:06d}.eml").exists()
    log = (tmp_path / "data" / "operator.log").read_text(encoding="utf-8")
    assert f"邮件 #{crashing.id} 已开始处理 3 次" in log and "已隔离" in log
