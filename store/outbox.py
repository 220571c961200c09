"""The durable outbox: every mail baosong sends is a row here before it goes anywhere.

A row is keyed by what the mail is (`ack:<message>`, `remind:<unit>:<deadline>:<stage>`,
`digest:<deadline>`) and whom it goes to, so a crash, a restart or a second run can neither send
it twice nor forget it. The exact bytes are stored at enqueue time: a restart sends what was
queued, with the same Message-ID.

A row is `queued` until the sender marks it `sent`, `failed` (a permanent refusal, with the
server's words), `expired` (no longer worth sending) or `cancelled` (made pointless, e.g. the
unit sent its report while the reminder waited). `in_flight` is set just before the sender hands
the bytes over and cleared with the outcome: a row still in flight when a sender starts was cut
off mid-send, and may have reached the recipient already.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from store.database import Database
from store.schema import metadata, to_text


class MailKind(enum.StrEnum):
    ACK = "ack"
    REMIND = "remind"
    DIGEST = "digest"


class MailState(enum.StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        return _STATE_LABELS[self]


_STATE_LABELS = {
    MailState.QUEUED: "待发送",
    MailState.SENT: "已发送",
    MailState.FAILED: "发送失败",
    MailState.EXPIRED: "已过时效",
    MailState.CANCELLED: "已取消",
}

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("recipient", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("state", Text, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("in_flight", Boolean, nullable=False, default=False),
    Column("last_error", Text),
    Column("created_at", Text, nullable=False),
    Column("next_attempt_at", Text, nullable=False),
    Column("not_after", Text),
    Column("finished_at", Text),
    UniqueConstraint("key", "recipient", name="uq_outbox_key_recipient"),
)
Index("ix_outbox_due", outbox.c.state, outbox.c.next_attempt_at)
Index("ix_outbox_kind_recipient", outbox.c.kind, outbox.c.recipient, outbox.c.created_at)

# Run for every message filed, so built once (see store/db.py).
_c = outbox.c
_INSERT = insert(outbox)
_HAS_KEY = select(_c.id).where(_c.key == bindparam("key")).limit(1)
_COUNT_SINCE = select(func.count()).where(
    _c.kind == bindparam("kind"), _c.recipient == bindparam("recipient"), _c.created_at >= bindparam("since")
)
_QUEUED_WITH_PREFIX = select(outbox).where(
    func.substr(_c.key, 1, func.length(bindparam("prefix"))) == bindparam("prefix"),  # no LIKE: no wildcards
    _c.state == MailState.QUEUED,
    _c.in_flight.is_(False),
)


def ack_key(message: int) -> str:
    """The key of the acknowledgment of the message recorded as row `message`."""
    return f"ack:{message}"


def reminder_key(unit: str, deadline_id: str, stage_id: str) -> str:
    return f"remind:{unit}:{deadline_id}:{stage_id}"


def digest_key(deadline_id: str) -> str:
    return f"digest:{deadline_id}"


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@dataclass(frozen=True)
class OutboxItem:
    """One queued or finished mail, as the sender and `status` see it."""

    id: int
    key: str
    kind: MailKind
    recipient: str
    subject: str
    state: MailState
    attempts: int
    in_flight: bool
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime
    not_after: datetime | None
    finished_at: datetime | None
    data: bytes


@dataclass(frozen=True)
class OutboxSummary:
    """What `status` shows about outgoing mail."""

    counts: Mapping[MailState, int]
    problems: Sequence[OutboxItem]  # failed rows, and queued ones that have failed before


class Outbox:
    """The outbox table in the store's database. Each method is one short transaction, or a
    part of the one the thread holds (`Database.transaction`)."""

    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        self._db = db
        self._clock = clock
        metadata.create_all(db.engine)

    # --- writing ---------------------------------------------------------------------------

    def enqueue(
        self,
        key: str,
        kind: MailKind,
        recipient: str,
        message: EmailMessage,
        not_after: datetime | None = None,
    ) -> bool:
        """Queue `message` for `recipient`; False (and nothing queued) if it is queued already.

        `not_after`: the moment after which the mail is no longer worth sending (a reminder
        before a deadline must not arrive after it).
        """
        return self._insert(
            key=key,
            kind=str(kind),
            recipient=recipient.strip().lower(),
            subject=str(message.get("Subject", "")),
            data=message.as_bytes(policy=policy.SMTP),
            state=str(MailState.QUEUED),
            not_after=to_text(not_after) if not_after else None,
        )

    def record_unsendable(self, key: str, kind: MailKind, reason: str) -> bool:
        """Record that a mail was due but had nobody to go to (a unit without an address),
        so that it counts as done and `status` shows why. False if recorded before."""
        return self._insert(
            key=key,
            kind=str(kind),
            recipient="",
            subject="",
            data=b"",
            state=str(MailState.FAILED),
            last_error=reason,
            finished_at=to_text(self._clock()),
        )

    def _insert(self, **values: Any) -> bool:
        now = to_text(self._clock())
        try:
            with self._db.begin() as conn:
                conn.execute(_INSERT, {"created_at": now, "next_attempt_at": now, **values})
        except IntegrityError:  # SQLite undoes just the statement: a held transaction goes on
            return False
        return True

    def begin_attempt(self, item: int) -> None:
        """Record, before the bytes leave, that this row is being handed over."""
        with self._db.begin() as conn:
            conn.execute(
                update(outbox).where(outbox.c.id == item).values(attempts=outbox.c.attempts + 1, in_flight=True)
            )

    def mark_sent(self, item: int) -> None:
        self._finish(item, MailState.SENT, None)

    def mark_failed(self, item: int, error: str) -> None:
        """A permanent refusal: `error` is the server's answer, shown to the operator."""
        self._finish(item, MailState.FAILED, error)

    def mark_expired(self, item: int, reason: str) -> None:
        self._finish(item, MailState.EXPIRED, reason)

    def mark_retry(self, item: int, error: str, backoff: timedelta) -> None:
        """A temporary failure: try again `backoff` from now."""
        later = self._clock() + backoff
        with self._db.begin() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.id == item)
                .values(in_flight=False, last_error=error, next_attempt_at=to_text(later))
            )

    def cancel(self, key_prefix: str, reason: str) -> list[OutboxItem]:
        """Cancel the queued mails whose key starts with `key_prefix`; return what was cancelled."""
        c = outbox.c
        with self._db.begin() as conn:
            rows = conn.execute(_QUEUED_WITH_PREFIX, {"prefix": key_prefix}).all()
            ids = [r.id for r in rows]
            if ids:
                conn.execute(
                    update(outbox)
                    .where(c.id.in_(ids))
                    .values(
                        state=str(MailState.CANCELLED),
                        last_error=reason,
                        finished_at=to_text(self._clock()),
                    )
                )
        return [_item(r) for r in rows]

    def _finish(self, item: int, state: MailState, error: str | None) -> None:
        with self._db.begin() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.id == item)
                .values(
                    state=str(state),
                    in_flight=False,
                    last_error=error,
                    finished_at=to_text(self._clock()),
                )
            )

    # --- reading ---------------------------------------------------------------------------

    def due(self, now: datetime) -> list[OutboxItem]:
        """Queued mails whose next attempt has come, oldest first (expired ones included:
        the sender decides what to do with them)."""
        c = outbox.c
        with self._db.connect() as conn:
            rows = conn.execute(
                select(outbox)
                .where(c.state == MailState.QUEUED, c.next_attempt_at <= to_text(now))
                .order_by(c.next_attempt_at, c.id)
            ).all()
        return [_item(r) for r in rows]

    def has(self, key: str) -> bool:
        with self._db.connect() as conn:
            row = conn.execute(_HAS_KEY, {"key": key}).first()
        return row is not None

    def keys(self, kind: MailKind) -> set[str]:
        """Every key of this kind ever queued, whatever became of it."""
        with self._db.connect() as conn:
            rows = conn.execute(select(outbox.c.key).where(outbox.c.kind == kind).distinct())
            return {r.key for r in rows}

    def count_since(self, kind: MailKind, recipient: str, since: datetime) -> int:
        """Mails of `kind` queued for `recipient` at or after `since` (for rate limits)."""
        given = {"kind": str(kind), "recipient": recipient.strip().lower(), "since": to_text(since)}
        with self._db.connect() as conn:
            return int(conn.execute(_COUNT_SINCE, given).scalar_one())

    def items(self) -> list[OutboxItem]:
        """Every row, oldest first."""
        with self._db.connect() as conn:
            return [_item(r) for r in conn.execute(select(outbox).order_by(outbox.c.id))]

    def summary(self) -> OutboxSummary:
        c = outbox.c
        with self._db.connect() as conn:
            counted = conn.execute(select(c.state, func.count()).group_by(c.state)).all()
            problems = conn.execute(
                select(outbox)
                .where((c.state == MailState.FAILED) | ((c.state == MailState.QUEUED) & c.last_error.is_not(None)))
                .order_by(c.id)
            ).all()
        return OutboxSummary(
            counts={MailState(s): int(n) for s, n in counted},
            problems=[_item(r) for r in problems],
        )


def _item(row: Any) -> OutboxItem:
    created = _moment(row.created_at)
    next_attempt = _moment(row.next_attempt_at)
    assert created is not None and next_attempt is not None  # NOT NULL columns
    return OutboxItem(
        id=row.id,
        key=row.key,
        kind=MailKind(row.kind),
        recipient=row.recipient,
        subject=row.subject,
        state=MailState(row.state),
        attempts=row.attempts,
        in_flight=bool(row.in_flight),
        last_error=row.last_error,
        created_at=created,
        next_attempt_at=next_attempt,
        not_after=_moment(row.not_after),
        finished_at=_moment(row.finished_at),
        data=row.data,
    )
