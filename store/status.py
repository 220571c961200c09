"""Who sent what for each deadline: the read model behind `status`, the digest and the export.

`standings()` is pure (records in, standings out); `load_status()` reads the records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from store.db import Activity, Figures, Store
from store.model import Campaign, Deadline, Kind, Outcome, State
from store.schema import from_text


@dataclass(frozen=True)
class SubmissionRecord:
    """A filed message as the status sees it."""

    id: int
    unit: str
    deadline_id: str
    received_at: datetime
    kinds: tuple[Kind, ...]
    files: tuple[str, ...]  # stored paths, relative to data_dir
    verified: bool
    figures: Figures = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    activities: tuple[Activity, ...] = ()


@dataclass(frozen=True)
class UnitStanding:
    unit: str
    state: State
    received_at: datetime | None  # first submission that counts for the deadline
    submissions: int
    kinds: tuple[Kind, ...]
    files: tuple[str, ...]
    figures: dict[str, int | str | None] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeadlineStatus:
    deadline: Deadline
    passed: bool
    units: tuple[UnitStanding, ...]
    activities: tuple[tuple[str, Activity], ...] = ()  # (unit, 附件3 row) of the deadline's mail
    features: tuple[SubmissionRecord, ...] = ()  # feature-activity submissions filed here

    def count(self, state: State) -> int:
        return sum(1 for u in self.units if u.state is state)


@dataclass(frozen=True)
class Liveness:
    last_success: datetime | None
    last_failure: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class Status:
    now: datetime
    deadlines: tuple[DeadlineStatus, ...]
    outcomes: dict[Outcome, int]
    liveness: Liveness


def standings(
    campaign: Campaign, records: Sequence[SubmissionRecord], now: datetime
) -> tuple[DeadlineStatus, ...]:
    """Every unit against every deadline, judged at `now` by the first counting submission."""
    result = []
    for deadline in campaign.deadlines:
        units = []
        for unit in campaign.units:
            mine = [
                r for r in records if r.unit == unit.name and r.deadline_id == deadline.id
            ]
            counting = [r for r in mine if deadline.answered_by(r.kinds)]
            first = min((r.received_at for r in counting), default=None)
            kinds = tuple(k for k in Kind if any(k in r.kinds for r in mine))
            # The latest submission with figures supersedes earlier ones (a correction).
            latest = max((r for r in counting if r.figures), key=lambda r: r.received_at, default=None)
            warnings = latest.warnings if latest else tuple(w for r in mine for w in r.warnings)
            if any(not r.verified for r in mine):
                warnings = ("发件地址未登记，待核实", *warnings)
            units.append(
                UnitStanding(
                    unit=unit.name,
                    state=deadline.state(first, now),
                    received_at=first,
                    submissions=len(mine),
                    kinds=kinds,
                    files=tuple(f for r in mine for f in r.files),
                    figures=dict(latest.figures) if latest else {},
                    warnings=warnings,
                )
            )
        here = [r for r in records if r.deadline_id == deadline.id]
        result.append(
            DeadlineStatus(
                deadline,
                deadline.passed(now),
                tuple(units),
                activities=tuple((r.unit, a) for r in here for a in r.activities),
                features=tuple(r for r in here if Kind.FEATURE in r.kinds),
            )
        )
    return tuple(result)


def load_status(store: Store, campaign: Campaign, now: datetime, source: str) -> Status:
    rows = store.messages([Outcome.FILED])
    ids = [r.id for r in rows]
    files = store.files_of(ids)
    figures = store.figures_of(ids)
    warnings = store.warnings_of(ids)
    activities = store.activities_of(ids)
    records = [
        SubmissionRecord(
            id=r.id,
            unit=r.unit,
            deadline_id=r.deadline_id,
            received_at=from_text(r.received_at),
            kinds=tuple(Kind(k) for k in r.kinds.split(",") if k),
            files=tuple(f.stored_path for f in files[r.id]),
            verified=bool(r.unit_verified),
            figures=figures[r.id],
            warnings=tuple(warnings[r.id]),
            activities=tuple(activities[r.id]),
        )
        for r in rows
    ]
    ok, failed = store.last_polls(source)
    liveness = Liveness(
        last_success=_finished(ok),
        last_failure=_finished(failed),
        last_error=failed.error if failed is not None else None,
    )
    return Status(now, standings(campaign, records, now), store.outcome_counts(), liveness)


def _finished(row: Any | None) -> datetime | None:
    if row is None or row.finished_at is None:
        return None
    return from_text(row.finished_at)
