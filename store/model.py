"""The campaign model: units, deadlines, kinds and states.

Frozen dataclasses with pure methods and no I/O. This is the one module of ours that every
package may import (parsers included), so it holds nothing but the domain's vocabulary and the
root of our exception tree.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, tzinfo


class BaosongError(Exception):
    """Root of every error baosong raises on purpose.

    The message is written for the clerk or operator: what went wrong and what to do.
    """


class Kind(enum.StrEnum):
    """What a submission is, as the notice names the things units send."""

    LIAISON = "liaison"
    PLAN = "plan"
    WEEKLY = "weekly"
    FEATURE = "feature"
    SUMMARY = "summary"

    @property
    def label(self) -> str:
        return _KIND_LABELS[self]


_KIND_LABELS = {
    Kind.LIAISON: "联络员表",
    Kind.PLAN: "活动方案",
    Kind.WEEKLY: "周进展",
    Kind.FEATURE: "特色活动",
    Kind.SUMMARY: "活动总结",
}


class ProblemKind(enum.StrEnum):
    """What is wrong with something a unit sent; the acknowledgment's advice for each kind is
    in notify's templates (`_advice.j2`)."""

    BLANK = "blank"  # blanks of 附件2 left empty
    UNREADABLE = "unreadable"  # a document that could not be opened
    SUSPICIOUS = "suspicious"  # a figure or a photo that looks wrong
    FORM_MISSING = "form_missing"  # an expected form is not among the files
    OTHER = "other"


class State(enum.StrEnum):
    """Where a unit stands against one deadline."""

    ON_TIME = "on_time"
    LATE = "late"
    MISSING = "missing"
    NOT_DUE = "not_due"

    @property
    def label(self) -> str:
        return _STATE_LABELS[self]


_STATE_LABELS = {
    State.ON_TIME: "按时",
    State.LATE: "逾期",
    State.MISSING: "未报",
    State.NOT_DUE: "未到期",
}


class Outcome(enum.StrEnum):
    """What became of one fetched (or merely seen) message. Every message gets exactly one."""

    PENDING = "pending"  # raw kept, not yet processed (or processing crashed)
    FILED = "filed"  # unit and deadline known, files in archive/<unit>/<deadline>/
    UNSORTED = "unsorted"  # looks like a report, but unit or deadline unknown
    QUARANTINED = "quarantined"  # could not be processed; set aside for a person
    NOT_REPORT = "not_report"  # everyday mail of the mailbox; body never downloaded
    DUPLICATE = "duplicate"  # the same message was already recorded (other folder, UIDVALIDITY)

    @property
    def label(self) -> str:
        return _OUTCOME_LABELS[self]


_OUTCOME_LABELS = {
    Outcome.PENDING: "待处理",
    Outcome.FILED: "已归档",
    Outcome.UNSORTED: "待分拣",
    Outcome.QUARANTINED: "已隔离",
    Outcome.NOT_REPORT: "非报送邮件",
    Outcome.DUPLICATE: "重复邮件",
}


@dataclass(frozen=True)
class Unit:
    """A reporting unit (a county office or the development zone's department)."""

    name: str
    aliases: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """Every name the unit goes by, longest first so that 运城开发区 wins over 开发区."""
        return tuple(sorted({self.name, *self.aliases}, key=len, reverse=True))


@dataclass(frozen=True)
class Deadline:
    """One due moment of the campaign and what is expected by then."""

    id: str
    label: str
    due: datetime  # timezone-aware
    expects: tuple[Kind, ...]

    def passed(self, now: datetime) -> bool:
        return now > self.due

    def answered_by(self, kinds: tuple[Kind, ...]) -> bool:
        """A submission answers this deadline when it carries something expected, or when
        nobody could tell what it carries (a feature-activity photo alone does not)."""
        return not kinds or bool(set(kinds) & set(self.expects))

    def state(self, first_received: datetime | None, now: datetime) -> State:
        """Judge a unit against this deadline from the receipt time of its first submission."""
        if first_received is None:
            return State.MISSING if self.passed(now) else State.NOT_DUE
        return State.ON_TIME if first_received <= self.due else State.LATE


@dataclass(frozen=True)
class Campaign:
    """The calendar and the units of one reporting campaign."""

    name: str
    timezone: tzinfo
    start: datetime  # timezone-aware; mail received earlier is not part of the campaign
    deadlines: tuple[Deadline, ...]
    units: tuple[Unit, ...] = field(default=())

    def deadline(self, deadline_id: str) -> Deadline:
        for d in self.deadlines:
            if d.id == deadline_id:
                return d
        known = "、".join(d.id for d in self.deadlines)
        raise BaosongError(f"没有编号为 {deadline_id} 的报送节点；已配置的有：{known}")

    def unit(self, name: str) -> Unit:
        for u in self.units:
            if u.name == name:
                return u
        raise BaosongError(f"没有名为 {name} 的报送单位，请检查 config.yaml 的 units")

    def latest_passed(self, now: datetime) -> Deadline | None:
        passed = [d for d in self.deadlines if d.passed(now)]
        return passed[-1] if passed else None

    def local(self, moment: datetime) -> datetime:
        """The moment in the campaign's time zone (Beijing time for the seed)."""
        return moment.astimezone(self.timezone)
