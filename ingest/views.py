"""How status looks: the JSON of INTERFACE.md, and a table a clerk reads at a terminal."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Any

from store.model import Outcome, State
from store.outbox import MailState, OutboxSummary
from store.status import DeadlineStatus, Status


def outbox_json(summary: OutboxSummary) -> dict[str, Any]:
    return {
        **{state.value: summary.counts.get(state, 0) for state in MailState},
        "problems": [
            {"key": p.key, "recipient": p.recipient, "subject": p.subject, "state": p.state.value,
             "error": p.last_error}
            for p in summary.problems
        ],
    }


def outbox_lines(summary: OutboxSummary) -> list[str]:
    """Counts by state, then each kind of problem once with how many mails it touched."""
    counts = " · ".join(f"{s.label} {summary.counts.get(s, 0)} 封" for s in MailState)
    lines = [f"发件：{counts}"]
    by_error: dict[str, list[str]] = {}
    for problem in summary.problems:
        # A reminder with no address has no recipient: name its unit, from the key.
        who = problem.recipient or problem.key.split(":")[1 if ":" in problem.key else 0]
        by_error.setdefault(problem.last_error or "原因不明", []).append(who)
    for error, whom in by_error.items():
        names = "、".join(dict.fromkeys(whom))
        lines.append(f"  {len(whom)} 封未能发出（{error}）：{names}")
    return lines


def status_json(status: Status, zone: tzinfo) -> dict[str, Any]:
    def stamp(moment: datetime | None) -> str | None:
        return moment.astimezone(zone).isoformat() if moment else None

    return {
        "now": stamp(status.now),
        "deadlines": [
            {
                "id": d.deadline.id,
                "label": d.deadline.label,
                "due": stamp(d.deadline.due),
                "passed": d.passed,
                "units": [
                    {
                        "unit": u.unit,
                        "state": u.state.value,
                        "received_at": stamp(u.received_at),
                        "submissions": u.submissions,
                        "kinds": [k.value for k in u.kinds],
                        "figures": u.figures,
                        "files": [f"{p}" for p in u.files],
                        "warnings": list(u.warnings),
                    }
                    for u in d.units
                ],
            }
            for d in status.deadlines
        ],
        "unsorted": status.outcomes.get(Outcome.UNSORTED, 0),
        "quarantined": status.outcomes.get(Outcome.QUARANTINED, 0),
        "pending": status.outcomes.get(Outcome.PENDING, 0),
        "not_reports": status.outcomes.get(Outcome.NOT_REPORT, 0),
        "duplicates": status.outcomes.get(Outcome.DUPLICATE, 0),
        "last_poll": stamp(status.liveness.last_success),
        "last_error": (
            {"at": stamp(status.liveness.last_failure), "error": status.liveness.last_error}
            if status.liveness.last_error
            else None
        ),
    }


def _width(text: str) -> int:
    """Columns a string takes at a terminal: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


def _cell(standing_state: State, received: datetime | None, zone: tzinfo) -> str:
    if standing_state in (State.ON_TIME, State.LATE) and received is not None:
        return f"{standing_state.label} {received.astimezone(zone):%m-%d %H:%M}"
    return standing_state.label


def status_table(status: Status, zone: tzinfo, only: DeadlineStatus | None = None) -> str:
    """Units down, deadlines across; each cell 按时/逾期 with the time, 未报 or 未到期."""
    columns = [only] if only else list(status.deadlines)
    header = ["单位", *[c.deadline.label for c in columns]]
    rows = [header]
    units = [u.unit for u in columns[0].units] if columns else []
    for i, unit in enumerate(units):
        rows.append(
            [unit, *[_cell(c.units[i].state, c.units[i].received_at, zone) for c in columns]]
        )
    tally = ["合计"]
    for c in columns:
        tally.append(
            f"按时{c.count(State.ON_TIME)} 逾期{c.count(State.LATE)} 未报{c.count(State.MISSING)}"
            if c.passed
            else f"已报{c.count(State.ON_TIME) + c.count(State.LATE)}/{len(c.units)}"
        )
    rows.append(tally)
    widths = [max(_width(r[i]) for r in rows) for i in range(len(header))]
    rule = "  ".join("-" * w for w in widths)
    lines = [f"{status.now.astimezone(zone):%Y-%m-%d %H:%M} 报送情况"]
    for n, row in enumerate(rows):
        if n in (1, len(rows) - 1):
            lines.append(rule)
        lines.append("  ".join(_pad(cell, w) for cell, w in zip(row, widths, strict=True)).rstrip())
    o = status.outcomes
    lines.append("")
    lines.append(
        f"待分拣 {o.get(Outcome.UNSORTED, 0)} 封 · 已隔离 {o.get(Outcome.QUARANTINED, 0)} 封 · "
        f"待处理 {o.get(Outcome.PENDING, 0)} 封 · 非报送 {o.get(Outcome.NOT_REPORT, 0)} 封 · "
        f"重复 {o.get(Outcome.DUPLICATE, 0)} 封"
    )
    live = status.liveness
    last = f"{live.last_success.astimezone(zone):%Y-%m-%d %H:%M}" if live.last_success else "从未成功"
    lines.append(f"上次成功收取：{last}")
    if live.last_error and (live.last_success is None or (
        live.last_failure is not None and live.last_failure > live.last_success
    )):
        lines.append(f"最近一次收取失败：{live.last_error}")
    return "\n".join(lines)


def message_list(rows: Sequence[Any], zone: tzinfo) -> str:
    """One line per recorded message: number, receipt time, sender, subject, reason."""
    if not rows:
        return "（没有）"
    lines = []
    for row in rows:
        when = datetime.fromisoformat(row.received_at).astimezone(zone)
        lines.append(
            f"#{row.id:<5} {when:%m-%d %H:%M}  {row.sender or '（无发件人）'}  "
            f"「{row.subject or '（无主题）'}」  {row.reason}"
        )
    return "\n".join(lines)
