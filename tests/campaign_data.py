"""A replayed campaign for the 汇总表 and digest tests: filings through the real store.

`replay(store, through)` files what fourteen county offices sent up to a deadline — on time,
late, not at all, corrected, without a readable form, with 附件3 links and a feature activity —
through `Store.keep_raw` and `Store.file`, the path the poll takes. It returns the filings, so a
test can add the figures up by itself and compare with what baosong made of them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from parsers.forms import builtin_definitions, definition_for
from store.db import Activity, FileToKeep, Filing, Seen, Store
from store.model import Campaign, Kind, Outcome, State
from store.status import Liveness, Status, SubmissionRecord, standings

BEIJING = ZoneInfo("Asia/Shanghai")
DUE = {
    "setup": "2023-05-31T23:59:59",
    "week-1": "2023-06-07T12:00",
    "week-2": "2023-06-14T12:00",
    "week-3": "2023-06-21T12:00",
    "week-4": "2023-06-28T12:00",
    "summary": "2023-06-30T23:59:59",
}
UNITS = (
    "盐湖区工科局", "永济市工科局", "河津市工科局", "临猗县工科局", "万荣县工科局", "闻喜县工科局", "稷山县工科局",
    "新绛县工科局", "绛县工科局", "垣曲县工科局", "夏县工科局", "平陆县工科局", "芮城县工科局", "运城开发区产业发展部",
)
# Each blank of 附件2 with the word printed after it: counts of people run into the hundreds.
BLANKS = tuple(b for item in definition_for(builtin_definitions(), "statistics").items for b in item.blanks)
FIGURE_KEYS = tuple(b.key for b in BLANKS)

# Who does what, per deadline: late units with their receipt time, units that never send.
LATE = {"setup": {"平陆县工科局": "2023-06-01T09:10"}, "week-1": {"万荣县工科局": "2023-06-07T13:20"},
        "week-2": {"平陆县工科局": "2023-06-14T13:05"}, "week-3": {}, "week-4": {}, "summary": {}}
MISSING = {"setup": {"夏县工科局"}, "week-1": {"夏县工科局", "平陆县工科局"}, "week-2": {"夏县工科局"},
           "week-3": {"夏县工科局"}, "week-4": set(), "summary": {"夏县工科局", "绛县工科局"}}
NO_FORM = {"week-1": {"临猗县工科局"}}  # reported, but no 附件2 could be read
CORRECTED = {"week-2": "盐湖区工科局"}  # sends twice; the second supersedes
ACTIVITY_NAMES = ("安全知识进企业", "应急演练观摩", "安全生产大家谈", "安全宣传咨询日现场活动")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BEIJING)


@dataclass(frozen=True)
class Sent:
    """One filed submission, as the test knows it."""

    unit: str
    deadline_id: str
    received_at: datetime
    kinds: tuple[Kind, ...]
    figures: dict[str, int | str | None] = field(default_factory=dict)
    activities: tuple[Activity, ...] = ()
    warnings: tuple[str, ...] = ()


def figures_for(unit: str, deadline_id: str, seed: int = 0) -> dict[str, int | str | None]:
    """Plausible figures with about a quarter of the blanks left empty (absent)."""
    rng = random.Random(f"{unit}/{deadline_id}/{seed}")
    found: dict[str, int | str | None] = {}
    for blank in BLANKS:
        if rng.random() < 0.25:
            continue
        if blank.text:
            found[blank.key] = rng.choice(ACTIVITY_NAMES)
        elif blank.unit.startswith("人"):
            found[blank.key] = rng.randrange(0, 900)
        else:
            found[blank.key] = rng.randrange(0, 12)
    return found


def plan(through: str) -> list[Sent]:
    """Everything the units send up to the deadline `through`, in order of receipt."""
    sent: list[Sent] = []
    ids = list(DUE)
    for deadline_id in ids[: ids.index(through) + 1]:
        due = at(DUE[deadline_id])
        weekly = deadline_id.startswith("week-")
        kinds = (Kind.WEEKLY,) if weekly else (Kind.LIAISON, Kind.PLAN) if deadline_id == "setup" else (Kind.SUMMARY,)
        for index, unit in enumerate(UNITS):
            if unit in MISSING[deadline_id]:
                continue
            late = LATE[deadline_id].get(unit)
            received = at(late) if late else due.replace(hour=9, minute=0) + timedelta(minutes=7 * index)
            figures = figures_for(unit, deadline_id) if weekly and unit not in NO_FORM.get(deadline_id, ()) else {}
            warnings = ("附件2 第3项 第4空 未填写",) if weekly and index % 5 == 1 else ()
            activities = _activities(unit, deadline_id, index) if weekly else ()
            sent.append(Sent(unit, deadline_id, received, kinds, figures, activities, warnings))
            if CORRECTED.get(deadline_id) == unit:
                sent.append(Sent(unit, deadline_id, received.replace(hour=11, minute=30), kinds,
                                 figures_for(unit, deadline_id, seed=1), activities))
        if weekly:
            feature: dict[str, int | str | None] = {
                "7.1": f"危化企业应急演练观摩（第{deadline_id[-1]}周）", "7.2": 1, "7.3": 120
            }
            sent.append(Sent("稷山县工科局", deadline_id, due - timedelta(days=2), (Kind.FEATURE,), feature))
    return sent


def _activities(unit: str, deadline_id: str, index: int) -> tuple[Activity, ...]:
    if index % 3:
        return ()
    week = deadline_id.removeprefix("week-")
    return (
        Activity("开展习近平总书记关于安全生产重要论述宣讲活动", f"6月{index + 1}日", "运城日报",
                 f"https://www.yuncheng.test/news/2023/06/{unit}/{week}/article-{index}-with-a-rather-long-path.html"),
        Activity(f"{unit}企业主要负责人“五带头”宣传报道", f"6月{index + 2}日", "县融媒体中心", "见附件图片"),
    )


def replay(store: Store, through: str) -> list[Sent]:
    """File the plan up to `through` into `store`; return what was filed."""
    sent = plan(through)
    for number, item in enumerate(sent, start=1):
        seen = Seen("maildir:/replay", 1, str(number), 1000, item.received_at, f"<r{number}@county.test>",
                    f"unit{UNITS.index(item.unit)}@county.test", "联络员", f"{item.unit}{item.deadline_id}")
        kept = store.keep_raw(seen, f"Subject: {number}\r\n\r\n{item}".encode())
        due = at(DUE[item.deadline_id])
        filing = Filing(
            Outcome.FILED,
            "回放",
            item.unit,
            True,
            item.deadline_id,
            State.ON_TIME if item.received_at <= due else State.LATE,
            item.kinds,
            (FileToKeep(f"{item.unit}统计表.docx", "application/octet-stream", f"{number}".encode()),),
            item.figures,
            item.warnings,
            item.activities,
        )
        store.file(kept.id, filing)
    return sent



# --- the truth, worked out from the plan without baosong's code --------------------------------


def expected_figures(sent: list[Sent], deadline_id: str) -> dict[str, dict[str, int | str | None]]:
    """Unit -> the figures that stand for the deadline: those of its latest report (a correction
    replaces the earlier one); a feature-activity mail is not the weekly report."""
    found: dict[str, dict[str, int | str | None]] = {unit: {} for unit in UNITS}
    reports = sorted(
        (s for s in sent if s.deadline_id == deadline_id and Kind.FEATURE not in s.kinds and s.figures),
        key=lambda s: s.received_at,
    )
    for report in reports:
        found[report.unit] = dict(report.figures)
    return found


def expected_state(sent: list[Sent], unit: str, deadline_id: str) -> tuple[str, datetime | None]:
    """按时/逾期/未报 and the receipt time of the unit's first report for the deadline."""
    times = [s.received_at for s in sent if s.unit == unit and s.deadline_id == deadline_id
             and Kind.FEATURE not in s.kinds]
    if not times:
        return "未报", None
    first = min(times)
    return ("按时" if first <= at(DUE[deadline_id]) else "逾期"), first


def sum_of(values: list[int | str | None]) -> int | None:
    numbers = [v for v in values if isinstance(v, int)]
    return sum(numbers) if numbers else None


def status_of(campaign: Campaign, sent: list[Sent], now: datetime, unsorted: int = 0) -> Status:
    """The status `load_status` would read from a store holding `sent` (for the pure tests)."""
    records = [
        SubmissionRecord(n, s.unit, s.deadline_id, s.received_at, s.kinds,
                         (f"archive/{s.unit}/{s.deadline_id}/材料{n}.docx",), True, s.figures, s.warnings,
                         s.activities)
        for n, s in enumerate(sent, start=1)
    ]
    outcomes = {Outcome.FILED: len(sent), Outcome.UNSORTED: unsorted}
    return Status(now, standings(campaign, records, now), outcomes, Liveness(None, None, None))
