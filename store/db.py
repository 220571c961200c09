"""The store: the only place that writes state (database, raw spool, archive folders).

Order matters for the promise that nothing is lost: the raw bytes of a message are written
durably and its row committed (outcome `pending`) before anything parses them; filing then
writes the archive files first and commits the row's outcome last, so a crash at any point
leaves a `pending` row that the next poll processes again from the spool.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    CursorResult,
    Table,
    bindparam,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from store import schema
from store.database import Database
from store.durable import fsync_folder, write_durably
from store.model import Campaign, Kind, Outcome, State
from store.names import numbered, safe_name
from store.schema import from_text, to_text

UNSORTED_FOLDER = "_unsorted"
QUARANTINE_FOLDER = "_quarantine"

K = TypeVar("K")

# The statements run for every message, built once: building one costs several times what
# SQLite takes to run it.
_m = schema.messages.c
_FIRST_WITH_MESSAGE_ID = (
    select(_m.id).where(_m.message_id == bindparam("value"), _m.outcome != Outcome.DUPLICATE).order_by(_m.id).limit(1)
)
_FIRST_WITH_SHA256 = (
    select(_m.id).where(_m.sha256 == bindparam("value"), _m.outcome != Outcome.DUPLICATE).order_by(_m.id).limit(1)
)
_RECORDED_UIDS = select(_m.uid).where(
    _m.source == bindparam("source"),
    _m.uidvalidity == bindparam("uidvalidity"),
    _m.uid.in_(bindparam("uids", expanding=True)),
)
_INSERT_MESSAGE = insert(schema.messages)
_SET_OUTCOME = (
    update(schema.messages)
    .where(_m.id == bindparam("row"))
    .values(
        outcome=bindparam("outcome"),
        reason=bindparam("reason"),
        unit=bindparam("unit"),
        unit_verified=bindparam("unit_verified"),
        deadline_id=bindparam("deadline_id"),
        state=bindparam("state"),
        kinds=bindparam("kinds"),
        updated_at=bindparam("updated_at"),
    )
)
_LATEST_FILED = (
    select(_m.received_at)
    .where(
        _m.outcome == Outcome.FILED,
        _m.unit == bindparam("unit"),
        _m.deadline_id == bindparam("deadline_id"),
        _m.id != bindparam("row"),
    )
    .order_by(_m.received_at.desc())
    .limit(1)
)
_FILING_TABLES = (schema.files, schema.figures, schema.warnings, schema.activities, schema.photos)
_FILED_BEFORE = select(or_(*(exists().where(t.c.message == bindparam("row")) for t in _FILING_TABLES)))
_INSERT_INTO = {t: insert(t) for t in _FILING_TABLES}
_STORED_WITH_SHA256 = select(schema.files.c.stored_path).where(schema.files.c.sha256 == bindparam("sha256"))
_CHECKPOINT = select(schema.checkpoints).where(schema.checkpoints.c.source == bindparam("source"))


@dataclass(frozen=True)
class Seen:
    """What the mailbox listing tells about one message, before its body is fetched."""

    source: str
    uidvalidity: int
    uid: str
    size: int
    received_at: datetime
    message_id: str | None = None
    sender: str = ""
    sender_name: str = ""
    subject: str = ""


@dataclass(frozen=True)
class Kept:
    """A message whose raw bytes are in the spool, waiting to be (re)processed."""

    id: int
    received_at: datetime
    attempts: int
    raw_path: Path


@dataclass(frozen=True)
class Spooled:
    """A message's raw bytes, durably in the spool under their hash, not yet recorded."""

    relative: str  # under data_dir: raw/ab/ab….eml
    sha256: str
    size: int


@dataclass(frozen=True)
class Duplicate:
    """A message recorded as the same as an earlier one; nothing more is done with it."""

    id: int
    original: int


@dataclass(frozen=True)
class FileToKeep:
    original_name: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Activity:
    """A row of 附件3: an activity and where it was published."""

    content: str | None = None
    time: str | None = None
    media: str | None = None
    link: str | None = None
    note: str | None = None


Figures = Mapping[str, int | str | None]


@dataclass(frozen=True)
class PhotoRecord:
    name: str
    taken_at: datetime | None
    phash: str | None
    thumbnail: bytes | None


@dataclass(frozen=True)
class Filing:
    """The decision about one message, ready to be recorded."""

    outcome: Outcome  # FILED or UNSORTED
    reason: str
    unit: str | None = None
    unit_verified: bool = False
    deadline_id: str | None = None
    state: State | None = None
    kinds: tuple[Kind, ...] = ()
    files: tuple[FileToKeep, ...] = field(default=())
    figures: Figures = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    activities: tuple[Activity, ...] = ()
    photos: tuple[PhotoRecord, ...] = ()


@dataclass(frozen=True)
class History:
    """What the submissions filed so far tell a new one: which deadlines each unit answered,
    where each photo was filed, and every number filed for each figure.

    Read once by a poll (`Store.history`) and brought up to date as it files (`filed`): the
    poll holds the mailbox lock, so nobody else files meanwhile. Reading the tables for every
    message would cost more with each message filed.
    """

    on_file: dict[str, set[str]]  # unit -> deadline ids answered (`Store.deadlines_on_file`)
    photos: dict[str, str]  # perceptual hash -> where it was filed
    figures: dict[str, list[int]]  # figure key -> every number filed for it

    def filed(self, filing: Filing, campaign: Campaign) -> None:
        """Count a filing just recorded, as the tables now hold it."""
        unit, deadline = filing.unit, filing.deadline_id
        if filing.outcome is not Outcome.FILED or unit is None or deadline is None:
            return
        if campaign.deadline(deadline).answered_by(filing.kinds):
            self.on_file.setdefault(unit, set()).add(deadline)
        for photo in filing.photos:
            if photo.phash is not None:
                self.photos[photo.phash] = _photo_place(unit, deadline, photo.name)
        for key, value in filing.figures.items():
            if isinstance(value, int):
                self.figures.setdefault(key, []).append(value)


def _photo_place(unit: str, deadline_id: str, name: str) -> str:
    return f"{unit} {deadline_id} “{name}”"


@dataclass(frozen=True)
class StoredFile:
    original_name: str
    stored_path: str  # relative to data_dir
    size: int


@dataclass(frozen=True)
class Checkpoint:
    uidvalidity: int
    last_uid: int


class Store:
    """Database, spool and archive under one data folder."""

    def __init__(self, data_dir: Path, db_url: str, clock: Callable[[], datetime]) -> None:
        self.data_dir = data_dir
        self.archive_dir = data_dir / "archive"
        self.spool_dir = data_dir / "raw"
        self._clock = clock
        data_dir.mkdir(parents=True, exist_ok=True)
        self.db = Database(db_url)
        schema.metadata.create_all(self.db.engine)
        with self.db.begin() as conn:
            # create_all leaves the tables of an older database as they are; an index added
            # since must still be made, or lookups scan the table once a message.
            for table in schema.metadata.sorted_tables:
                for index in table.indexes:
                    index.create(conn, checkfirst=True)

    def close(self) -> None:
        self.db.dispose()

    def transaction(self) -> AbstractContextManager[None]:
        """Everything written through the store or the outbox on this thread until the block
        ends is one commit (`Database.transaction`)."""
        return self.db.transaction()

    def sweep_temporary(self) -> int:
        """Remove half-written files a killed process left behind; call under the poll lock."""
        swept = 0
        for folder in (self.spool_dir, self.archive_dir):
            for leftover in folder.rglob(".tmp-*") if folder.exists() else ():
                leftover.unlink(missing_ok=True)
                swept += 1
        return swept

    # --- what has been seen ------------------------------------------------------------------

    def checkpoint(self, source: str) -> Checkpoint | None:
        with self.db.connect() as conn:
            row = conn.execute(_CHECKPOINT, {"source": source}).first()
        return Checkpoint(row.uidvalidity, row.last_uid) if row else None

    def advance_checkpoint(self, source: str, uidvalidity: int, uid: int) -> None:
        with self.db.begin() as conn:
            _advance_checkpoint(conn, source, uidvalidity, uid)

    def known_uids(self, source: str, uidvalidity: int) -> set[str]:
        m = schema.messages.c
        with self.db.connect() as conn:
            rows = conn.execute(
                select(m.uid).where(m.source == source, m.uidvalidity == uidvalidity)
            )
            return {r.uid for r in rows}

    def original_of(self, message_id: str | None, sha256: str | None = None) -> int | None:
        """The first recorded message with this Message-ID or these raw bytes, if any."""
        with self.db.connect() as conn:
            return _original_of(conn, message_id, sha256)

    def originals_of(self, message_ids: Iterable[str]) -> dict[str, int]:
        """`original_of` for many Message-IDs in one query: those that have one, and its row."""
        m = schema.messages.c
        wanted = sorted(set(message_ids))
        found: dict[str, int] = {}
        with self.db.connect() as conn:
            for start in range(0, len(wanted), 500):  # within any SQLite's limit of variables
                rows = conn.execute(
                    select(m.message_id, func.min(m.id))
                    .where(m.message_id.in_(wanted[start : start + 500]), m.outcome != Outcome.DUPLICATE)
                    .group_by(m.message_id)
                )
                found.update((str(r[0]), int(r[1])) for r in rows)
        return found

    def record_seen(
        self, seen: Seen, outcome: Outcome, reason: str, duplicate_of: int | None = None
    ) -> int:
        """Record a message whose body is not kept: not a report, too large, or a duplicate."""
        return self._insert(seen, outcome=outcome, reason=reason, duplicate_of=duplicate_of)

    def keep_raw(self, seen: Seen, raw: bytes) -> Kept | Duplicate:
        """One message, not recorded yet, through `spool` and `recording` as a poll keeps it:
        pending, or a duplicate of identical bytes kept before (the same mail in another
        folder or under another UID). No attempt is counted."""
        [(_, spooled)] = self.spool([(seen.uid, (raw,))])
        with self.recording() as recording:
            kept = recording.kept(seen, spooled, attempted=False)
        assert kept is not None, f"message {seen.uid} of {seen.source} is recorded already"
        return kept

    def spool(self, bodies: Iterable[tuple[K, Iterable[bytes]]]) -> Iterator[tuple[K, Spooled]]:
        """Write message bodies, each arriving in pieces, durably to the spool under their hash.

        Each goes to a temporary file that is fsync'd and renamed into place, and is yielded
        once its name is durable too (its folder fsync'd), so that a row may name it. Nothing is
        recorded: a crash before `recording()` commits leaves a file no row names, which the
        next poll writes again (the same bytes under the same name) when it fetches the message
        again. A body is consumed before the next one is asked for, so a source may stream them.
        """
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        for key, pieces in bodies:
            fd, tmp = tempfile.mkstemp(dir=self.spool_dir, prefix=".tmp-")
            try:
                digest, size = hashlib.sha256(), 0
                with os.fdopen(fd, "wb") as handle:
                    for piece in pieces:
                        handle.write(piece)
                        digest.update(piece)
                        size += len(piece)
                    handle.flush()
                    os.fsync(handle.fileno())
                relative = Path("raw") / digest.hexdigest()[:2] / f"{digest.hexdigest()}.eml"
                target = self.data_dir / relative
                if not target.parent.is_dir():
                    target.parent.mkdir()
                    fsync_folder(self.spool_dir)  # the new folder's own entry
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            fsync_folder(target.parent)
            yield key, Spooled(str(relative), digest.hexdigest(), size)

    def raw_file(self, relative: str) -> Path:
        """Where a spooled body lives, from the path kept for it (`Spooled.relative`)."""
        return self.data_dir / relative

    @contextmanager
    def recording(self) -> Iterator[Recording]:
        """Record several messages and move a checkpoint in one transaction (one commit).

        Rows are inserted in the order of the calls; nothing is visible to anyone else, or
        survives a crash, until the block ends without an exception.
        """
        with self.db.begin() as conn:
            recording = Recording(self, conn)
            yield recording
            recording.flush()

    def attach_spooled(self, message: int, spooled: Spooled) -> Kept:
        """Give a requeued message the body now in the spool, making it an ordinary pending one."""
        self._set(message, raw_path=spooled.relative, sha256=spooled.sha256)
        m = schema.messages.c
        with self.db.connect() as conn:
            row = conn.execute(select(m.received_at, m.attempts).where(m.id == message)).one()
        return Kept(message, from_text(row.received_at), row.attempts, self.raw_file(spooled.relative))

    def _row(self, seen: Seen, **values: Any) -> dict[str, Any]:
        now = to_text(self._clock())
        return dict(
            source=seen.source,
            uidvalidity=seen.uidvalidity,
            uid=seen.uid,
            message_id=seen.message_id,
            size=seen.size,
            received_at=to_text(seen.received_at),
            sender=seen.sender,
            sender_name=seen.sender_name,
            subject=seen.subject,
            seen_at=now,
            updated_at=now,
            **values,
        )

    def _insert(self, seen: Seen, **values: Any) -> int:
        try:
            with self.db.begin() as conn:
                return _new_id(conn.execute(_INSERT_MESSAGE, self._row(seen, **values)))
        except IntegrityError:
            # Recorded already (a crash after the insert, before the checkpoint moved).
            return self._id_of(seen)

    def _id_of(self, seen: Seen) -> int:
        m = schema.messages.c
        with self.db.connect() as conn:
            return int(
                conn.execute(
                    select(m.id).where(
                        m.source == seen.source,
                        m.uidvalidity == seen.uidvalidity,
                        m.uid == seen.uid,
                    )
                ).scalar_one()
            )

    # --- processing ----------------------------------------------------------------------------

    def pending(self) -> list[Kept]:
        """Kept messages still to be processed (after a crash or a failed attempt)."""
        m = schema.messages.c
        with self.db.connect() as conn:
            rows = conn.execute(
                select(m.id, m.received_at, m.attempts, m.raw_path)
                .where(m.outcome == Outcome.PENDING, m.raw_path.is_not(None))
                .order_by(m.id)
            ).all()
        return [
            Kept(r.id, from_text(r.received_at), r.attempts, self.raw_file(r.raw_path))
            for r in rows
        ]

    def reopen_all(self) -> int:
        """Make every message kept in the spool pending again, to rebuild its submission.

        Duplicates stay duplicates; acknowledgments already sent are keyed by message and so
        are not sent again.
        """
        m = schema.messages.c
        with self.db.begin() as conn:
            result = conn.execute(
                update(schema.messages)
                .where(m.raw_path.is_not(None), m.outcome != Outcome.DUPLICATE)
                .values(outcome=Outcome.PENDING, attempts=0, reason="重新处理", updated_at=to_text(self._clock()))
            )
            return int(result.rowcount)

    def requeue(self, ids: Iterable[int]) -> list[int]:
        """Ask for messages recorded without their body to be fetched by the next poll."""
        m = schema.messages.c
        with self.db.begin() as conn:
            chosen = [
                int(r.id)
                for r in conn.execute(
                    select(m.id).where(
                        m.id.in_(list(ids)),
                        m.raw_path.is_(None),
                        m.outcome.in_([Outcome.NOT_REPORT, Outcome.QUARANTINED]),
                    )
                )
            ]
            conn.execute(
                update(schema.messages)
                .where(m.id.in_(chosen))
                .values(
                    outcome=Outcome.PENDING,
                    reason="按要求重新收取",
                    updated_at=to_text(self._clock()),
                )
            )
        return chosen

    def awaiting_body(self, source: str, uidvalidity: int) -> list[tuple[int, str]]:
        """(row id, uid) of requeued messages of this folder, to fetch now."""
        m = schema.messages.c
        with self.db.connect() as conn:
            rows = conn.execute(
                select(m.id, m.uid).where(
                    m.outcome == Outcome.PENDING,
                    m.raw_path.is_(None),
                    m.source == source,
                    m.uidvalidity == uidvalidity,
                )
            ).all()
        return [(int(r.id), str(r.uid)) for r in rows]

    def begin_attempt(self, message: int) -> int:
        """Count one more processing attempt before it starts, so a crash loop is noticed."""
        m = schema.messages.c
        with self.db.begin() as conn:
            conn.execute(
                update(schema.messages)
                .where(m.id == message)
                .values(attempts=m.attempts + 1, updated_at=to_text(self._clock()))
            )
            return int(conn.execute(select(m.attempts).where(m.id == message)).scalar_one())

    def set_outcome(self, message: int, outcome: Outcome, reason: str) -> None:
        """Record a kept message's outcome when there is nothing to file (e.g. an auto-reply)."""
        self._set(message, outcome=outcome, reason=reason)

    def note_failure(self, message: int, reason: str) -> None:
        """Keep the message pending with the reason of its last failed attempt."""
        self._set(message, reason=reason)

    def set_aside(self, message: int, reason: str) -> str:
        """Quarantine a message: a copy of its raw bytes goes to archive/_quarantine/."""
        raw_path = self._raw_path(message)
        target = self.archive_dir / QUARANTINE_FOLDER / f"{message:06d}.eml"
        if raw_path is not None and not target.exists():
            write_durably(target, (self.data_dir / raw_path).read_bytes())
        self._set(message, outcome=Outcome.QUARANTINED, reason=reason)
        return str(target.relative_to(self.data_dir))

    def file(self, message: int, filing: Filing) -> list[StoredFile]:
        """Write the message's files to its archive folder, then record the decision."""
        if filing.outcome == Outcome.FILED and filing.unit and filing.deadline_id:
            folder = self.archive_dir / safe_name(filing.unit) / safe_name(filing.deadline_id)
        else:
            folder = self.archive_dir / UNSORTED_FOLDER / f"{message:06d}"
        digests = [hashlib.sha256(f.data).hexdigest() for f in filing.files]
        stored = [self._keep_file(folder, f, d) for f, d in zip(filing.files, digests, strict=True)]
        rows: list[tuple[Any, list[dict[str, Any]]]] = [
            (
                schema.figures,
                [
                    {
                        "message": message,
                        "key": key,
                        "number": value if isinstance(value, int) else None,
                        "text": value if isinstance(value, str) else None,
                    }
                    for key, value in filing.figures.items()
                ],
            ),
            (schema.warnings, [{"message": message, "text": text} for text in filing.warnings]),
            (schema.activities, [{"message": message, **vars(a)} for a in filing.activities]),
            (
                schema.photos,
                [
                    {
                        "message": message,
                        "name": photo.name,
                        "taken_at": to_text(photo.taken_at) if photo.taken_at else None,
                        "phash": photo.phash,
                        "thumbnail": photo.thumbnail,
                    }
                    for photo in filing.photos
                ],
            ),
            (
                schema.files,
                [
                    {
                        "message": message,
                        "original_name": original.original_name,
                        "stored_path": kept.stored_path,
                        "sha256": digest,
                        "size": kept.size,
                        "content_type": original.content_type,
                    }
                    for original, kept, digest in zip(filing.files, stored, digests, strict=True)
                ],
            ),
        ]
        with self.db.begin() as conn:
            # Rows of an earlier filing (reprocess) are replaced; a first filing has none.
            if conn.execute(_FILED_BEFORE, {"row": message}).scalar():
                for table in _FILING_TABLES:
                    conn.execute(table.delete().where(table.c.message == message))
            for table, values in rows:
                if values:  # one statement per table, however many rows
                    conn.execute(_INSERT_INTO[table], values)
            conn.execute(
                _SET_OUTCOME,
                {
                    "row": message,
                    "outcome": filing.outcome,
                    "reason": filing.reason,
                    "unit": filing.unit,
                    "unit_verified": filing.unit_verified,
                    "deadline_id": filing.deadline_id,
                    "state": filing.state,
                    "kinds": ",".join(filing.kinds),
                    "updated_at": to_text(self._clock()),
                },
            )
        return stored

    def _keep_file(self, folder: Path, keep: FileToKeep, digest: str) -> StoredFile:
        """Store a file once per folder: the same bytes under any name reuse the stored copy."""
        existing = self._stored_with_hash(folder, digest)
        if existing is None:
            name = safe_name(keep.original_name)
            n = 1
            while True:
                candidate = folder / (name if n == 1 else numbered(name, n))
                if not candidate.exists():
                    write_durably(candidate, keep.data)
                    existing = candidate
                    break
                if _sha256_of(candidate) == digest:  # written before a crash, not yet recorded
                    existing = candidate
                    break
                n += 1
        return StoredFile(
            keep.original_name, str(existing.relative_to(self.data_dir)), len(keep.data)
        )

    def _stored_with_hash(self, folder: Path, digest: str) -> Path | None:
        prefix = str(folder.relative_to(self.data_dir)) + os.sep
        with self.db.connect() as conn:
            for row in conn.execute(_STORED_WITH_SHA256, {"sha256": digest}):
                path: Path = self.data_dir / row.stored_path
                if row.stored_path.startswith(prefix) and path.exists():
                    return path
        return None

    def _raw_path(self, message: int) -> str | None:
        m = schema.messages.c
        with self.db.connect() as conn:
            value = conn.execute(select(m.raw_path).where(m.id == message)).scalar_one()
        return str(value) if value else None

    def _set(self, message: int, **values: Any) -> None:
        with self.db.begin() as conn:
            conn.execute(
                update(schema.messages)
                .where(schema.messages.c.id == message)
                .values(updated_at=to_text(self._clock()), **values)
            )

    # --- senders -------------------------------------------------------------------------------

    def learned_senders(self) -> dict[str, str]:
        with self.db.connect() as conn:
            return {r.address: r.unit for r in conn.execute(select(schema.senders))}

    def learn_sender(self, address: str, unit: str, message: int | None) -> None:
        address = address.strip().lower()
        with self.db.begin() as conn:
            conn.execute(schema.senders.delete().where(schema.senders.c.address == address))
            conn.execute(
                insert(schema.senders).values(address=address, unit=unit, learned_from=message)
            )

    # --- liveness ------------------------------------------------------------------------------

    def poll_started(self, source: str) -> int:
        with self.db.begin() as conn:
            result = conn.execute(
                insert(schema.polls).values(source=source, started_at=to_text(self._clock()))
            )
            return _new_id(result)

    def poll_finished(self, poll: int, error: str | None, fetched: int) -> None:
        with self.db.begin() as conn:
            conn.execute(
                update(schema.polls)
                .where(schema.polls.c.id == poll)
                .values(
                    finished_at=to_text(self._clock()),
                    ok=error is None,
                    error=error,
                    fetched=fetched,
                )
            )

    def deadlines_on_file(self, campaign: Campaign) -> dict[str, set[str]]:
        """Unit -> the deadline ids it has answered with a filed submission."""
        m = schema.messages.c
        on_file: dict[str, set[str]] = {}
        with self.db.connect() as conn:
            rows = conn.execute(
                select(m.unit, m.deadline_id, m.kinds)
                .where(m.outcome == Outcome.FILED, m.deadline_id.is_not(None))
                .distinct()
            )
            for row in rows:
                kinds = tuple(Kind(k) for k in row.kinds.split(",") if k)
                if campaign.deadline(row.deadline_id).answered_by(kinds):
                    on_file.setdefault(row.unit, set()).add(row.deadline_id)
        return on_file

    def failing_since(self, source: str) -> tuple[int, datetime] | None:
        """The first failed poll after the last successful one (id, start), if polls fail now."""
        p = schema.polls.c
        with self.db.connect() as conn:
            last_ok = conn.execute(
                select(func.max(p.id)).where(p.source == source, p.ok.is_(True))
            ).scalar()
            first_failure = conn.execute(
                select(p.id, p.started_at)
                .where(p.source == source, p.ok.is_(False), p.id > (last_ok or 0))
                .order_by(p.id)
            ).first()
        if first_failure is None:
            return None
        return int(first_failure.id), from_text(first_failure.started_at)

    def give_notice(self, key: str) -> bool:
        """Record that something was said; False when it had been said already."""
        try:
            with self.db.begin() as conn:
                conn.execute(
                    insert(schema.notices).values(key=key, given_at=to_text(self._clock()))
                )
        except IntegrityError:
            return False
        return True

    def notice_given(self, key: str) -> bool:
        with self.db.connect() as conn:
            found = conn.execute(
                select(schema.notices.c.key).where(schema.notices.c.key == key)
            ).first()
        return found is not None

    def earlier_submission(self, unit: str, deadline_id: str, before: int) -> datetime | None:
        """Receipt time of the latest filed submission this one (row `before`) supersedes."""
        with self.db.connect() as conn:
            found = conn.execute(_LATEST_FILED, {"unit": unit, "deadline_id": deadline_id, "row": before}).first()
        return from_text(found.received_at) if found else None

    # --- reading for status ------------------------------------------------------------------

    def messages(self, outcomes: Iterable[Outcome] | None = None) -> Sequence[Any]:
        m = schema.messages.c
        query = select(schema.messages).order_by(m.received_at, m.id)
        if outcomes is not None:
            query = query.where(m.outcome.in_([str(o) for o in outcomes]))
        with self.db.connect() as conn:
            return conn.execute(query).all()

    def _rows_of(self, table: Table, messages: Iterable[int]) -> dict[int, list[Any]]:
        """The rows of a per-message table, grouped by message, in insertion order."""
        ids = list(messages)
        found: dict[int, list[Any]] = {i: [] for i in ids}
        if ids:
            with self.db.connect() as conn:
                for row in conn.execute(select(table).where(table.c.message.in_(ids)).order_by(*table.primary_key)):
                    found[row.message].append(row)
        return found

    def files_of(self, messages: Iterable[int]) -> dict[int, list[Any]]:
        return self._rows_of(schema.files, messages)

    def figures_of(self, messages: Iterable[int]) -> dict[int, dict[str, int | str | None]]:
        return {
            message: {r.key: r.number if r.number is not None else r.text for r in rows}
            for message, rows in self._rows_of(schema.figures, messages).items()
        }

    def warnings_of(self, messages: Iterable[int]) -> dict[int, list[str]]:
        return {m: [r.text for r in rows] for m, rows in self._rows_of(schema.warnings, messages).items()}

    def activities_of(self, messages: Iterable[int]) -> dict[int, list[Activity]]:
        return {
            m: [Activity(r.content, r.time, r.media, r.link, r.note) for r in rows]
            for m, rows in self._rows_of(schema.activities, messages).items()
        }

    def history(self, campaign: Campaign) -> History:
        """What the filed submissions tell the next one, read once (see `History`)."""
        return History(self.deadlines_on_file(campaign), self.photo_hashes(), self.figure_history())

    def figure_history(self) -> dict[str, list[int]]:
        """Figure key -> every number filed for it, by any unit."""
        f, m = schema.figures.c, schema.messages.c
        history: dict[str, list[int]] = {}
        with self.db.connect() as conn:
            rows = conn.execute(
                select(f.key, f.number)
                .join(schema.messages, f.message == m.id)
                .where(f.number.is_not(None), m.outcome == Outcome.FILED)
            )
            for row in rows:
                history.setdefault(row.key, []).append(int(row.number))
        return history

    def photo_hashes(self) -> dict[str, str]:
        """Perceptual hash -> where it was filed, for every filed photo."""
        p, m = schema.photos.c, schema.messages.c
        with self.db.connect() as conn:
            rows = conn.execute(
                select(p.phash, m.unit, m.deadline_id, p.name)
                .join(schema.messages, p.message == m.id)
                .where(p.phash.is_not(None), m.outcome == Outcome.FILED)
            )
            return {r.phash: _photo_place(r.unit, r.deadline_id, r.name) for r in rows}

    def outcome_counts(self) -> dict[Outcome, int]:
        m = schema.messages.c
        with self.db.connect() as conn:
            rows = conn.execute(select(m.outcome, func.count()).group_by(m.outcome)).all()
        return {Outcome(r[0]): int(r[1]) for r in rows}

    def last_polls(self, source: str) -> tuple[Any | None, Any | None]:
        """The last successful poll and the last failed one, for liveness."""
        p = schema.polls.c
        with self.db.connect() as conn:
            ok = conn.execute(
                select(schema.polls)
                .where(p.source == source, p.ok.is_(True))
                .order_by(p.id.desc())
            ).first()
            failed = conn.execute(
                select(schema.polls)
                .where(p.source == source, p.ok.is_(False))
                .order_by(p.id.desc())
            ).first()
        return ok, failed


class Recording:
    """Messages recorded in one transaction of `Store.recording()`, in the order of the calls.

    Rows of messages whose body is not kept are inserted together (one statement for a run
    of them), before the next kept one and at the end: the rows' ids follow the calls.
    """

    def __init__(self, store: Store, conn: Connection) -> None:
        self._store = store
        self._conn = conn
        self._waiting: list[dict[str, Any]] = []

    def seen(
        self, seen: Seen, outcome: Outcome, reason: str, duplicate_of: int | None = None
    ) -> None:
        """`Store.record_seen`: a message whose body is not kept (nothing if it is recorded)."""
        self._waiting.append(
            self._store._row(seen, outcome=outcome, reason=reason, duplicate_of=duplicate_of)
        )

    def kept(self, seen: Seen, spooled: Spooled, attempted: bool = True) -> Kept | Duplicate | None:
        """`Store.keep_raw` for a body already spooled.

        With `attempted`, the row starts with its first processing attempt counted, for the
        caller who processes it right after the commit (one write less per message); a crash
        before that counts an attempt that never began. None if the message was recorded
        already: whatever it needs, the poll's pending pass gives it.
        """
        self.flush()
        if self._recorded([seen.uid], seen.source, seen.uidvalidity):
            return None
        original = _original_of(self._conn, None, spooled.sha256)
        if original is not None:
            row = self._insert(
                seen,
                outcome=Outcome.DUPLICATE,
                reason=f"与 #{original} 内容完全相同",
                duplicate_of=original,
                sha256=spooled.sha256,
            )
            return Duplicate(row, original)
        attempts = 1 if attempted else 0
        row = self._insert(
            seen,
            outcome=Outcome.PENDING,
            reason="",
            sha256=spooled.sha256,
            raw_path=spooled.relative,
            attempts=attempts,
        )
        return Kept(row, seen.received_at, attempts, self._store.raw_file(spooled.relative))

    def checkpoint(self, source: str, uidvalidity: int, uid: int) -> None:
        """`Store.advance_checkpoint`, committed with the messages up to `uid`."""
        _advance_checkpoint(self._conn, source, uidvalidity, uid)

    def flush(self) -> None:
        """Insert the rows waiting, but those of messages recorded already."""
        waiting, self._waiting = self._waiting, []
        by_folder: dict[tuple[str, int], list[str]] = {}
        for row in waiting:
            by_folder.setdefault((row["source"], row["uidvalidity"]), []).append(row["uid"])
        recorded = {
            (source, uidvalidity, uid)
            for (source, uidvalidity), uids in by_folder.items()
            for uid in self._recorded(uids, source, uidvalidity)
        }
        rows, taken = [], set(recorded)
        for row in waiting:
            key = (row["source"], row["uidvalidity"], row["uid"])
            if key not in taken:
                taken.add(key)
                rows.append(row)
        if rows:
            self._conn.execute(_INSERT_MESSAGE, rows)

    def _recorded(self, uids: Sequence[str], source: str, uidvalidity: int) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(uids), 500):
            given = {"source": source, "uidvalidity": uidvalidity, "uids": list(uids[start : start + 500])}
            found.update(r.uid for r in self._conn.execute(_RECORDED_UIDS, given))
        return found

    def _insert(self, seen: Seen, **values: Any) -> int:
        return _new_id(self._conn.execute(_INSERT_MESSAGE, self._store._row(seen, **values)))


def _original_of(conn: Connection, message_id: str | None, sha256: str | None) -> int | None:
    for first_with, value in ((_FIRST_WITH_MESSAGE_ID, message_id), (_FIRST_WITH_SHA256, sha256)):
        if value:
            row = conn.execute(first_with, {"value": value}).first()
            if row:
                return int(row.id)
    return None


def _advance_checkpoint(conn: Connection, source: str, uidvalidity: int, uid: int) -> None:
    current = conn.execute(_CHECKPOINT, {"source": source}).first()
    if current is None:
        conn.execute(
            insert(schema.checkpoints).values(source=source, uidvalidity=uidvalidity, last_uid=uid)
        )
    elif current.uidvalidity != uidvalidity or uid > current.last_uid:
        conn.execute(
            update(schema.checkpoints)
            .where(schema.checkpoints.c.source == source)
            .values(uidvalidity=uidvalidity, last_uid=uid)
        )


def _new_id(result: CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
