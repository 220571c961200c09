"""附件2 figures as the bureau adds them up, for the 汇总表 and the leadership digest.

Labels come from the form definitions (parsers/forms), never from a second list here. A blank
stays blank: a figure that nobody filled has no total (None), never 0, and a total counts only
the units that filled it.

Which deadlines count: those that expect weekly reports. Whether a unit's figure is the week's
own or the campaign to date is the config's `notify.figures` (per key `notify.figure_modes`):
- weekly: a unit's campaign total is the sum of its weekly figures;
- cumulative: it is the latest figure the unit filled, and the week's own is the growth since
  the week before.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from parsers.forms import FormDefinition, Item, definition_for
from store.config import FigureMode
from store.db import Activity
from store.model import Kind, Unit
from store.status import DeadlineStatus, Status

Value = int | str | None
UnitFigures = Mapping[str, Mapping[str, Value]]  # unit -> figure key -> value

STATISTICS_FORM = "statistics"  # 附件2's id in the form definitions
MEDIA_FORM = "media"  # 附件3's

# Punctuation around the words before a blank: "，参与" is the label "参与".
_EDGES = "，,；;。、：:（）() \u3000"
# Measure words that make a headline: activities held (场, 场/次) and participation (人次).
_HELD = "场"
_PARTICIPATION = "人次"


@dataclass(frozen=True)
class Blank:
    """One blank of 附件2 as a row of the 汇总表."""

    key: str  # "1.2"
    item: int
    item_label: str  # "开展习近平总书记关于安全生产重要论述宣贯活动"
    label: str  # the printed words before the blank: "组织开展宣讲活动", "参与"
    measure: str  # the printed word after it: "场", "人次"; "" for the text blank
    text: bool
    follows: bool  # continues the printed clause of the row above ("参与" after "宣讲活动（ ）场")


@dataclass(frozen=True)
class FormLabels:
    """What the 汇总表 and the digest print, taken from the 附件2 and 附件3 definitions."""

    title: str  # “安全生产月”活动进展情况统计表
    items: tuple[tuple[int, str], ...]  # (number, label) of each 附件2 item
    blanks: tuple[Blank, ...]
    media_columns: tuple[tuple[str, str], ...]  # (Activity attribute, printed name); 序号 left out

    def labelled(self, figures: Mapping[str, Value]) -> dict[str, Value]:
        """Figures under the words the county sees on its own form: "1.1 组织开展宣讲活动（场）"."""
        return {
            f"{b.key} {b.label}" + (f"（{b.measure}）" if b.measure else ""): figures.get(b.key)
            for b in self.blanks
            if b.key in figures
        }

    @classmethod
    def from_definitions(cls, definitions: Sequence[FormDefinition]) -> FormLabels:
        statistics = definition_for(definitions, STATISTICS_FORM)
        media = definition_for(definitions, MEDIA_FORM)
        return cls(
            title=statistics.title,
            items=tuple((item.number, item.label) for item in statistics.items),
            blanks=tuple(blank for item in statistics.items for blank in _blanks(item)),
            media_columns=tuple((f.key, f.name) for f in media.fields if f.key != "number"),
        )

    def blanks_of(self, item: int) -> tuple[Blank, ...]:
        return tuple(b for b in self.blanks if b.item == item)


def _blanks(item: Item) -> list[Blank]:
    found: list[Blank] = []
    for clause in item.clauses:
        previous_measure = ""
        for index, spec in enumerate(clause.blanks):
            before = clause.pieces[index]
            if index and previous_measure and before.startswith(previous_measure):
                before = before[len(previous_measure) :]
            # "网络直播（ ）场、（ ）人观看": the second blank has no words of its own.
            label = before.strip(_EDGES) or (found[-1].label if found else spec.unit)
            found.append(Blank(spec.key, item.number, item.label, label, spec.unit, spec.text, index > 0))
            previous_measure = spec.unit
    return found


def total(values: Iterable[Value]) -> int | None:
    """The sum of the numbers filled; None when none was filled (blank, not 0)."""
    numbers = [v for v in values if isinstance(v, int)]
    return sum(numbers) if numbers else None


def joined(values: Iterable[Value]) -> str | None:
    """Text blanks (活动名称) side by side, each once, in order; None when none was filled."""
    seen: list[str] = []
    for value in values:
        if isinstance(value, str) and value.strip() and value.strip() not in seen:
            seen.append(value.strip())
    return "；".join(seen) or None


def difference(now: int | None, before: int | None) -> int | None:
    """now − before, where a blank `before` counts as nothing yet; None without `now`."""
    if now is None:
        return None
    return now - (before or 0)


class Tally:
    """Every unit's figures per deadline as filed, and the campaign to date, as the config says."""

    def __init__(self, status: Status, blanks: Sequence[Blank], mode_of: Callable[[str], FigureMode]) -> None:
        self.blanks = tuple(blanks)
        self.mode_of = mode_of
        self._order = [d.deadline.id for d in status.deadlines]
        self._filed: dict[str, dict[str, Mapping[str, Value]]] = {
            d.deadline.id: {u.unit: u.figures for u in d.units} for d in status.deadlines
        }
        self.units = tuple(u.unit for u in status.deadlines[0].units) if status.deadlines else ()
        self.counted = tuple(d.deadline.id for d in status.deadlines if Kind.WEEKLY in d.deadline.expects)

    def counts(self, deadline_id: str) -> bool:
        """Whether the deadline's figures go into the campaign totals (it expects weekly reports)."""
        return deadline_id in self.counted

    def filed(self, deadline_id: str) -> UnitFigures:
        """Each unit's figures for the deadline exactly as filed (as `status --json` has them)."""
        return self._filed[deadline_id]

    def previous(self, deadline_id: str) -> str | None:
        """The counted deadline before this one, for "change against the previous week"."""
        earlier = [d for d in self.counted if self._order.index(d) < self._order.index(deadline_id)]
        return earlier[-1] if earlier else None

    def to_date(self, through: str) -> UnitFigures:
        """Each unit's campaign-to-date figures over the counted deadlines up to `through`."""
        upto = [d for d in self.counted if self._order.index(d) <= self._order.index(through)]
        result: dict[str, dict[str, Value]] = {}
        for unit in self.units:
            series = [self._filed[d][unit] for d in upto]
            result[unit] = {b.key: self._accumulate(b, [f.get(b.key) for f in series]) for b in self.blanks}
        return result

    def _accumulate(self, blank: Blank, values: list[Value]) -> Value:
        if blank.text:
            return joined(values)
        if self.mode_of(blank.key) == "weekly":
            return total(values)
        filled = [v for v in values if isinstance(v, int)]
        return filled[-1] if filled else None

    def week(self, deadline_id: str) -> dict[str, int | None]:
        """The week's own total of each numeric figure over all units."""
        filed = self.filed(deadline_id)
        now = self.to_date(deadline_id)
        before_id = self.previous(deadline_id)
        before = self.to_date(before_id) if before_id else None
        result: dict[str, int | None] = {}
        for blank in self.blanks:
            if blank.text:
                continue
            if self.mode_of(blank.key) == "weekly":
                result[blank.key] = total(f.get(blank.key) for f in filed.values())
            else:
                earlier = total(f.get(blank.key) for f in before.values()) if before else None
                result[blank.key] = difference(total(f.get(blank.key) for f in now.values()), earlier)
        return result

    def campaign(self, through: str) -> dict[str, int | None]:
        """The campaign-to-date total of each numeric figure over all units."""
        to_date = self.to_date(through)
        return {b.key: total(f.get(b.key) for f in to_date.values()) for b in self.blanks if not b.text}


@dataclass(frozen=True)
class Headline:
    """One of the two numbers a leader reads first: activities held, and participation."""

    label: str
    measure: str
    keys: tuple[str, ...]

    def of(self, totals: Mapping[str, int | None]) -> int | None:
        return total(totals.get(k) for k in self.keys)


def headlines(blanks: Sequence[Blank]) -> tuple[Headline, Headline]:
    """活动 (every blank counted in 场 or 场/次) and 参与 (every blank counted in 人次)."""
    held = tuple(b.key for b in blanks if b.measure.startswith(_HELD))
    taking_part = tuple(b.key for b in blanks if b.measure == _PARTICIPATION)
    return Headline("开展各类活动", "场次", held), Headline("参与", "人次", taking_part)


def web_link(link: str | None) -> str | None:
    """A 附件3 link as units write it, made clickable; None if it is not a web address."""
    text = (link or "").strip()
    if re.match(r"https?://\S+$", text, re.IGNORECASE):
        return text
    if re.match(r"www\.\S+$", text, re.IGNORECASE):
        return f"http://{text}"
    return None


def published(entry: DeadlineStatus) -> list[tuple[str, Activity]]:
    """The deadline's 附件3 rows, each once: a corrected report repeats the rows sent before."""
    return list(dict.fromkeys(entry.activities))


def short_name(unit: Unit) -> str:
    """Where space is short (a column heading): the unit's first alias (盐湖区, 运城开发区)."""
    return unit.aliases[0] if unit.aliases else unit.name


def short_when(moment: datetime, zone: tzinfo) -> str:
    """6月14日 13:05: a moment within the campaign, where the year goes without saying."""
    local = moment.astimezone(zone)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def deadline_status(status: Status, deadline_id: str) -> DeadlineStatus:
    return next(d for d in status.deadlines if d.deadline.id == deadline_id)
