"""The leadership digest: after each deadline, one mail leaders can read on a phone.

Pure parts: `digest_due` decides which digest the scheduler owes now; `digest_content` renders
what it says (subject, text, HTML) from the status; `build_digest` makes the mail to one leader
with the 汇总表 attached. `queue_digest` is the handler that puts it in the outbox once per
deadline and leader (key `digest:<deadline>`), whatever the number of runs.

What a digest covers depends on its deadline: a weekly one (it expects weekly reports) has who
reported, the week's figures against the week before and the campaign totals; the campaign's
last deadline gives the final digest over the whole campaign; any other deadline (联络员表及活动
方案) has who reported.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import PurePath
from typing import Any

from notify.figures import (
    FormLabels,
    Tally,
    Value,
    deadline_status,
    headlines,
    joined,
    published,
    short_name,
    short_when,
    web_link,
)
from notify.mail import AutoSubmitted, Letterhead, compose
from notify.templates import Rendered, Templates
from store.model import Campaign, Deadline, Outcome, State
from store.oplog import OperatorLog
from store.outbox import MailKind, Outbox, digest_key
from store.status import DeadlineStatus, Status

XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
# A phone screen shows this many 附件3 rows; the rest are in the workbook's 附件3 sheet.
MEDIA_SHOWN = 20
_UNSAFE_IN_NAME = re.compile(r'[\\/:*?"<>|\s]+')


def digest_time(deadline: Deadline, digest_after: timedelta) -> datetime:
    return deadline.due + digest_after


def digest_due(
    campaign: Campaign, now: datetime, digest_after: timedelta, already_sent: Set[str]
) -> Deadline | None:
    """The deadline whose digest is owed at `now`, or None.

    The latest deadline whose digest time has come, unless its digest was queued before
    (`already_sent`: the digest keys in the outbox, whatever became of them). A digest missed
    while the program was down goes out late, once; one superseded by a later deadline's
    digest does not go out at all: leaders get the current picture, not a burst of old ones.
    """
    come = [d for d in campaign.deadlines if digest_time(d, digest_after) <= now]
    if not come:
        return None
    latest = come[-1]
    return None if digest_key(latest.id) in already_sent else latest


def workbook_name(deadline: Deadline) -> str:
    """汇总表-第1周进展.xlsx: the attachment's name, safe on every mail client and disk."""
    return f"汇总表-{_UNSAFE_IN_NAME.sub('_', deadline.label)}.xlsx"


@dataclass(frozen=True)
class DigestFacts:
    """Everything a digest says besides the status: the figures, labels, and the mail set aside."""

    status: Status
    deadline: Deadline
    campaign: Campaign
    tally: Tally
    labels: FormLabels

    @property
    def final(self) -> bool:
        return self.deadline.id == self.campaign.deadlines[-1].id

    @property
    def entry(self) -> DeadlineStatus:
        return deadline_status(self.status, self.deadline.id)


def digest_content(facts: DigestFacts, templates: Templates, letterhead: Letterhead) -> Rendered:
    """Subject, plain text and HTML of the digest (the same for every leader)."""
    return templates.render("digest", **_variables(facts, letterhead))


def build_digest(
    content: Rendered, workbook: bytes, attachment_name: str, recipient: str, letterhead: Letterhead, now: datetime
) -> EmailMessage:
    """The digest to one leader, the 汇总表 attached."""
    message = compose(letterhead, recipient, content.subject, content.text, content.html, now, AutoSubmitted.GENERATED)
    message.add_attachment(workbook, *XLSX_TYPE, filename=attachment_name)
    return message


def queue_digest(
    outbox: Outbox,
    deadline: Deadline,
    content: Rendered,
    workbook: bytes,
    recipients: Sequence[str],
    letterhead: Letterhead,
    now: datetime,
    oplog: OperatorLog,
) -> int:
    """Queue the digest for each leader; return how many were queued (0 if they were before).

    No leaders configured: recorded as a failed digest (shown in `status`, logged once) so the
    scheduler does not try again every minute.
    """
    key = digest_key(deadline.id)
    if not recipients:
        if outbox.record_unsendable(key, MailKind.DIGEST, "没有收件人：请在 config.yaml 的 leadership 中填写领导邮箱"):
            oplog.warning(f"{deadline.label}汇总无法发送：config.yaml 的 leadership 中没有邮箱")
        return 0
    name = workbook_name(deadline)
    queued = sum(
        outbox.enqueue(key, MailKind.DIGEST, address, build_digest(content, workbook, name, address, letterhead, now))
        for address in recipients
    )
    if queued:
        oplog.info(f"{deadline.label}汇总已排队：{'、'.join(recipients)}，附《{name}》")
    return queued


# --- what the templates get -------------------------------------------------------------------


def _number(value: int | None) -> str:
    return "—" if value is None else str(value)


def _change(now: int | None, before: int | None) -> str:
    """The change as a leader reads it: +3, -2, 持平, or — when there is nothing to compare."""
    if now is None or before is None:
        return "—"
    delta = now - before
    return "持平" if delta == 0 else f"{delta:+d}"


def _variables(facts: DigestFacts, letterhead: Letterhead) -> dict[str, Any]:
    entry, tally, deadline = facts.entry, facts.tally, facts.deadline
    weekly = tally.counts(deadline.id)
    previous = tally.previous(deadline.id) if weekly else None
    with_figures = weekly or (facts.final and bool(tally.counted))
    week = tally.week(deadline.id) if weekly else {}
    before = tally.week(previous) if previous else {}
    campaign = tally.campaign(deadline.id) if with_figures else {}
    return {
        "campaign": letterhead.campaign,
        "deadline_label": deadline.label,
        "due": short_when(deadline.due, letterhead.zone),
        "now": short_when(facts.status.now, letterhead.zone),
        "final": facts.final,
        "weekly": weekly,
        "with_figures": with_figures,
        "previous_label": _label(facts, previous),
        "columns": _columns(weekly, previous is not None),
        "units_total": len(entry.units),
        "on_time": entry.count(State.ON_TIME),
        "late": entry.count(State.LATE),
        "missing": entry.count(State.MISSING),
        "late_units": [
            {"unit": u.unit, "received": short_when(u.received_at, letterhead.zone)}
            for u in entry.units
            if u.state is State.LATE and u.received_at is not None
        ],
        "missing_units": [u.unit for u in entry.units if u.state is State.MISSING],
        "headlines": [
            {
                "label": h.label,
                "measure": h.measure,
                "week": _number(h.of(week)),
                "change": _change(h.of(week), h.of(before)),
                "total": _number(h.of(campaign)),
            }
            for h in headlines(tally.blanks)
        ]
        if with_figures
        else [],
        "items": _items(facts, week, before, campaign) if with_figures else [],
        "names": _activity_names(facts) if weekly else [],
        "overview": _overview(facts) if facts.final else [],
        "features": [
            {
                "unit": f.unit,
                "received": short_when(f.received_at, letterhead.zone),
                "what": _feature_text(f.figures, f.files),
            }
            for f in entry.features
        ],
        "media": [
            {
                "unit": unit,
                "content": a.content or "",
                "media": a.media or "",
                "time": a.time or "",
                "link": web_link(a.link),
            }
            for unit, a in published(entry)[:MEDIA_SHOWN]
        ],
        "media_more": max(0, len(published(entry)) - MEDIA_SHOWN),
        "attention": _attention(facts),
        "workbook": workbook_name(deadline),
        "contact": letterhead.contact,
        "signature": letterhead.name,
    }


def _columns(weekly: bool, compared: bool) -> list[dict[str, str]]:
    """The figure columns: the week, its change, the campaign to date; the first week's total
    is the week itself, and the final digest has only the total."""
    columns = [{"label": "本周", "key": "week"}] if weekly else []
    if compared:
        columns.append({"label": "较上周", "key": "change"})
    if compared or not weekly:
        columns.append({"label": "累计", "key": "total"})
    return columns


def _label(facts: DigestFacts, deadline_id: str | None) -> str | None:
    return facts.campaign.deadline(deadline_id).label if deadline_id else None


def _items(
    facts: DigestFacts, week: dict[str, int | None], before: dict[str, int | None], campaign: dict[str, int | None]
) -> list[dict[str, Any]]:
    """Per item of 附件2, the rows somebody filled: the week, its change, the campaign to date."""
    items = []
    for number, label in facts.labels.items:
        rows: list[dict[str, Any]] = []
        shown_above = False
        for b in facts.labels.blanks_of(number):
            shown = not b.text and (week.get(b.key) is not None or campaign.get(b.key) is not None)
            if shown:
                rows.append({
                    "label": b.label,
                    "measure": b.measure,
                    # Indented under the row it continues ("参与" under "宣讲活动"), if that is shown.
                    "follows": b.follows and shown_above,
                    "week": _number(week.get(b.key)),
                    "change": _change(week.get(b.key), before.get(b.key)),
                    "total": _number(campaign.get(b.key)),
                })
            shown_above = shown
        if rows:
            items.append({"number": number, "label": label, "rows": rows})
    return items


def _activity_names(facts: DigestFacts) -> list[dict[str, str]]:
    """The week's 其他特色活动 (the form's text blanks) by name, with the units that held it."""
    held: dict[str, list[str]] = {}
    for unit, figures in facts.tally.filed(facts.deadline.id).items():
        for blank in facts.labels.blanks:
            value = figures.get(blank.key)
            if blank.text and isinstance(value, str) and value.strip():
                held.setdefault(value.strip(), []).append(short_name(facts.campaign.unit(unit)))
    return [{"name": name, "units": "、".join(units)} for name, units in held.items()]


def _overview(facts: DigestFacts) -> list[dict[str, Any]]:
    """The final digest: how each deadline of the campaign went."""
    return [
        {
            "label": d.deadline.label,
            "on_time": d.count(State.ON_TIME),
            "late": d.count(State.LATE),
            "missing": d.count(State.MISSING),
            "missing_units": [u.unit for u in d.units if u.state is State.MISSING],
        }
        for d in facts.status.deadlines
        if d.deadline.due <= facts.deadline.due
    ]


def _feature_text(figures: Mapping[str, Value], files: Sequence[str]) -> str:
    name = joined([v for v in figures.values() if isinstance(v, str)])
    if name:
        return name
    names = [PurePath(f).name for f in files]
    return "、".join(names[:3]) + (f" 等 {len(names)} 个文件" if len(names) > 3 else "") if names else "特色活动材料"


def _attention(facts: DigestFacts) -> list[str]:
    """What a leader should know beyond the counts: gaps in the totals and repeated silence."""
    entry, tally = facts.entry, facts.tally
    found = []
    if tally.counts(facts.deadline.id):
        for standing in entry.units:
            if standing.state in (State.ON_TIME, State.LATE) and not any(
                v is not None for v in standing.figures.values()
            ):
                found.append(f"{standing.unit}已报送，但未能读取其附件2统计表的数据，本期合计未含该单位")
    for unit, times in _repeatedly_missing(facts):
        found.append(f"{unit}已连续 {times} 期未报送")
    unsorted = facts.status.outcomes.get(Outcome.UNSORTED, 0)
    if unsorted:
        found.append(f"另有 {unsorted} 封疑似报送邮件无法确定单位或报送节点，正在人工核对，相关单位的情况可能尚未计入")
    notes = sum(len(u.warnings) for u in entry.units)
    if notes:
        found.append(f"各单位材料中另有 {notes} 条需核实的事项（如统计表空项），详见附件《提示事项》表")
    return found


def _repeatedly_missing(facts: DigestFacts) -> list[tuple[str, int]]:
    """Units missing this deadline and the ones before it in a row (two or more)."""
    passed = [d for d in facts.status.deadlines if d.passed and d.deadline.due <= facts.deadline.due]
    found = []
    for index, unit in enumerate(u.unit for u in facts.entry.units):
        times = 0
        for d in reversed(passed):
            if d.units[index].state is not State.MISSING:
                break
            times += 1
        if times >= 2:
            found.append((unit, times))
    return found
