"""Bodies fetched in batches and in pieces, through a real Dovecot: fewer round trips, bounded
memory, and every decision the same as when each message was fetched and filed on its own."""

from __future__ import annotations

import imaplib
import random
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient

import ingest.sources as sources
from ingest.context import Context
from ingest.cycle import poll
from ingest.progress import Silent
from ingest.sources import ImapSource
from store.config import load_settings
from tests.baosong_cli import IMAP_PASSWORD_ENV, REGISTERED, run, write_config
from tests.formfactory import liaison_docx, random_contact
from tests.servers import Account, wait_until
from tests.test_images import encode, scene
from tests.test_poll_imap import BEIJING, NOW, beijing, oplog, poll_killed_when, report_mail, rows


@pytest.fixture
def fetches(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The data items of every UID FETCH our IMAP source sends, as on the wire (the server
    still answers them)."""
    sent: list[str] = []
    real = imaplib.IMAP4._command  # type: ignore[attr-defined]  # the private method every command goes through

    def counting(self: imaplib.IMAP4, name: str, *args: Any) -> Any:
        if name == "UID" and args[0] == "FETCH":
            items = args[2]
            sent.append(items.decode() if isinstance(items, bytes) else str(items))
        return real(self, name, *args)

    monkeypatch.setattr(imaplib.IMAP4, "_command", counting)
    yield sent


def source_for(account: Account, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ImapSource:
    monkeypatch.setenv(IMAP_PASSWORD_ENV, account.password)
    return ImapSource(load_settings(write_config(tmp_path, account)).mailbox)


def server_copy(account: Account) -> dict[str, bytes]:
    with account.client() as client:
        client.select_folder("INBOX", readonly=True)
        found = client.fetch(client.search(["ALL"]), [b"BODY.PEEK[]"])
    return {str(uid): bytes(data[b"BODY[]"]) for uid, data in found.items()}


def test_bodies_come_several_to_a_fetch_and_a_large_one_in_pieces(
    imap_account: Account, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fetches: list[str]
) -> None:
    monkeypatch.setattr(sources, "BODY_BUDGET", 200_000)
    monkeypatch.setattr(sources, "BODY_PIECE", 100_000)
    t = beijing("2023-06-05T09:00")
    rng = random.Random(5)
    for n in range(6):
        imap_account.append(report_mail("a@b.cn", f"第{n}封", {"a.docx": rng.randbytes(40_000)}, t, f"<{n}@x>"), t)
    imap_account.append(report_mail("a@b.cn", "大", {"v.mp4": rng.randbytes(300_000)}, t, "<big@x>"), t)
    imap_account.append(report_mail("a@b.cn", "末", {"b.docx": rng.randbytes(1000)}, t, "<end@x>"), t)
    expected = server_copy(imap_account)
    source = source_for(imap_account, tmp_path, monkeypatch)

    with source:
        wanted = [(listing.uid, listing.size) for listing in source.listings(sorted(expected, key=int))]
        fetches.clear()
        got = {uid: b"".join(pieces) for uid, pieces in source.bodies(wanted)}

    assert got == expected
    whole = [items for items in fetches if items == "(BODY.PEEK[])"]
    pieces = [items for items in fetches if items != "(BODY.PEEK[])"]
    # 55 kB each: three to a FETCH, three more, then the last one alone after the large one.
    assert len(whole) == 3
    assert len(pieces) == 5 and all("<" in items for items in pieces)  # 410 kB in 100 kB pieces


def test_a_poll_fetches_its_bodies_in_few_commands(
    imap_account: Account, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fetches: list[str]
) -> None:
    t = beijing("2023-06-05T09:00")
    units = list(REGISTERED.values())
    for n in range(12):
        imap_account.append(report_mail(units[n % 3], "第1周进展", {f"表{n}.docx": bytes([n]) * 500}, t, f"<{n}@x>"), t)
    monkeypatch.setenv(IMAP_PASSWORD_ENV, imap_account.password)
    config = write_config(tmp_path, imap_account)
    context = Context.build(load_settings(config), lambda: datetime.fromisoformat(NOW).replace(tzinfo=BEIJING))
    try:
        report = poll(context, Silent())
    finally:
        context.close()

    assert (report.listed, report.fetched, report.filed) == (12, 12, 12)
    assert [items for items in fetches if items == "(BODY.PEEK[])"] == ["(BODY.PEEK[])"]
    assert [r["outcome"] for r in rows(config)] == ["filed"] * 12
    # Each counted its attempt when it was recorded, in the same commit: no extra write.
    assert [r["attempts"] for r in rows(config)] == [1] * 12


def test_a_message_over_the_limit_is_never_downloaded(imap_account: Account, tmp_path: Path) -> None:
    t = beijing("2023-06-06T11:00")
    big = report_mail(REGISTERED["盐湖区工科局"], "第1周 视频", {"现场.mp4": b"\0" * 3_000_000}, t, "<v@x>")
    imap_account.append(big, t)
    config = write_config(tmp_path, imap_account, mailbox__max_message_mb=1)

    run(config, "poll", "--now", NOW, account=imap_account)

    (row,) = rows(config)
    assert row["outcome"] == "quarantined" and row["raw_path"] is None
    assert imap_account.server.bytes_sent(imap_account.username) < len(big) / 10


def test_refetching_an_oversized_message_brings_it_whole_to_the_spool(imap_account: Account, tmp_path: Path) -> None:
    t = beijing("2023-06-06T11:00")
    video = random.Random(3).randbytes(1_500_000)
    imap_account.append(report_mail(REGISTERED["盐湖区工科局"], "第1周 视频", {"现场.mp4": video}, t, "<v@x>"), t)
    config = write_config(tmp_path, imap_account, mailbox__max_message_mb=1)
    run(config, "poll", "--now", NOW, account=imap_account)

    run(config, "refetch", "1", "--now", NOW)
    run(config, "poll", "--now", NOW, account=imap_account)

    (row,) = rows(config)
    assert row["outcome"] == "filed"
    assert (config.parent / "data" / row["raw_path"]).read_bytes() == server_copy(imap_account)["1"]
    assert (config.parent / "data" / "archive" / "盐湖区工科局" / "week-1" / "现场.mp4").read_bytes() == video


def test_the_same_message_twice_in_one_batch_is_filed_once(imap_account: Account, tmp_path: Path) -> None:
    t = beijing("2023-06-05T09:00")
    yh = REGISTERED["盐湖区工科局"]
    mail = report_mail(yh, "第1周进展", {"表.docx": b"PK-1"}, t, "<same@x>")
    imap_account.append(mail, t)
    imap_account.append(b"X-Forwarded-By: filter\r\n" + mail, t)  # other bytes, same Message-ID
    config = write_config(tmp_path, imap_account)

    run(config, "poll", "--now", NOW, account=imap_account)

    first, second = rows(config)
    assert (first["outcome"], second["outcome"]) == ("filed", "duplicate")
    assert second["duplicate_of"] == first["id"] and second["raw_path"] is None


def test_an_address_learned_from_a_liaison_form_counts_for_mail_later_in_the_same_batch(
    imap_account: Account, tmp_path: Path
) -> None:
    t = beijing("2023-05-31T09:00")
    contact = random_contact(random.Random(1), "盐湖区")
    contact["unit"], contact["email"] = "盐湖区工科局", "liaison@qq.test"
    form = {"附件1：“安全生产月”活动联络员表（盐湖区）.docx": liaison_docx(contact)}
    imap_account.append(report_mail(REGISTERED["盐湖区工科局"], "联络员表", form, t, "<l@x>"), t)
    # From the liaison's own mailbox, a vague subject and photos only: nothing but the learned
    # address makes it possibly a report.
    imap_account.append(report_mail("liaison@qq.test", "照片", {"IMG_1.jpg": b"\xff\xd8photo"}, t, "<p@x>"), t)
    config = write_config(tmp_path, imap_account)

    run(config, "poll", "--now", NOW, account=imap_account)

    liaison_form, photo = rows(config)
    assert liaison_form["outcome"] == "filed" and "liaison@qq.test" in oplog(config)
    assert photo["outcome"] != "not_report" and photo["raw_path"]


@pytest.mark.parametrize("kill_when", ["spooling", "recorded"])
def test_sigkill_between_fetch_and_processing_loses_nothing_and_files_nothing_twice(
    imap_account: Account, tmp_path: Path, kill_when: str
) -> None:
    units = list(REGISTERED.values())
    total = 12
    rng = random.Random(7)
    for n in range(total):
        t = beijing(f"2023-06-0{1 + n % 6}T10:{n:02d}")
        files = {f"统计表{n}.docx": rng.randbytes(300_000)}
        imap_account.append(report_mail(units[n % 3], "周进展", files, t, f"<s{n}@x>"), t)
    config = write_config(tmp_path, imap_account)
    data = config.parent / "data"

    def moment() -> bool:
        if kill_when == "spooling":  # a body is being written to the spool
            return any((data / "raw").glob(".tmp-*")) if (data / "raw").exists() else False
        database = data / "baosong.sqlite3"  # the batch is committed: nothing processed yet
        if not database.exists():
            return False
        try:
            return any(r["outcome"] == "pending" for r in rows(config))
        except sqlite3.OperationalError:
            return False

    poll_killed_when(config, imap_account, moment)

    recorded = rows(config)
    assert sorted(int(r["uid"]) for r in recorded) == list(range(1, total + 1))
    assert [r["outcome"] for r in recorded] == ["filed"] * total
    db = sqlite3.connect(data / "baosong.sqlite3")
    stored = db.execute("select stored_path from files").fetchall()
    db.close()
    assert len(stored) == total == len({path for (path,) in stored})
    assert not list(data.rglob(".tmp-*"))


def test_messages_are_filed_while_later_bodies_are_still_being_fetched(
    imap_account: Account, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fetches: list[str]
) -> None:
    """The FETCH's answer holds back after each body until a message is filed: a poll that
    fetched everything before filing anything would wait in vain, and see none filed."""
    t = beijing("2023-06-05T09:00")
    units = list(REGISTERED.values())
    for n in range(6):
        mail = report_mail(units[n % 3], "第1周进展", {f"表{n}.docx": bytes([n]) * 3000}, t, f"<{n}@x>")
        imap_account.append(mail, t)
    monkeypatch.setenv(IMAP_PASSWORD_ENV, imap_account.password)
    config = write_config(tmp_path, imap_account)
    filed_before: list[int] = []
    real = sources._streamed_bodies

    def filed() -> int:
        db = sqlite3.connect(config.parent / "data" / "baosong.sqlite3")
        try:
            return int(db.execute("select count(*) from messages where outcome = 'filed'").fetchone()[0])
        finally:
            db.close()

    def slow_after_the_first(client: IMAPClient, numbers: list[int]) -> Iterator[tuple[int, bytes]]:
        for body in real(client, numbers):
            if filed_before:  # not the first: wait for the poll's thread to file the ones before
                wait_until(lambda: filed() >= len(filed_before), 5.0)
            filed_before.append(filed())
            yield body

    monkeypatch.setattr(sources, "_streamed_bodies", slow_after_the_first)
    context = Context.build(load_settings(config), lambda: datetime.fromisoformat(NOW).replace(tzinfo=BEIJING))
    try:
        report = poll(context, Silent())
    finally:
        context.close()

    assert report.filed == 6
    assert fetches.count("(BODY.PEEK[])") == 1  # all six bodies come in one FETCH
    assert filed_before == [0, 1, 2, 3, 4, 5]


def test_a_photo_filed_earlier_in_the_same_poll_is_known_to_the_next_message(
    imap_account: Account, tmp_path: Path
) -> None:
    photo = encode(scene(5, (640, 480)))
    yh, yj = REGISTERED["盐湖区工科局"], REGISTERED["永济市工科局"]
    t = beijing("2023-06-05T09:00")
    imap_account.append(report_mail(yh, "盐湖区第1周活动照片", {"现场.jpg": photo}, t, "<ph1@x>"), t)
    later = beijing("2023-06-05T10:00")
    imap_account.append(report_mail(yj, "永济市第1周活动照片", {"图片1.jpg": photo}, later, "<ph2@x>"), later)
    config = write_config(tmp_path, imap_account)

    run(config, "poll", "--now", NOW, account=imap_account)

    first, second = rows(config)
    db = sqlite3.connect(config.parent / "data" / "baosong.sqlite3")
    try:
        warned = {m: [t for (t,) in db.execute("select text from warnings where message = ?", (m,))]
                  for m in (first["id"], second["id"])}
    finally:
        db.close()
    assert not any("相同或几乎相同" in w for w in warned[first["id"]])
    assert any("相同或几乎相同" in w and "盐湖区工科局 week-1 “现场.jpg”" in w for w in warned[second["id"]])
