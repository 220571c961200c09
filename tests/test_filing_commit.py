"""A message's filing and the acknowledgment it causes are one commit, through a real Dovecot."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from ingest.context import Context
from ingest.cycle import poll
from ingest.progress import Silent
from store.config import load_settings
from store.outbox import Outbox
from tests.baosong_cli import IMAP_PASSWORD_ENV, REGISTERED, write_config
from tests.servers import Account
from tests.test_poll_imap import BEIJING, beijing, oplog, report_mail, rows


def poll_at(config: Path, now: str) -> None:
    context = Context.build(load_settings(config), lambda: datetime.fromisoformat(now).replace(tzinfo=BEIJING))
    try:
        poll(context, Silent())
    finally:
        context.close()


def table(config: Path, name: str) -> list[sqlite3.Row]:
    db = sqlite3.connect(config.parent / "data" / "baosong.sqlite3")
    db.row_factory = sqlite3.Row
    try:
        return db.execute(f"select * from {name}").fetchall()
    finally:
        db.close()


def test_a_filing_whose_ack_cannot_be_queued_is_undone_and_filed_with_its_ack_next_time(
    imap_account: Account, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = beijing("2023-06-05T09:00")
    mail = report_mail(REGISTERED["盐湖区工科局"], "盐湖区第1周进展", {"附件2.docx": b"PK-1"}, t, "<a@x>")
    imap_account.append(mail, t)
    monkeypatch.setenv(IMAP_PASSWORD_ENV, imap_account.password)
    config = write_config(tmp_path, imap_account)
    real = Outbox.enqueue

    def disk_full(self: Outbox, *args: Any, **kwargs: Any) -> bool:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Outbox, "enqueue", disk_full)
    poll_at(config, "2023-06-05T09:05")

    [message] = rows(config)
    assert (message["outcome"], message["attempts"]) == ("pending", 1)
    assert "No space left on device" in message["reason"]
    assert table(config, "files") == [] and table(config, "outbox") == []
    assert "第 1 次处理失败" in oplog(config)

    monkeypatch.setattr(Outbox, "enqueue", real)
    poll_at(config, "2023-06-05T09:10")

    [message] = rows(config)
    assert message["outcome"] == "filed"
    assert [f["original_name"] for f in table(config, "files")] == ["附件2.docx"]
    assert [(o["kind"], o["key"]) for o in table(config, "outbox")] == [("ack", f"ack:{message['id']}")]
