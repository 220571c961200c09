"""Store.spool and Store.recording: bodies kept durably in pieces, messages recorded in one commit."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from store.config import load_settings
from store.db import Activity, Duplicate, FileToKeep, Filing, Kept, PhotoRecord, Seen, Store
from store.model import Kind, Outcome, State

NOW = datetime(2023, 6, 7, 4, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "data", f"sqlite:///{tmp_path / 'data' / 'db.sqlite3'}", lambda: NOW)


def seen(uid: str, message_id: str | None = None) -> Seen:
    return Seen("imap://x", 7, uid, 100, NOW, message_id, "a@b.cn", "", "周报")


def outcomes(store: Store) -> list[tuple[str, str]]:
    return [(r.uid, r.outcome) for r in store.messages()]


def test_spool_writes_each_body_under_its_hash_from_its_pieces(store: Store) -> None:
    bodies = [("1", [b"Subject: a\r\n", b"\r\n", b"body"]), ("2", iter([b"Subject: b\r\n\r\nx"]))]

    spooled = dict(store.spool(bodies))

    for key, raw in (("1", b"Subject: a\r\n\r\nbody"), ("2", b"Subject: b\r\n\r\nx")):
        digest = hashlib.sha256(raw).hexdigest()
        assert spooled[key].sha256 == digest and spooled[key].size == len(raw)
        assert (store.data_dir / spooled[key].relative).read_bytes() == raw
        assert spooled[key].relative == f"raw/{digest[:2]}/{digest}.eml"
    assert not list(store.spool_dir.rglob(".tmp-*"))


def test_a_body_that_breaks_off_leaves_no_file_behind(store: Store) -> None:
    def pieces() -> Iterator[bytes]:
        yield b"Subject: a\r\n"
        raise ConnectionError("dropped")

    with pytest.raises(ConnectionError):
        list(store.spool([("1", pieces())]))
    assert not [p for p in store.spool_dir.rglob("*") if p.is_file()]


def test_recording_keeps_the_order_counts_the_first_attempt_and_moves_the_checkpoint(store: Store) -> None:
    (_, body), (_, same) = store.spool([("a", [b"Subject: a\r\n\r\n1"]), ("b", [b"Subject: a\r\n\r\n1"])])
    with store.recording() as recording:
        recording.seen(seen("1", "<n@x>"), Outcome.NOT_REPORT, "不像报送")
        kept = recording.kept(seen("2", "<k@x>"), body)
        recording.seen(seen("3"), Outcome.QUARANTINED, "太大")
        copy = recording.kept(seen("4"), same)
        recording.checkpoint("imap://x", 7, 4)

    assert outcomes(store) == [("1", "not_report"), ("2", "pending"), ("3", "quarantined"), ("4", "duplicate")]
    assert isinstance(kept, Kept) and kept.attempts == 1
    assert kept.raw_path.read_bytes() == b"Subject: a\r\n\r\n1"
    assert [k.id for k in store.pending()] == [kept.id] and store.pending()[0].attempts == 1
    assert isinstance(copy, Duplicate) and copy.original == kept.id
    checkpoint = store.checkpoint("imap://x")
    assert checkpoint is not None and (checkpoint.uidvalidity, checkpoint.last_uid) == (7, 4)
    assert store.originals_of(["<n@x>", "<k@x>", "<none@x>"]) == {"<n@x>": 1, "<k@x>": kept.id}


def test_an_interrupted_recording_records_nothing(store: Store) -> None:
    ((_, body),) = store.spool([("a", [b"Subject: a\r\n\r\n1"])])
    with pytest.raises(RuntimeError), store.recording() as recording:
        recording.seen(seen("1"), Outcome.NOT_REPORT, "不像报送")
        recording.kept(seen("2"), body)
        recording.checkpoint("imap://x", 7, 2)
        raise RuntimeError("killed")

    assert outcomes(store) == []
    assert store.checkpoint("imap://x") is None


def test_a_message_recorded_already_is_not_recorded_again(store: Store) -> None:
    ((_, body),) = store.spool([("a", [b"Subject: a\r\n\r\n1"])])
    store.record_seen(seen("1"), Outcome.NOT_REPORT, "不像报送")
    first = store.keep_raw(seen("2"), b"Subject: b\r\n\r\n2")
    with store.recording() as recording:
        recording.seen(seen("1"), Outcome.NOT_REPORT, "不像报送")
        again = recording.kept(seen("2"), body)
        recording.seen(seen("3"), Outcome.NOT_REPORT, "不像报送")
        recording.seen(seen("3"), Outcome.NOT_REPORT, "不像报送")

    assert again is None and isinstance(first, Kept)
    assert outcomes(store) == [("1", "not_report"), ("2", "pending"), ("3", "not_report")]


def test_attach_spooled_gives_a_requeued_message_its_body(store: Store) -> None:
    store.record_seen(seen("1"), Outcome.NOT_REPORT, "不像报送")
    (number,) = store.requeue([1])
    ((_, body),) = store.spool([("1", [b"Subject: a\r\n\r\n", b"1"])])

    kept = store.attach_spooled(number, body)

    assert kept.raw_path.read_bytes() == b"Subject: a\r\n\r\n1" and kept.attempts == 0
    assert [k.id for k in store.pending()] == [number]


def test_filing_a_message_again_replaces_its_rows(store: Store) -> None:
    kept = store.keep_raw(seen("1"), b"Subject: 1\r\n\r\nx")
    assert isinstance(kept, Kept)

    def filing(figure: int, files: tuple[FileToKeep, ...]) -> Filing:
        return Filing(
            Outcome.FILED, "test", "盐湖区工科局", True, "week-1", State.ON_TIME, (Kind.WEEKLY,), files,
            {"1.1": figure}, ("一条提醒",), (Activity("宣讲"),), (PhotoRecord("a.jpg", None, "ab", None),),
        )

    store.file(kept.id, filing(3, (FileToKeep("a.docx", "application/x", b"a"), FileToKeep("b.docx", "x", b"b"))))
    store.file(kept.id, filing(5, (FileToKeep("a.docx", "application/x", b"a"),)))  # reprocessed

    assert store.figures_of([kept.id]) == {kept.id: {"1.1": 5}}
    assert store.warnings_of([kept.id]) == {kept.id: ["一条提醒"]}
    assert store.activities_of([kept.id]) == {kept.id: [Activity("宣讲")]}
    assert [f.original_name for f in store.files_of([kept.id])[kept.id]] == ["a.docx"]
    assert store.photo_hashes() == {"ab": "盐湖区工科局 week-1 “a.jpg”"}


def test_history_kept_up_to_date_is_what_the_tables_say(store: Store) -> None:
    """A poll reads the history once and counts each filing into it; read again from the
    tables after the filings, it must be the same."""
    campaign = load_settings(Path(__file__).parents[1] / "config.yaml").campaign_model()
    history = store.history(campaign)
    filings = [
        Filing(Outcome.FILED, "t", "盐湖区工科局", True, "week-1", State.ON_TIME, (Kind.WEEKLY,),
               figures={"1.1": 3, "1.2": "若干"}, photos=(PhotoRecord("a.jpg", None, "ab", None),)),
        Filing(Outcome.FILED, "t", "永济市工科局", True, "week-1", State.LATE, (Kind.WEEKLY,),
               figures={"1.1": 40},
               photos=(PhotoRecord("b.jpg", None, "cd", None), PhotoRecord("c.png", None, None, None))),
        # A feature-activity report alone does not answer week-1.
        Filing(Outcome.FILED, "t", "河津市工科局", True, "week-1", State.ON_TIME, (Kind.FEATURE,),
               figures={"1.1": 7}),
        Filing(Outcome.UNSORTED, "no unit", figures={"1.1": 999}, photos=(PhotoRecord("d.jpg", None, "ef", None),)),
        Filing(Outcome.FILED, "t", "盐湖区工科局", True, "setup", State.ON_TIME, (Kind.LIAISON, Kind.PLAN),
               photos=(PhotoRecord("a2.jpg", None, "ab", None),)),
    ]
    for n, filing in enumerate(filings, start=1):
        kept = store.keep_raw(seen(str(n)), f"Subject: {n}\r\n\r\nx".encode())
        assert isinstance(kept, Kept)
        store.file(kept.id, filing)
        history.filed(filing, campaign)

    assert history == store.history(campaign)
    assert history.on_file == {"盐湖区工科局": {"week-1", "setup"}, "永济市工科局": {"week-1"}}
    assert history.photos["ab"] == "盐湖区工科局 setup “a2.jpg”"
    assert sorted(history.figures["1.1"]) == [3, 7, 40]
