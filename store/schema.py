"""The database tables (SQLAlchemy Core). Times are stored as ISO-8601 text in UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()


def to_text(moment: datetime) -> str:
    """How a moment is stored: UTC, fixed width (always microseconds), so text order is time order."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def from_text(text: str) -> datetime:
    return datetime.fromisoformat(text)

# One row for every message the poll has seen, fetched or not. (source, uidvalidity, uid) is the
# mailbox's own identity of it; message_id and sha256 find the same mail arriving again by
# another way (a second folder, a UIDVALIDITY change).
messages = Table(
    "messages",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("source", Text, nullable=False),
    Column("uidvalidity", Integer, nullable=False),
    Column("uid", Text, nullable=False),
    Column("message_id", Text),
    Column("sha256", Text),
    Column("size", Integer, nullable=False),
    Column("received_at", Text, nullable=False),
    Column("sender", Text, nullable=False, default=""),
    Column("sender_name", Text, nullable=False, default=""),
    Column("subject", Text, nullable=False, default=""),
    Column("raw_path", Text),
    Column("outcome", Text, nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("attempts", Integer, nullable=False, default=0),
    Column("unit", Text),
    Column("unit_verified", Boolean, nullable=False, default=False),
    Column("deadline_id", Text),
    Column("state", Text),
    Column("kinds", Text, nullable=False, default=""),
    Column("duplicate_of", Integer, ForeignKey("messages.id")),
    Column("seen_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
    UniqueConstraint("source", "uidvalidity", "uid", name="uq_messages_mailbox_identity"),
)
Index("ix_messages_message_id", messages.c.message_id)
Index("ix_messages_sha256", messages.c.sha256)
Index("ix_messages_outcome", messages.c.outcome)
Index("ix_messages_unit_deadline", messages.c.unit, messages.c.deadline_id)

# Every file a message brought, where it was filed, and the name the sender gave it.
files = Table(
    "files",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("message", Integer, ForeignKey("messages.id"), nullable=False),
    Column("original_name", Text, nullable=False),
    Column("stored_path", Text, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("size", Integer, nullable=False),
    Column("content_type", Text, nullable=False),
)
Index("ix_files_message", files.c.message)
Index("ix_files_sha256", files.c.sha256)  # the same bytes filed again are stored once

# The highest UID processed per IMAP folder and UIDVALIDITY (126.com has no UIDNEXT in STATUS).
checkpoints = Table(
    "checkpoints",
    metadata,
    Column("source", Text, primary_key=True),
    Column("uidvalidity", Integer, nullable=False),
    Column("last_uid", Integer, nullable=False),
)

# Sender addresses learned for a unit (from its liaison form); config's addresses come on top.
senders = Table(
    "senders",
    metadata,
    Column("address", Text, primary_key=True),
    Column("unit", Text, nullable=False),
    Column("learned_from", Integer, ForeignKey("messages.id")),
)

# One row per poll attempt: liveness for `status` and the "failing for long" warning.
polls = Table(
    "polls",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("source", Text, nullable=False),
    Column("started_at", Text, nullable=False),
    Column("finished_at", Text),
    Column("ok", Boolean),
    Column("error", Text),
    Column("fetched", Integer, nullable=False, default=0),
)

# Things said once to the operator (e.g. "the mailbox has been failing for hours"), by key.
notices = Table(
    "notices",
    metadata,
    Column("key", Text, primary_key=True),
    Column("given_at", Text, nullable=False),
)

# The figures of 附件2 read from a message (key as in DOMAIN.md: "1.1" … "7.3"). A blank left
# empty is a row with both values null, never 0.
figures = Table(
    "figures",
    metadata,
    Column("message", Integer, ForeignKey("messages.id"), primary_key=True),
    Column("key", Text, primary_key=True),
    Column("number", Integer),
    Column("text", Text),
)

# What a person should know about a message's content (blank items, unreadable files, …).
warnings = Table(
    "warnings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("message", Integer, ForeignKey("messages.id"), nullable=False),
    Column("text", Text, nullable=False),
)
Index("ix_warnings_message", warnings.c.message)

# Published activities (附件3 rows): where a unit's activity was reported, with the link.
activities = Table(
    "activities",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("message", Integer, ForeignKey("messages.id"), nullable=False),
    Column("content", Text),
    Column("time", Text),
    Column("media", Text),
    Column("link", Text),
    Column("note", Text),
)
Index("ix_activities_message", activities.c.message)

# Photos a message brought: the perceptual hash finds the same photo sent again, the thumbnail
# goes into the digest.
photos = Table(
    "photos",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("message", Integer, ForeignKey("messages.id"), nullable=False),
    Column("name", Text, nullable=False),
    Column("taken_at", Text),
    Column("phash", Text),
    Column("thumbnail", LargeBinary),
)
Index("ix_photos_message", photos.c.message)
