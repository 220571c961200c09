"""The store on a real SQLite file and real folders: names, files kept once, duplicates."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from store.db import Duplicate, FileToKeep, Filing, Kept, Seen, Store
from store.model import Kind, Outcome, State
from store.names import numbered, safe_name

NOW = datetime(2023, 6, 7, 4, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "data", f"sqlite:///{tmp_path / 'data' / 'db.sqlite3'}", lambda: NOW)


def seen(uid: str, message_id: str | None = None) -> Seen:
    return Seen("maildir:/x", 0, uid, 100, NOW, message_id, "a@b.cn", "", "周报")


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\Windows\\win.ini", "win.ini"),
        ("附件2：统计表.docx", "附件2：统计表.docx"),
        ("a/b/报表?.xls", "报表_.xls"),
        ("..", "附件"),
        ("", "附件"),
        (".hidden", "hidden"),
        ("con\x00trol\n.doc", "con_trol_.doc"),
    ],
)
def test_safe_name_never_leaves_its_folder(original: str, expected: str) -> None:
    assert safe_name(original) == expected


def test_safe_name_shortens_long_chinese_names_keeping_the_extension() -> None:
    name = safe_name("很长的文件名" * 40 + ".docx")
    assert name.endswith(".docx")
    assert len(name.encode()) <= 200


def test_numbered() -> None:
    assert numbered("报表.docx", 2) == "报表 (2).docx"
    assert numbered("README", 3) == "README (3)"


def test_keep_raw_is_durable_and_a_second_copy_is_a_duplicate(store: Store) -> None:
    first = store.keep_raw(seen("1"), b"Subject: x\n\nbody")
    assert isinstance(first, Kept)
    assert first.raw_path.read_bytes() == b"Subject: x\n\nbody"
    second = store.keep_raw(seen("2"), b"Subject: x\n\nbody")
    assert isinstance(second, Duplicate)
    assert second.original == first.id
    assert [k.id for k in store.pending()] == [first.id]


def test_recording_the_same_uid_twice_gives_the_same_row(store: Store) -> None:
    a = store.record_seen(seen("7"), Outcome.NOT_REPORT, "x")
    b = store.record_seen(seen("7"), Outcome.NOT_REPORT, "x")
    assert a == b
    assert store.outcome_counts() == {Outcome.NOT_REPORT: 1}


def test_original_of_finds_by_message_id(store: Store) -> None:
    row = store.record_seen(seen("1", "<m1@x>"), Outcome.NOT_REPORT, "x")
    assert store.original_of("<m1@x>") == row
    assert store.original_of("<other@x>") is None


def _file(store: Store, uid: str, files: tuple[FileToKeep, ...]) -> list[str]:
    kept = store.keep_raw(seen(uid), f"Subject: {uid}\n\n".encode())
    assert isinstance(kept, Kept)
    filing = Filing(
        Outcome.FILED, "test", "盐湖区工科局", True, "week-1", State.ON_TIME, (Kind.WEEKLY,), files
    )
    return [f.stored_path for f in store.file(kept.id, filing)]


def test_identical_files_are_stored_once_and_different_ones_numbered(store: Store) -> None:
    first = _file(store, "1", (FileToKeep("../../统计表.docx", "application/x", b"one"),))
    again = _file(store, "2", (FileToKeep("另一个名字.docx", "application/x", b"one"),))
    other = _file(store, "3", (FileToKeep("统计表.docx", "application/x", b"two"),))
    assert first == again == ["archive/盐湖区工科局/week-1/统计表.docx"]
    assert other == ["archive/盐湖区工科局/week-1/统计表 (2).docx"]
    assert (store.data_dir / other[0]).read_bytes() == b"two"


def test_a_file_written_before_a_crash_is_reused_not_numbered(store: Store) -> None:
    folder = store.archive_dir / "盐湖区工科局" / "week-1"
    folder.mkdir(parents=True)
    (folder / "表.xls").write_bytes(b"same")
    paths = _file(store, "1", (FileToKeep("表.xls", "application/x", b"same"),))
    assert paths == ["archive/盐湖区工科局/week-1/表.xls"]


def test_set_aside_copies_the_raw_message_to_quarantine(store: Store) -> None:
    kept = store.keep_raw(seen("9"), b"\x00\x01garbage")
    assert isinstance(kept, Kept)
    where = store.set_aside(kept.id, "邮件格式无法识别")
    assert (store.data_dir / where).read_bytes() == b"\x00\x01garbage"
    assert store.outcome_counts() == {Outcome.QUARANTINED: 1}


def test_checkpoint_moves_forward_only_and_resets_with_uidvalidity(store: Store) -> None:
    store.advance_checkpoint("imap://x", 5, 10)
    store.advance_checkpoint("imap://x", 5, 7)
    cp = store.checkpoint("imap://x")
    assert cp is not None and (cp.uidvalidity, cp.last_uid) == (5, 10)
    store.advance_checkpoint("imap://x", 6, 3)
    cp = store.checkpoint("imap://x")
    assert cp is not None and (cp.uidvalidity, cp.last_uid) == (6, 3)


def test_an_older_database_gets_the_indexes_added_since(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'baosong.sqlite3'}"
    Store(tmp_path, url, lambda: NOW).close()
    with sqlite3.connect(tmp_path / "baosong.sqlite3") as db:
        db.execute("DROP INDEX ix_files_sha256")  # as a database made before the index was
    Store(tmp_path, url, lambda: NOW).close()
    with sqlite3.connect(tmp_path / "baosong.sqlite3") as db:
        plan = db.execute("EXPLAIN QUERY PLAN SELECT stored_path FROM files WHERE sha256 = 'x'").fetchall()
    assert "ix_files_sha256" in str(plan)
