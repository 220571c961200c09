"""Decisions about a message: could it be a report, from which unit, of what kind, for which
deadline. Each function only decides and returns its answer with a reason a clerk can read;
acting on the answer is the caller's business.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from parsers.numerals import read_blank
from store.model import Campaign, Deadline, Kind, State, Unit

CAMPAIGN_WORDS = (
    "安全生产月",
    "安全月",
    "报送",
    "统计表",
    "联络员",
    "活动方案",
    "进展",
    "周报",
    "总结",
    "特色活动",
    "附件1",
    "附件2",
    "附件3",
)
OFFICE_EXTENSIONS = frozenset(
    {"doc", "docx", "xls", "xlsx", "wps", "et", "pdf", "zip", "rar", "7z", "ofd"}
)

# Order matters only for the reason text; every matching kind is kept.
_KIND_WORDS: tuple[tuple[Kind, tuple[str, ...]], ...] = (
    (Kind.LIAISON, ("联络员", "附件1")),
    (Kind.PLAN, ("方案",)),
    (Kind.WEEKLY, ("统计表", "进展", "周报", "附件2", "附件3", "一周", "每周")),
    (Kind.FEATURE, ("特色",)),
    (Kind.SUMMARY, ("总结",)),
)
_WEEK_PATTERN = re.compile(r"第\s*([一二三四五六七八九十两\d]+)\s*周")


@dataclass(frozen=True)
class UnitMatch:
    unit: str | None
    verified: bool  # True only when the sender address is registered for the unit
    reason: str


@dataclass(frozen=True)
class KindGuess:
    kinds: tuple[Kind, ...]
    reason: str


@dataclass(frozen=True)
class DeadlineMatch:
    deadline: Deadline | None
    state: State | None  # ON_TIME or LATE when a deadline was found
    reason: str


def _extension(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def units_named_in(text: str, units: Sequence[Unit]) -> list[str]:
    """Units whose name or alias occurs in `text`, in order of appearance.

    Longer names claim their characters first, so 新绛县 is not also read as 绛县.
    """
    by_length = sorted(
        ((name, unit.name) for unit in units for name in unit.names),
        key=lambda pair: len(pair[0]),
        reverse=True,
    )
    claimed = [False] * len(text)
    found: list[tuple[int, str]] = []
    for name, unit in by_length:
        start = text.find(name)
        while start != -1:
            end = start + len(name)
            if not any(claimed[start:end]):
                claimed[start:end] = [True] * len(name)
                found.append((start, unit))
            start = text.find(name, end)
    ordered: list[str] = []
    for _, unit in sorted(found):
        if unit not in ordered:
            ordered.append(unit)
    return ordered


def identify_unit(
    sender: str,
    subject: str,
    file_names: Sequence[str],
    units: Sequence[Unit],
    known_senders: Mapping[str, str],
    form_units: Sequence[str] = (),
) -> UnitMatch:
    """Registered sender first; then the 填报单位 written in a form; then a unit named in the
    subject, then in the file names. Only the first is verified."""
    address = sender.strip().lower()
    if address and address in known_senders:
        unit = known_senders[address]
        return UnitMatch(unit, True, f"发件地址 {address} 已登记为{unit}")
    sources = (("表格填报单位", " ".join(form_units)), ("主题", subject), ("附件名", " ".join(file_names)))
    for where, text in sources:
        named = units_named_in(text, units)
        if len(named) == 1:
            return UnitMatch(named[0], False, f"{where}中提到{named[0]}（发件地址未登记，待核实）")
        if len(named) > 1:
            return UnitMatch(None, False, f"{where}中同时提到{'、'.join(named)}，无法判断报送单位")
    return UnitMatch(None, False, f"发件地址 {address or '（空）'} 未登记，主题和附件名中也没有单位名称")


def guess_kinds(subject: str, file_names: Sequence[str]) -> KindGuess:
    """What the mail carries, from keywords in the subject and the file names."""
    text = " ".join([subject, *file_names])
    kinds: list[Kind] = []
    hits: list[str] = []
    for kind, words in _KIND_WORDS:
        word = next((w for w in words if w in text), None)
        if word is None and kind is Kind.WEEKLY:
            week = _WEEK_PATTERN.search(text)
            word = week.group(0) if week else None
        if word is not None:
            kinds.append(kind)
            hits.append(f"“{word}”→{kind.label}")
    if not kinds:
        return KindGuess((), "主题和附件名中没有可判断类别的关键词")
    return KindGuess(tuple(kinds), "、".join(hits))


def mentioned_deadline(subject: str, file_names: Sequence[str], campaign: Campaign) -> Deadline | None:
    """The deadline a sender names: “第N周” is the N-th deadline that expects weekly reports."""
    found = _WEEK_PATTERN.search(" ".join([subject, *file_names]))
    week = read_blank(found.group(1)).value if found else None
    weekly = [d for d in campaign.deadlines if Kind.WEEKLY in d.expects]
    if week is None or not 1 <= week <= len(weekly):
        return None
    return weekly[week - 1]


def assign_deadline(
    received_at: datetime,
    kinds: Sequence[Kind],
    campaign: Campaign,
    on_file: Iterable[str],
    mentioned: Deadline | None = None,
) -> DeadlineMatch:
    """Which deadline a submission answers, judged by the server's receipt time.

    A deadline the sender names (`mentioned`) wins. Otherwise, among the deadlines that expect
    one of `kinds`: the most recent passed one is owed if the
    unit has nothing on file for it (`on_file`: deadline ids already answered), and the mail is
    late for it; otherwise the next one still open is answered on time; after the last one, a
    mail corrects the last. A kind no deadline expects (a feature activity) goes with the next
    open deadline and is never taken as a late answer to one it does not belong to.
    """
    when = campaign.local(received_at).strftime("%m-%d %H:%M")
    if mentioned is not None:
        state = State.ON_TIME if received_at <= mentioned.due else State.LATE
        return DeadlineMatch(mentioned, state, f"{when} 收到，写明是{mentioned.label}，记为{state.label}")
    expected = [d for d in campaign.deadlines if set(kinds) & set(d.expects)]
    candidates = expected or list(campaign.deadlines)
    may_owe = bool(expected) or not kinds
    answered = set(on_file)
    passed = [d for d in candidates if d.due < received_at]
    upcoming = [d for d in candidates if d.due >= received_at]
    if may_owe and passed and passed[-1].id not in answered:
        owed = passed[-1]
        return DeadlineMatch(
            owed, State.LATE, f"{when} 收到，已过{owed.label}截止时间且此前未报，记为逾期"
        )
    if upcoming:
        due = upcoming[0]
        return DeadlineMatch(due, State.ON_TIME, f"{when} 收到，在{due.label}截止时间之前")
    last = passed[-1]
    return DeadlineMatch(last, State.LATE, f"{when} 收到，晚于全部截止时间，记为{last.label}的补报")


@dataclass(frozen=True)
class ReportLikelihood:
    possible: bool
    reason: str


def could_be_report(
    sender: str,
    subject: str,
    file_names: Sequence[str],
    units: Sequence[Unit],
    known_senders: Mapping[str, str],
) -> ReportLikelihood:
    """Whether a message is worth downloading, from its headers and attachment names alone.

    The mailbox is the bureau's everyday mailbox: only a known sender, a unit's name, a
    campaign word or an office/archive attachment make a message possibly a report.
    """
    address = sender.strip().lower()
    if address in known_senders:
        return ReportLikelihood(True, f"发件人已登记（{known_senders[address]}）")
    text = " ".join([subject, *file_names])
    named = units_named_in(text, units)
    if named:
        return ReportLikelihood(True, f"提到{named[0]}")
    word = next((w for w in CAMPAIGN_WORDS if w in text), None)
    if word:
        return ReportLikelihood(True, f"含有“{word}”")
    office = next((n for n in file_names if _extension(n) in OFFICE_EXTENSIONS), None)
    if office:
        return ReportLikelihood(True, f"带有文档附件 {office}")
    return ReportLikelihood(False, "发件人未登记，主题和附件名中没有单位名称、活动关键词或文档附件")
